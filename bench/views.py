"""Benchmark: the metrics scrape and the live round view with 100 000 invitations stored.

Runs the local stack (without the portal) on free ports, writes N invitations of one open
round (and their responses, half answered) straight into rounds' database, and times
``GET /metrics`` of rounds and dispatch and the ``GetRound`` query that the staff's round page
asks on every load. The baseline, in the same run on the same data, is what the round view
and the scrape used to do: ``count_documents`` of the round's invitations and answered ones.

    python -m bench.views [--invitations 100000] [--json results.json]
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

from contracts.recruitment import RegisterTenant
from contracts.rounds import GetRound, RoundView
from devstack.stack import LocalStack, Ports
from infra.bus import publish
from infra.queries import ask
from infra.store import connect, database

TENANT = "bench"


async def timed(call: Any, repeat: int) -> dict[str, float]:
    """Median and worst time of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


async def measure(stack: LocalStack, invitations: int) -> dict[str, Any]:
    client = connect(stack.mongodb_url)
    db = database(client, "rounds")
    round_id = str(uuid.uuid4())
    answered = invitations // 2
    await db.rounds.insert_one(
        {
            "_id": round_id,
            "tenant": TENANT,
            "title": "Bench",
            "purpose": "Bench",
            "questions": [],
            "state": "open",
            "invited": invitations,
            "responded": answered,
            "created_at": time.time(),
        }
    )
    t0 = time.perf_counter()
    for start in range(0, invitations, 5000):
        await db.invitations.insert_many(
            [
                {
                    "_id": f"{round_id}:{n}",
                    "tenant": TENANT,
                    "round_id": round_id,
                    "member_id": str(n),
                    "state": "answered" if n < answered else "invited",
                    "age_band": "30-44",
                    "gender": "female",
                    "district": "D1",
                    "outbox_pending": 0,
                }
                for n in range(start, min(start + 5000, invitations))
            ]
        )
        responses = [
            {"_id": str(uuid.uuid4()), "tenant": TENANT, "round_id": round_id, "answers": {}}
            for n in range(start, min(start + 5000, answered))
        ]
        if responses:
            await db.responses.insert_many(responses)
    write_s = time.perf_counter() - t0
    nc = await stack.login().connect()
    js = nc.jetstream()
    await publish(js, RegisterTenant(tenant=TENANT, display_name="Benchmark kommun"))
    http = httpx.AsyncClient(timeout=60)
    try:

        async def view() -> None:
            reply = await ask(nc, GetRound(tenant=TENANT, round_id=round_id), RoundView, timeout=60)
            assert reply is not None
            assert (reply.invited, reply.responded) == (invitations, answered)

        async def scrape_rounds() -> None:
            response = await http.get(f"{stack.service_url('rounds')}/metrics")
            assert response.status_code == 200

        async def scrape_dispatch() -> None:
            response = await http.get(f"{stack.service_url('dispatch')}/metrics")
            assert response.status_code == 200

        async def old_view() -> None:
            await db.invitations.count_documents({"round_id": round_id})
            await db.invitations.count_documents({"round_id": round_id, "state": "answered"})

        async def old_scrape() -> None:
            await db.responses.count_documents({})

        await view()  # warm the caches
        results = {
            "invitations": invitations,
            "round_view": await timed(view, 20),
            "scrape_rounds": await timed(scrape_rounds, 20),
            "scrape_dispatch": await timed(scrape_dispatch, 20),
            "baseline_count_view": await timed(old_view, 3),
            "baseline_count_scrape": await timed(old_scrape, 3),
            "seed_write_s": round(write_s, 1),
        }
    finally:
        await http.aclose()
        await nc.close()
        await client.close()
    return results


async def run(invitations: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radslag-bench-") as tmp:
        stack = LocalStack(Path(tmp), Ports.free(), portal=False)
        stack.start()
        try:
            return await measure(stack, invitations)
        finally:
            stack.stop()
            for line in stack.bus_refusals():  # a permission the benchmark lacks
                print(f"the bus refused a client: {line}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--invitations", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args.invitations))
    for name in ("round_view", "scrape_rounds", "scrape_dispatch"):
        print(
            f"{name:16s} p50 {results[name]['p50_ms']:8.1f} ms   max {results[name]['max_ms']} ms"
        )
    for name in ("baseline_count_view", "baseline_count_scrape"):
        print(f"{name:22s} p50 {results[name]['p50_ms']:8.1f} ms (what it cost before)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
