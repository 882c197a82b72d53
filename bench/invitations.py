"""Benchmark: open a round to N members and time it until every invitation reached SMTP.

Runs the local stack (without the portal) on free ports in a temporary directory, imports N
members into one council, opens a round and polls the local SMTP server's mail count. In the
same run and on the same nats-server it measures a plain JetStream publish → pull → ack of
messages the size of an invitation command, as the baseline the pipeline is compared with.

    python -m bench.invitations [--members 10000] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import ConsumerConfig, StreamConfig

from contracts.dispatch import SendMessage
from contracts.recruitment import ImportMember, ListTenants, RegisterTenant, TenantList
from contracts.rounds import ApproveRound, CreateRound, GetRound, OpenRound, Question, RoundView
from devstack.stack import BACKEND, LocalStack, Ports
from infra.bus import publish
from infra.queries import ask

TENANT = "bench"


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_for(check: Any, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout}s")


async def jetstream_baseline(nats_url: str, count: int, size: int) -> dict[str, float]:
    """Plain JetStream: async publish ``count`` messages, then pull 100 at a time and ack."""
    nc = await nats.connect(nats_url)
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


async def run(members: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radslag-bench-") as tmp:
        stack = LocalStack(Path(tmp), Ports.free(), portal=False)
        stack.start()
        try:
            return await measure(stack, members)
        finally:
            stack.stop()


async def measure(stack: LocalStack, members: int) -> dict[str, Any]:
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    http = httpx.AsyncClient(base_url=stack.devtools_url, timeout=10)

    async def mail_count() -> int:
        return int((await http.get("/dev/mail/count")).json()["count"])

    await publish(js, RegisterTenant(tenant=TENANT, display_name="Benchmark kommun"))
    t_import = time.perf_counter()
    for n in range(members):
        await publish(
            js,
            ImportMember(
                tenant=TENANT,
                member_id=str(uuid.uuid4()),
                email=f"m{n}@bench.example",
                birth_year=1940 + n % 66,
                gender=("female", "male", "other")[n % 3],
                district=f"D{n % 7}",
                consent_version="bench",
                source="demo",
            ),
        )

    async def imported() -> bool:
        reply = await ask(nc, ListTenants(tenant="region"), TenantList)
        return bool(reply and reply.tenants and reply.tenants[0].members_active == members)

    await wait_for(imported, 600, "members imported")
    import_s = time.perf_counter() - t_import
    # rounds learns of members from MemberEnrolled; give its replica time to catch up.
    await asyncio.sleep(3)

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
    await publish(js, ApproveRound(tenant=TENANT, round_id=round_id, approved_by="bench"))

    async def approved() -> bool:
        view = await ask(nc, GetRound(tenant=TENANT, round_id=round_id), RoundView)
        return view is not None and view.state == "approved"

    await wait_for(approved, 30, "round approved", 0.05)
    before = await mail_count()
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    await publish(js, OpenRound(tenant=TENANT, round_id=round_id))

    async def all_sent() -> bool:
        sent = await mail_count() - before
        samples.append((time.perf_counter() - t0, sent))
        return sent >= members

    await wait_for(all_sent, 1800, "all invitations accepted by SMTP", 0.2)
    elapsed = time.perf_counter() - t0
    first_mail = next(t for t, n in samples if n > 0)
    # Rate per one-second window, to show whether the pipeline keeps a steady pace.
    windows = [b[1] - a[1] for a, b in zip(samples, samples[5:], strict=False) if b[0] - a[0] > 0]
    memory = {
        s.name: peak_rss_mib(s.proc.pid) for s in stack.servers if s.name in (*BACKEND, "devtools")
    }
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
    baseline = await jetstream_baseline(stack.nats_url, members, size)
    return {
        "members": members,
        "import_members_per_s": members / import_s,
        "invitations_per_s": members / elapsed,
        "seconds_open_to_last_mail": elapsed,
        "seconds_open_to_first_mail": first_mail,
        "median_mails_per_s_in_1s_windows": statistics.median(windows) if windows else 0.0,
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
    row("seconds open → first mail", result["seconds_open_to_first_mail"], "8.2f")
    row("seconds open → last mail", result["seconds_open_to_last_mail"], "8.2f")
    row("median mails/s (1 s windows)", result["median_mails_per_s_in_1s_windows"])
    row("member import (ImportMember), members/s", result["import_members_per_s"])
    print("  peak memory per process (MiB):")
    for name, mib in result["peak_rss_mib"].items():
        row(f"  {name}", mib, "8.1f")
    print(f"Baseline, same nats-server, {result['message_bytes']} B messages:")
    row("JetStream async publish, msg/s", base["publish_per_s"])
    row("JetStream pull 100 + ack, msg/s", base["consume_ack_per_s"])
    row("publish → consume → ack end to end, msg/s", base["end_to_end_per_s"])
    ratio = result["invitations_per_s"] / base["end_to_end_per_s"]
    row("invitations/s as % of the baseline", 100 * ratio, "8.1f")


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
