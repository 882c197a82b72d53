"""Benchmark: residents answering one round through the portal's JSON API, 8, 64 and 256 at once.

Runs the whole local stack (portal included) on free ports in a temporary directory, imports
the members in bulk, opens a round, collects every personal link from the local SMTP server,
and then lets N concurrent residents each answer through
``POST /api/t/<council>/invitations/<token>/response`` until their share of links is used.
Each resident is one keep-alive HTTP connection (a small client, so the load generator costs
little of the machine's two cores). In the same run, against the same portal process, it
measures the baseline: ``GET /health/live`` at the same concurrency, the portal's HTTP ceiling.

Afterwards it checks that every accepted answer was counted exactly once: the round's
``responded`` equals the answers accepted, and so does the number of stored responses.

    python -m bench.answers [--answers 3000] [--json results.json]

Prints and writes ``answers_per_s``, ``p50_ms``, ``p95_ms``, ``p99_ms`` and ``errors`` for 64
concurrent residents at top level, each concurrency under ``by_concurrency``, the baseline
under ``baseline``, and CPU use per process (percent of one core) during the 64 run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.invitations import import_members
from contracts.recruitment import ListTenants, RegisterTenant, TenantList
from contracts.rounds import CreateRound, GetRound, Question, RoundView
from devstack.rounds import open_round
from devstack.stack import LocalStack, Ports
from infra.bus import publish
from infra.queries import ask

TENANT = "bench"
CONCURRENCY = (8, 64, 256)
QUESTIONS = (
    Question(
        key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No", "Don't know")
    ),
    Question(
        key="when",
        kind="multiple_choice",
        text="When?",
        options=("Morning", "Evening", "Night"),
        show_if={"question": "bus", "answers": ["Yes"]},
    ),
    Question(key="happy", kind="scale", text="How happy?", low_label="Not", high_label="Very"),
    Question(key="trips", kind="number", text="Trips a week?", minimum=0, maximum=50),
    Question(key="night", kind="yes_no", text="Night bus?"),
    Question(key="rank", kind="ranking", text="Most needed?", options=("Shelter", "Lights")),
    Question(key="stop", kind="map", text="Which stop?", options=("Unsafe", "Busy")),
    Question(key="why", kind="free_text", text="Why?"),
)
"""Every kind of question, one shown only for certain answers (skip logic)."""
TWO_QUESTIONS = (QUESTIONS[0], QUESTIONS[-1])
"""The round measured before the question kinds came (``--round two``): the same code, a
smaller round, to tell the cost of the round's size from the cost of the code."""
BODY = json.dumps(
    {
        "answers": {
            "bus": "Yes",
            "when": ["Evening", "Night"],
            "happy": 4,
            "trips": 6,
            "night": "yes",
            "rank": ["Lights", "Shelter"],
            "stop": [{"district": "D1", "category": "Unsafe", "comment": "Mörkt"}],
            "why": "Jag jobbar kväll.",
        }
    }
).encode()
TWO_BODY = json.dumps({"answers": {"bus": "Yes", "why": "Jag jobbar kväll."}}).encode()
ROUNDS = {"all": (QUESTIONS, BODY), "two": (TWO_QUESTIONS, TWO_BODY)}


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Connection:
    """One keep-alive HTTP/1.1 connection: what one resident's browser would hold open."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def load(
    host: str, port: int, concurrency: int, paths: list[str], method: str, body: bytes
) -> dict[str, Any]:
    """``concurrency`` clients take ``paths`` from a shared queue until none are left."""
    queue = list(reversed(paths))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def resident() -> None:
        nonlocal errors
        connection = Connection(host, port)
        try:
            while queue:
                path = queue.pop()
                t0 = time.perf_counter()
                try:
                    status, _ = await connection.request(method, path, body)
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    errors += 1
                    connection = Connection(host, port)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                if status != 200:
                    errors += 1
        finally:
            await connection.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(resident() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "requests": len(paths),
        "seconds": round(elapsed, 3),
        "per_s": round(len(paths) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "errors": errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{what} not reached in {timeout}s")


async def prepare(
    stack: LocalStack, members: int, questions: tuple[Question, ...] = QUESTIONS
) -> tuple[str, list[str], float]:
    """Import ``members`` in bulk, open a round to them; returns round id, tokens, import rate."""
    nc = await stack.login().connect()
    js = nc.jetstream()
    try:
        await publish(js, RegisterTenant(tenant=TENANT, display_name="Benchmark kommun"))

        async def registered() -> bool:
            reply = await ask(nc, ListTenants(tenant="region"), TenantList)
            return bool(reply and reply.tenants)

        await wait_for(registered, 30, "council registered")
        # Until rounds' panel holds every member too: a round opened earlier would miss some.
        import_rate = (await import_members(js, nc, TENANT, members))[
            "import_members_settled_per_s"
        ]
        round_id = str(uuid.uuid4())
        await publish(
            js,
            CreateRound(
                tenant=TENANT,
                round_id=round_id,
                title="Kvällsbussar",
                purpose="Underlag för trafikplanen.",
                questions=questions,
            ),
        )
        await open_round(js, nc, TENANT, round_id, by="bench")
    finally:
        await nc.close()

    async with httpx.AsyncClient(base_url=stack.devtools_url, timeout=30) as http:

        async def all_mailed() -> bool:
            count = (await http.get("/dev/mail/count")).json()["count"]
            return int(count) >= members

        await wait_for(all_mailed, 900, "every invitation mailed")
        pattern = re.compile(rf"/t/{TENANT}/a/([A-Za-z0-9_-]{{40,}})")
        ids: list[str] = []
        for offset in range(0, members, 1000):
            page = (await http.get("/dev/mail", params={"limit": 1000, "offset": offset})).json()
            ids.extend(item["id"] for item in page["items"])
        semaphore = asyncio.Semaphore(32)

        async def token(mail_id: str) -> str | None:
            async with semaphore:
                mail = (await http.get(f"/dev/mail/{mail_id}")).json()
            match = pattern.search(mail.get("text") or "")
            return match.group(1) if match else None

        tokens = [t for t in await asyncio.gather(*(token(i) for i in ids)) if t]
    return round_id, tokens, import_rate


async def measure(stack: LocalStack, answers: int, round_kind: str = "all") -> dict[str, Any]:
    warmup = 200
    members = answers * len(CONCURRENCY) + warmup
    questions, body = ROUNDS[round_kind]
    round_id, tokens, import_rate = await prepare(stack, members, questions)
    if len(tokens) < members:
        raise RuntimeError(f"found {len(tokens)} links for {members} members")
    port = stack.ports.portal
    answer_paths = [f"/api/t/{TENANT}/invitations/{t}/response" for t in tokens]
    pids = {s.name: s.proc.pid for s in stack.servers}
    results: dict[str, Any] = {"by_concurrency": {}, "baseline": {}}
    await load("127.0.0.1", port, 16, answer_paths[:warmup], "POST", body)  # warm up
    used = warmup
    for concurrency in CONCURRENCY:
        baseline = await load(
            "127.0.0.1", port, concurrency, ["/health/live"] * answers, "GET", b""
        )
        results["baseline"][str(concurrency)] = baseline
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        t0 = time.perf_counter()
        run = await load(
            "127.0.0.1", port, concurrency, answer_paths[used : used + answers], "POST", body
        )
        wall = time.perf_counter() - t0
        run["cpu_percent_of_core"] = {
            name: round((cpu_seconds(pid) - cpu_before[name]) / wall * 100, 1)
            for name, pid in pids.items()
        }
        used += answers
        run["answers_per_s"] = run.pop("per_s")
        results["by_concurrency"][str(concurrency)] = run
        print(
            f"{concurrency:>4} residents: {run['answers_per_s']:>7.1f} answers/s, "
            f"p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms, p99 {run['p99_ms']} ms, "
            f"errors {run['errors']}   (baseline GET /health/live: {baseline['per_s']}/s, "
            f"p99 {baseline['p99_ms']} ms)",
            flush=True,
        )
    accepted = sum(r["statuses"].get("200", 0) for r in results["by_concurrency"].values()) + warmup
    nc = await stack.login().connect()
    try:

        async def counted() -> bool:
            view = await ask(nc, GetRound(tenant=TENANT, round_id=round_id), RoundView)
            return view is not None and view.responded >= accepted

        await wait_for(counted, 60, "answers counted")
        view = await ask(nc, GetRound(tenant=TENANT, round_id=round_id), RoundView)
    finally:
        await nc.close()
    from infra.store import connect, database

    client = connect(stack.mongodb_url)
    try:
        stored = await database(client, "rounds").responses.count_documents({"round_id": round_id})
    finally:
        await client.close()
    assert view is not None
    top = results["by_concurrency"]["64"]
    results.update(
        {
            "answers_per_s": top["answers_per_s"],
            "p50_ms": top["p50_ms"],
            "p95_ms": top["p95_ms"],
            "p99_ms": top["p99_ms"],
            "errors": sum(r["errors"] for r in results["by_concurrency"].values()),
            "accepted": accepted,
            "counted_in_round": view.responded,
            "stored_responses": stored,
            "exactly_once": view.responded == accepted == stored,
            "members": members,
            "import_members_per_s": round(import_rate, 1),
        }
    )
    return results


async def run(answers: int, round_kind: str = "all") -> dict[str, Any]:
    # One client address sends every answer: lift the per-address limits for this run only.
    os.environ["PORTAL_RATE_LIMIT"] = "100000000"
    with tempfile.TemporaryDirectory(prefix="radslag-bench-") as tmp:
        stack = LocalStack(Path(tmp), Ports.free(), portal=True)
        stack.start()
        try:
            return {**await measure(stack, answers, round_kind), "round": round_kind}
        finally:
            stack.stop()
            for line in stack.bus_refusals():  # a permission the benchmark lacks
                print(f"the bus refused a client: {line}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=3000, help="answers per concurrency")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--round",
        choices=sorted(ROUNDS),
        default="all",
        help="all: a round of every kind of question (8); two: one choice and one free text",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.answers, args.round))
    print(
        f"\n64 residents: {results['answers_per_s']} answers/s, p50 {results['p50_ms']} ms, "
        f"p95 {results['p95_ms']} ms, p99 {results['p99_ms']} ms, errors {results['errors']}"
    )
    print(
        f"accepted {results['accepted']}, counted in the round {results['counted_in_round']}, "
        f"stored {results['stored_responses']}: exactly once = {results['exactly_once']}"
    )
    print(
        "CPU during the 64 run (% of one core):",
        results["by_concurrency"]["64"]["cpu_percent_of_core"],
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not results["exactly_once"] or results["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
