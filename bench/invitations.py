"""Benchmark: open a round to N members and time it until every invitation reached SMTP.

Runs the local stack (without the portal) on free ports in a temporary directory, imports N
members into one council, opens a round and polls the local SMTP server's mail count. In the
same run and on the same nats-server it measures a plain JetStream publish → pull → ack of
messages the size of an invitation command, as the baseline the pipeline is compared with.

    python -m bench.invitations [--members 10000] [--json results.json]

Figures (printed, and written by ``--json``): ``invitations_per_s`` (round opened → last mail
accepted by SMTP), ``baseline_e2e_per_s`` and ``ratio`` (the two compared), ``first_mail_s``
and ``last_mail_s`` (seconds after opening), ``peak_rss_mib`` and ``cpu_ms_per_invitation``
per process, and the member import rates (``import_members_per_s``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from nats.js.api import ConsumerConfig, StreamConfig

from contracts.dispatch import SendMessage
from contracts.recruitment import (
    MAX_IMPORT_ROWS,
    ImportMembers,
    ListTenants,
    MemberRow,
    RegisterTenant,
    TenantList,
)
from contracts.rounds import CreateRound, OpenRound, Question
from devstack.rounds import schedule_round
from devstack.stack import LocalStack, Ports
from infra.bus import publish
from infra.natsauth import BusLogin
from infra.queries import ask

TENANT = "bench"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def claim_batching(dispatch_url: str) -> float:
    """How many commands dispatch claimed per store round trip, from its metrics."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{dispatch_url}/metrics")).text
    values = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("radslag_send_claim_batches{")
    }
    return values.get("commands", 0.0) / max(values.get("batches", 0.0), 1.0)


async def wait_for(check: Any, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout}s")


async def jetstream_baseline(login: BusLogin, count: int, size: int) -> dict[str, float]:
    """Plain JetStream: async publish ``count`` messages, then pull 100 at a time and ack."""
    nc = await login.connect()
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BENCH_BASELINE", subjects=["bench.baseline"]))
    payload = b"x" * size
    t0 = time.perf_counter()
    acks = [await js.publish_async("bench.baseline", payload) for _ in range(count)]
    await asyncio.gather(*acks)
    published = time.perf_counter()
    sub = await js.pull_subscribe(
        "bench.baseline", durable="baseline", config=ConsumerConfig(max_ack_pending=-1)
    )
    done = 0
    while done < count:
        for msg in await sub.fetch(100, timeout=5):
            await msg.ack()
            done += 1
    consumed = time.perf_counter()
    await js.delete_stream("BENCH_BASELINE")
    await nc.close()
    return {
        "publish_per_s": count / (published - t0),
        "consume_ack_per_s": count / (consumed - published),
        "end_to_end_per_s": count / (consumed - t0),
    }


async def import_members(js: Any, nc: Any, tenant: str, members: int) -> dict[str, float]:
    """Import ``members`` members into ``tenant`` in ``ImportMembers`` batches, and time it.

    ``import_members_per_s``: until recruitment holds every member (its council counter);
    ``import_members_settled_per_s``: until rounds' panel and dispatch's contact book have
    them too (every event published and consumed), which is what a round needs.
    """
    t0 = time.perf_counter()
    import_id = str(uuid.uuid4())
    for batch, start in enumerate(range(0, members, MAX_IMPORT_ROWS), start=1):
        rows = tuple(
            MemberRow(
                member_id=str(uuid.uuid4()),
                email=f"m{n}@bench.example",
                birth_year=1940 + n % 66,
                gender=("female", "male", "other")[n % 3],
                district=f"D{n % 7}",
            )
            for n in range(start, min(start + MAX_IMPORT_ROWS, members))
        )
        await publish(
            js,
            ImportMembers(
                tenant=tenant,
                import_id=import_id,
                batch_no=batch,
                first_row=start + 1,
                consent_version="bench",
                source="demo",
                rows=rows,
            ),
        )

    async def imported() -> bool:
        reply = await ask(nc, ListTenants(tenant="region"), TenantList)
        views = [t for t in (reply.tenants if reply else ()) if t.tenant == tenant]
        return bool(views and views[0].members_active == members)

    await wait_for(imported, 1800, "members imported")
    recorded = time.perf_counter() - t0

    async def settled() -> bool:
        info = await js.stream_info("RECRUITMENT_EVT", subjects_filter=f"recruitment.{tenant}.>")
        published = info.state.subjects or {}
        if any(published.get(f"recruitment.{tenant}.evt.{e}", 0) < members for e in EVENTS):
            return False
        for consumer in ("rounds_member_enrolled", "dispatch_contact_recorded"):
            state = await js.consumer_info("RECRUITMENT_EVT", consumer)
            if state.num_pending or state.num_ack_pending:
                return False
        return True

    await wait_for(settled, 1800, "members in rounds and dispatch")
    done = time.perf_counter() - t0
    return {
        "import_members_per_s": members / recorded,
        "import_members_settled_per_s": members / done,
    }


EVENTS = ("member_enrolled", "contact_recorded")


