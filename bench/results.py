"""Benchmark: a round's full results at 100 000 responses, against a plain scan of them.

Runs the local stack (without the portal) on free ports and stores N responses to a closed round
of 8 questions (7 single choice, 1 free text) straight into rounds' database, in batches of
the answer desk's size through the same code that keeps the counters as answers arrive
(``services.rounds.tallies``). Then it times, over the bus as staff's pages ask them:

- ``GetResults``: every question with its intervals and its breakdowns by age band, gender
  and district (and weights, when the council's population is known);
- ``ListAnswerTexts``: the first page of the free-text answers, and a search;

and, in the same run on the same data, the baseline: a plain scan of the round's responses from
the store (what any results computed from the responses must at least do). It prints and writes
``results_seconds`` (median), ``scan_seconds``, ``ratio`` (goal: ≤ 0.2) and the memory of the
rounds service.

    python -m bench.results [--responses 100000] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from contracts.bands import BAND_NAMES
from contracts.recruitment import RegisterTenant
from contracts.rounds import (
    AnswerTexts,
    GetResults,
    ListAnswerTexts,
    Question,
    RoundResults,
)
from devstack.stack import LocalStack, Ports
from infra.bus import publish
from infra.queries import ask
from infra.store import connect, database
from services.rounds import tallies
from services.rounds.answers import BATCH, response_id

TENANT = "bench"
DISTRICTS = tuple(f"Distrikt {n}" for n in range(1, 11))
OPTIONS = ("Mycket bra", "Ganska bra", "Varken eller", "Ganska dåligt", "Mycket dåligt")
QUESTIONS = (
    *(
        Question(key=f"q{n}", kind="single_choice", text=f"Fråga {n}?", options=OPTIONS)
        for n in range(1, 8)
    ),
    Question(key="why", kind="free_text", text="Varför?"),
)


def _response(round_id: str, n: int, rng: random.Random) -> dict[str, Any]:
    answers: dict[str, Any] = {
        q.key: rng.choice(OPTIONS) for q in QUESTIONS if q.kind == "single_choice"
    }
    if rng.random() < 0.3:
        answers["why"] = f"Svar nummer {n}: " + "ord " * rng.randint(5, 60)
    return {
        "_id": response_id(f"bench-{round_id}-{n}"),
        "tenant": TENANT,
        "round_id": round_id,
        "answers": answers,
        "age_band": rng.choice(BAND_NAMES),
        "gender": rng.choice(("female", "male")),
        "district": rng.choice(DISTRICTS),
        "received_on": f"2026-11-{1 + n % 7:02d}",
        "channel": "web",
    }


async def _store(db: Any, round_id: str, n: int) -> float:
    """Store ``n`` responses as the answer desk does; returns the seconds it took."""
    rt: Any = SimpleNamespace(db=db, extras={})
    questions = {round_id: QUESTIONS}
    rng = random.Random(7)
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        batch = tallies.new_batch()
        docs = [
            {**_response(round_id, i, rng), "tally": batch}
            for i in range(start, min(start + BATCH, n))
        ]
        await tallies.open_batch(rt, batch, docs)
        await db.responses.insert_many(docs, ordered=False)
        await tallies.settle_batch(rt, batch, questions, docs)
    return time.perf_counter() - t0


async def timed(call: Any, repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t0)
    return times


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def measure(stack: LocalStack, responses: int, repeat: int) -> dict[str, Any]:
    client = connect(stack.mongodb_url)
    db = database(client, "rounds")
    round_id = str(uuid.uuid4())
    await db.rounds.insert_one(
        {
            "_id": round_id,
            "tenant": TENANT,
            "title": "Bench",
            "purpose": "Bench",
            "questions": [q.model_dump() for q in QUESTIONS],
            "panel": "general",
            "state": "closed",
            "invited": responses + responses // 3,
            "responded": responses,
            "created_at": time.time(),
        }
    )
    write_s = await _store(db, round_id, responses)
    nc = await stack.login().connect()
    js = nc.jetstream()
    await publish(js, RegisterTenant(tenant=TENANT, display_name="Benchmark kommun"))
    try:

        async def results() -> None:
            reply = await ask(
                nc, GetResults(tenant=TENANT, round_id=round_id), RoundResults, timeout=120
            )
            assert reply is not None
            assert reply.questions[0].answered == responses
            assert len(reply.questions[0].by_district) == len(DISTRICTS)

        async def first_page() -> None:
            page = await ask(
                nc,
                ListAnswerTexts(tenant=TENANT, round_id=round_id, question="why"),
                AnswerTexts,
                timeout=120,
            )
            assert page is not None
            assert len(page.texts) == 50

        async def search() -> None:
            page = await ask(
                nc,
                ListAnswerTexts(tenant=TENANT, round_id=round_id, question="why", search="99"),
                AnswerTexts,
                timeout=120,
            )
            assert page is not None

        async def scan() -> None:
            count = 0
            async for _ in db.responses.find({"round_id": round_id, "tenant": TENANT}):
                count += 1
            assert count == responses

        await results()  # warm the caches
        results_times = await timed(results, repeat)
        page_times = await timed(first_page, repeat)
        search_times = await timed(search, 3)
        scan_times = await timed(scan, 3)
        # The old way: every response read for every results page (kept as the recount).
        recount_times = await timed(
            lambda: tallies.recount(SimpleNamespace(db=db, extras={}), TENANT, round_id),  # type: ignore[arg-type]
            1,
        )
        rounds_pid = next(s.proc.pid for s in stack.servers if s.name == "rounds")
        results_s = statistics.median(results_times)
        scan_s = statistics.median(scan_times)
        return {
            "responses": responses,
            "questions": len(QUESTIONS),
            "results_seconds": round(results_s, 4),
            "results_max_seconds": round(max(results_times), 4),
            "scan_seconds": round(scan_s, 3),
            "ratio": round(results_s / scan_s, 4),
            "recount_seconds": round(recount_times[0], 3),
            "texts_first_page_seconds": round(statistics.median(page_times), 4),
            "texts_search_seconds": round(statistics.median(search_times), 4),
            "store_write_seconds": round(write_s, 1),
            "store_write_per_second": round(responses / write_s),
            "rounds_service_peak_rss_mb": _rss_mb(rounds_pid),
        }
    finally:
        await nc.close()
        await client.close()


async def run(responses: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="radslag-bench-") as tmp:
        stack = LocalStack(Path(tmp), Ports.free(), portal=False)
        stack.start()
        try:
            return await measure(stack, responses, repeat)
        finally:
            stack.stop()
            for line in stack.bus_refusals():
                print(f"the bus refused a client: {line}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10, help="timed results queries")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    figures = asyncio.run(run(args.responses, args.repeat))
    print(f"responses             {figures['responses']:>10}")
    print(f"results (median)      {figures['results_seconds']:>10.4f} s")
    print(f"plain scan (baseline) {figures['scan_seconds']:>10.3f} s")
    print(f"ratio                 {figures['ratio']:>10.4f}   (goal ≤ 0.2)")
    print(f"recount from scratch  {figures['recount_seconds']:>10.3f} s")
    print(f"texts, first page     {figures['texts_first_page_seconds']:>10.4f} s")
    print(f"texts, search         {figures['texts_search_seconds']:>10.4f} s")
    print(f"stored (with counts)  {figures['store_write_per_second']:>10} responses/s")
    print(f"rounds peak RSS       {figures['rounds_service_peak_rss_mb']} MB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