async def run(members: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radslag-bench-") as tmp:
        stack = LocalStack(Path(tmp), Ports.free(), portal=False)
        stack.start()
        try:
            return await measure(stack, members)
        finally:
            stack.stop()
            for line in stack.bus_refusals():  # a permission the benchmark lacks
                print(f"the bus refused a client: {line}", file=sys.stderr)


async def measure(stack: LocalStack, members: int) -> dict[str, Any]:
    nc = await stack.login().connect()
    js = nc.jetstream()
    http = httpx.AsyncClient(base_url=stack.devtools_url, timeout=10)

    async def mail_count() -> int:
        return int((await http.get("/dev/mail/count")).json()["count"])

    await publish(js, RegisterTenant(tenant=TENANT, display_name="Benchmark kommun"))

    async def registered() -> bool:
        reply = await ask(nc, ListTenants(tenant="region"), TenantList)
        return bool(reply and any(t.tenant == TENANT for t in reply.tenants))

    await wait_for(registered, 30, "council registered", 0.05)
    imported = await import_members(js, nc, TENANT, members)

    round_id = str(uuid.uuid4())
    await publish(
        js,
        CreateRound(
            tenant=TENANT,
            round_id=round_id,
            title="Bench",
            purpose="Measure invitations.",
            questions=(Question(key="q", kind="single_choice", text="?", options=("a", "b")),),
        ),
    )
    # Submitted, approved and scheduled (to open in an hour): the opening below is timed.
    await schedule_round(js, nc, TENANT, round_id, by="bench")
    before = await mail_count()
    samples: list[tuple[float, int]] = []
    cpu_before = {s.name: cpu_seconds(s.proc.pid) for s in stack.servers}
    t0 = time.perf_counter()
    await publish(js, OpenRound(tenant=TENANT, round_id=round_id, opened_by="bench"))

    async def all_sent() -> bool:
        sent = await mail_count() - before
        samples.append((time.perf_counter() - t0, sent))
        return sent >= members

    await wait_for(all_sent, 1800, "all invitations accepted by SMTP", 0.2)
    elapsed = time.perf_counter() - t0
    batching = await claim_batching(stack.service_url("dispatch"))
    # Where the machine's time went while the round went out (two cores here, shared).
    cpu = {
        s.name: 1000 * (cpu_seconds(s.proc.pid) - cpu_before[s.name]) / members
        for s in stack.servers
    }
    first_mail = next(t for t, n in samples if n > 0)
    # Rate per one-second window, to show whether the pipeline keeps a steady pace.
    windows = [b[1] - a[1] for a, b in zip(samples, samples[5:], strict=False) if b[0] - a[0] > 0]
    memory = {s.name: peak_rss_mib(s.proc.pid) for s in stack.servers}
    size = len(
        SendMessage(
            tenant=TENANT,
            member_id=str(uuid.uuid4()),
            template="round_invitation",
            params={"link": "x" * 90, "title": "Bench", "purpose": "Measure invitations."},
        ).model_dump_json()
    )
    await http.aclose()
    await nc.close()
    baseline = await jetstream_baseline(stack.login(), members, size)
    return {
        "members": members,
        **imported,
        "invitations_per_s": members / elapsed,
        "baseline_e2e_per_s": baseline["end_to_end_per_s"],
        "ratio": members / elapsed / baseline["end_to_end_per_s"],
        "first_mail_s": first_mail,
        "last_mail_s": elapsed,
        "median_mails_per_s_in_1s_windows": statistics.median(windows) if windows else 0.0,
        "cpu_ms_per_invitation": cpu,
        "dispatch_commands_per_claim_batch": batching,
        "message_bytes": size,
        "peak_rss_mib": memory,
        "jetstream_baseline": baseline,
    }


def report(result: dict[str, Any]) -> None:
    """Print the figures as a small table."""
    base = result["jetstream_baseline"]

    def row(label: str, value: float, fmt: str = "8.0f") -> None:
        print(f"  {label:<44} {value:{fmt}}")

    print(f"\nRound to {result['members']} members (local stack, one machine)")
    row("invitations/s, open → last mail accepted", result["invitations_per_s"])
    row("seconds open → first mail", result["first_mail_s"], "8.2f")
    row("seconds open → last mail", result["last_mail_s"], "8.2f")
    row("median mails/s (1 s windows)", result["median_mails_per_s_in_1s_windows"])
    row("commands per claim batch in dispatch", result["dispatch_commands_per_claim_batch"])
    row("member import (ImportMembers), members/s", result["import_members_per_s"])
    row("  … until rounds and dispatch have them", result["import_members_settled_per_s"])
    print("  peak memory per process (MiB) / CPU ms per invitation while the round went out:")
    for name, mib in result["peak_rss_mib"].items():
        cpu = result["cpu_ms_per_invitation"].get(name, 0.0)
        print(f"    {name:<42} {mib:8.1f} {cpu:8.3f}")
    print(f"Baseline, same nats-server, {result['message_bytes']} B messages:")
    row("JetStream async publish, msg/s", base["publish_per_s"])
    row("JetStream pull 100 + ack, msg/s", base["consume_ack_per_s"])
    row("publish → consume → ack end to end, msg/s", result["baseline_e2e_per_s"])
    row("invitations/s as % of the baseline", 100 * result["ratio"], "8.1f")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.invitations", description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--compare", type=Path, help="a previous --json file to compare with")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.members))
    report(result)
    if args.compare:
        old = json.loads(args.compare.read_text())
        print(f"\nCompared with {args.compare}:")
        for key in ("invitations_per_s", "import_members_per_s"):
            change = 100 * (result[key] / old[key] - 1)
            print(f"  {key:<24} {old[key]:8.0f} → {result[key]:8.0f} ({change:+.1f} %)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
