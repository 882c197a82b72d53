"""Results kept as answers arrive: counts per question, answer and background cell.

A results page never rescans a round's responses. Each response adds to counters kept in a few
documents per round (``tallies``): one for the respondents (per age band × gender × district
cell, per day and per channel) and one per question (per answer value and cell; sums for
numbers). Breakdowns, confidence intervals and weights all work from these cells.

Exactly once, whatever crashes and redeliveries (DESIGN.md: no multi-document transactions):

1. the answer desk first writes a *batch record* (``tally_batches``, id ``B``: the round and the
   ids of the responses it is about to store), then inserts the responses, each marked
   ``tally: B``; a response that was already there (a redelivery) keeps its own mark or none;
2. the counters of the responses marked ``B`` are added to each tally document in guarded
   updates of at most ``FIELDS_PER_UPDATE`` counters (the embedded store ignores bigger ones):
   chunk ``k`` is ``{_id, batches: {$nin: ["B:k"]}}`` with ``$inc`` and
   ``$push: {batches: "B:k"}``, so a document takes each chunk of a batch once however often
   it is tried (the chunks are the same when recomputed: sorted counters, fixed size);
3. the marks are cleared, the markers are pulled from the documents' ``batches`` and the batch
   record deleted.

A crash anywhere leaves the batch record: ``repair`` (at start and every minute, for records
older than ``STALE_MS``) replays steps 2-3 from the responses still marked ``B``, which are
exactly the ones the batch stored. Marks are cleared only after every document took the batch,
and the markers are pulled only after that, so no replay can add a batch twice. ``recount`` computes
the same counters from the responses alone: the tests prove the kept ones equal it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import structlog
from pymongo import UpdateOne

from contracts.map import grid_cell
from contracts.questions import Question
from infra.service import Runtime
from infra.store import Document, insert_new

log = structlog.get_logger()

STALE_MS = 60_000
"""A batch record older than this belongs to a crashed batch (a live one takes milliseconds)."""
RESPONDENTS = "r"
"""Key of the respondents' tally document (question tallies are keyed by question index)."""

Cells = dict[str, dict[str, float]]
"""Counters to add: tally document key → cell code → amount."""


def _code(*parts: object) -> str:
    """A cell's code: its parts, each escaped so none holds a dot, a dollar or a bar."""
    return "|".join(quote(str(p), safe="").replace(".", "%2E") for p in parts)


def decode(code: str) -> list[str]:
    """The parts of a cell code."""
    return [unquote(p) for p in code.split("|")]


def doc_id(round_id: str, key: str) -> str:
    """The id of one of a round's tally documents."""
    return f"{round_id}:{key}"


def cells_of(questions: Sequence[Question], response: Mapping[str, Any]) -> Cells:
    """The counters one stored response adds.

    Respondents: ``n|band|gender|district``, ``day|YYYY-MM-DD``, ``channel|web`` and, when the
    member's invitation went out on a known channel, ``invited|email``. Per question
    (document keyed by its index): ``_|cell`` (answered it), ``v|value|cell`` (a choice, yes/no,
    scale value, multiple-choice pick, number bin or map pin category), ``r|option|place|cell``
    (ranking), ``d|district|cell`` (map pins per district), ``g|lat|lon|category`` (map pins
    on the grid of ``contracts.map``, with no background cell: a grid cell is small enough), and
    for numbers ``s|cell`` and ``q|cell`` (sum and sum of squares).
    """
    band, gender, district = (
        response.get("age_band") or "",
        response.get("gender") or "",
        response.get("district") or "",
    )
    cell = (band, gender, district)
    cells: Cells = {
        RESPONDENTS: {
            _code("n", *cell): 1,
            _code("day", response.get("received_on", "")): 1,
            _code("channel", response.get("channel", "web")): 1,
        }
    }
    if response.get("invited_by"):
        cells[RESPONDENTS][_code("invited", response["invited_by"])] = 1
    answers: Mapping[str, Any] = response.get("answers", {})
    for index, q in enumerate(questions):
        if q.key not in answers:
            continue
        value = answers[q.key]
        counters: dict[str, float] = {_code("_", *cell): 1}
        if q.kind in ("single_choice", "yes_no", "scale"):
            counters[_code("v", value, *cell)] = 1
        elif q.kind == "multiple_choice":
            for pick in value:
                counters[_code("v", pick, *cell)] = 1
        elif q.kind == "number":
            number = float(value)
            counters[_code("s", *cell)] = number
            counters[_code("q", *cell)] = number * number
            bin_ = number_bin(q, number)
            if bin_ is not None:
                counters[_code("v", bin_, *cell)] = 1
        elif q.kind == "ranking":
            for place, option in enumerate(value, start=1):
                counters[_code("r", option, place, *cell)] = 1
        elif q.kind == "map":
            for pin in value:
                key_d = _code("d", pin.get("district", ""), *cell)
                counters[key_d] = counters.get(key_d, 0) + 1
                if pin.get("category"):
                    key_v = _code("v", pin["category"], *cell)
                    counters[key_v] = counters.get(key_v, 0) + 1
                if pin.get("lat") is not None and pin.get("lon") is not None:
                    key_g = _code("g", *grid_cell(pin["lat"], pin["lon"]), pin.get("category", ""))
                    counters[key_g] = counters.get(key_g, 0) + 1
        cells[str(index)] = counters
    return cells


BINS = 10


def number_bins(q: Question) -> list[str]:
    """The distribution's bins of a number question: each value when whole numbers span at
    most 21 values, else ten equal bins; none when the question has no range."""
    if q.minimum is None or q.maximum is None:
        return []
    low, high = q.minimum, q.maximum
    if q.whole_numbers and high - low <= 20:
        return [str(v) for v in range(int(low), int(high) + 1)]
    width = (high - low) / BINS or 1.0
    return [f"{_fmt(low + i * width)}–{_fmt(low + (i + 1) * width)}" for i in range(BINS)]


def number_bin(q: Question, number: float) -> str | None:
    """The bin ``number`` falls in (see ``number_bins``)."""
    bins = number_bins(q)
    if not bins or q.minimum is None or q.maximum is None:
        return None
    if len(bins) < BINS or (q.whole_numbers and q.maximum - q.minimum <= 20):
        return str(int(number))
    width = (q.maximum - q.minimum) / BINS or 1.0
    return bins[min(BINS - 1, max(0, int((number - q.minimum) / width)))]


def _fmt(value: float) -> str:
    return f"{value:g}"


def add(total: Cells, more: Cells, sign: int = 1) -> None:
    """Add ``more`` into ``total`` (``sign=-1`` takes it away)."""
    for key, counters in more.items():
        into = total.setdefault(key, {})
        for code, amount in counters.items():
            into[code] = into.get(code, 0) + sign * amount


def sum_cells(questions: Sequence[Question], responses: Iterable[Mapping[str, Any]]) -> Cells:
    """The counters of many responses together. A changed response (``previous``: the answers
    it replaced) adds the difference: its new answers, less the ones it had."""
    total: Cells = {}
    for response in responses:
        add(total, cells_of(questions, response))
        if "previous" in response:
            add(total, cells_of(questions, {**response, "answers": response["previous"]}), -1)
    return total


# --- keeping them -----------------------------------------------------------------------


def new_batch() -> str:
    """A batch's id: random, so it tells nothing of who answered."""
    return uuid.uuid4().hex


async def open_batch(rt: Runtime, batch: str, responses: Sequence[Document]) -> None:
    """Record, before its responses are stored, which ones a batch is about to store."""
    await rt.db.tally_batches.insert_one(
        {
            "_id": batch,
            "at_ms": int(time.time() * 1000),
            "responses": [r["_id"] for r in responses],
            "rounds": sorted({r["round_id"] for r in responses}),
        }
    )


async def settle_batch(
    rt: Runtime,
    batch: str,
    questions: Mapping[str, Sequence[Question]],
    stored: Sequence[Document] | None = None,
) -> None:
    """Add to the tallies the responses a batch stored, then clear its traces; safe to repeat
    (see the module's text). ``questions`` by round id; ``stored``: the responses the batch
    just stored, or None to find them (those still marked with it, for a repair)."""
    if stored is None:
        record = await rt.db.tally_batches.find_one({"_id": batch})
        if record is None:
            return
        stored = await rt.db.responses.find(
            {"_id": {"$in": record["responses"]}, "tally": batch}
        ).to_list()
    touched = await _apply(rt, batch, stored, questions)
    await _clear(rt, batch, stored, touched)


FIELDS_PER_UPDATE = 60
"""Most counters one update changes. The embedded store (nx-27017 0.8.1) silently ignores an
update of 64 fields or more while reporting it done (measured: 63 apply, 64 do not), so a
batch's counters for one document go in chunks, each guarded by its own marker."""


def _chunks(counters: Mapping[str, float]) -> list[dict[str, float]]:
    """A document's counters in chunks of ``FIELDS_PER_UPDATE``, the same for the same
    counters (the repair recomputes them and must find the same chunks)."""
    codes = sorted(counters)
    return [
        {code: counters[code] for code in codes[i : i + FIELDS_PER_UPDATE]}
        for i in range(0, len(codes), FIELDS_PER_UPDATE)
    ]


def _marker(batch: str, chunk: int) -> str:
    return f"{batch}:{chunk}"


async def _apply(
    rt: Runtime,
    batch: str,
    stored: Sequence[Document],
    questions: Mapping[str, Sequence[Question]],
) -> dict[str, list[str]]:
    """Step 2: add the batch's counters to each tally document, each chunk of them in an
    update guarded by its marker (``batch:chunk``) so that it is added once; returns the
    markers pushed, by document id."""
    by_round: dict[tuple[str, str], list[Document]] = {}
    for doc in stored:
        by_round.setdefault((doc["tenant"], doc["round_id"]), []).append(doc)
    touched: dict[str, list[str]] = {}
    known: set[str] = rt.extras.setdefault("tally_documents", set())
    updates: list[UpdateOne] = []
    for (tenant, round_id), docs in by_round.items():
        cells = sum_cells(questions.get(round_id, ()), docs)
        ids = [doc_id(round_id, key) for key in cells]
        await insert_new(
            rt.db.tallies,
            [
                {"_id": i, "tenant": tenant, "round_id": round_id, "batches": [], "c": {}}
                for i in ids
                if i not in known
            ],
        )
        known.update(ids)
        for key, counters in cells.items():
            tally = doc_id(round_id, key)
            for n, chunk in enumerate(_chunks(counters)):
                marker = _marker(batch, n)
                touched.setdefault(tally, []).append(marker)
                updates.append(
                    UpdateOne(
                        {"_id": tally, "batches": {"$nin": [marker]}},
                        {
                            "$inc": {f"c.{code}": amount for code, amount in chunk.items()},
                            "$push": {"batches": marker},
                        },
                    )
                )
    if updates:
        await rt.db.tallies.bulk_write(updates, ordered=False)
    return touched


async def _clear(
    rt: Runtime, batch: str, stored: Sequence[Document], touched: dict[str, list[str]]
) -> None:
    """Step 3: clear the marks, then the batch's markers in the documents, then its record."""
    if stored:
        await rt.db.responses.update_many(
            {"_id": {"$in": [d["_id"] for d in stored]}, "tally": batch},
            {"$unset": {"tally": "", "previous": ""}},
        )
    if not touched:
        # A repair that finds no marks left does not know the documents: it looks at those
        # of the batch's rounds for its markers.
        record = await rt.db.tally_batches.find_one({"_id": batch}, {"rounds": 1})
        rounds = record.get("rounds", []) if record else []
        async for doc in rt.db.tallies.find({"round_id": {"$in": rounds}}, {"batches": 1}):
            mine = [m for m in doc.get("batches", []) if str(m).startswith(f"{batch}:")]
            if mine:
                touched[doc["_id"]] = mine
    if touched:
        await rt.db.tallies.bulk_write(
            [
                UpdateOne({"_id": tally}, {"$pullAll": {"batches": markers}})
                for tally, markers in touched.items()
            ],
            ordered=False,
        )
    await rt.db.tally_batches.delete_one({"_id": batch})


async def store_one(rt: Runtime, response: Document, questions: Sequence[Question]) -> bool:
    """Store one response and count it once (an SMS, a paper form, a quick poll's answer);
    False if one with its id was stored before (a redelivery: it is counted already, or by
    the repair)."""
    batch = new_batch()
    marked = {**response, "tally": batch}
    await open_batch(rt, batch, [marked])
    if await insert_new(rt.db.responses, [marked]):
        return False
    await settle_batch(rt, batch, {response["round_id"]: questions}, [marked])
    return True


async def repair(rt: Runtime, older_than_ms: int = STALE_MS) -> int:
    """Settle the batches a crash left behind; returns how many."""
    now = int(time.time() * 1000)
    stale = await rt.db.tally_batches.find(
        {"at_ms": {"$lt": now - older_than_ms}}, {"_id": 1, "responses": 1}
    ).to_list()
    if not stale:
        return 0
    round_ids = {
        doc["round_id"]
        async for doc in rt.db.responses.find(
            {"_id": {"$in": [r for b in stale for r in b["responses"]]}}, {"round_id": 1}
        )
    }
    questions = await questions_of(rt, round_ids)
    for record in stale:
        await settle_batch(rt, record["_id"], questions)
    return len(stale)


async def questions_of(rt: Runtime, round_ids: Iterable[str]) -> dict[str, tuple[Question, ...]]:
    """The questions of rounds, by round id."""
    return {
        doc["_id"]: tuple(Question.model_validate(q) for q in doc["questions"])
        async for doc in rt.db.rounds.find({"_id": {"$in": list(round_ids)}}, {"questions": 1})
    }


async def repair_forever(rt: Runtime) -> None:
    """Settle crashed batches now and then (a background task of the service)."""
    while True:
        try:
            await repair(rt)
        except Exception:
            log.exception("tally repair failed")
        await asyncio.sleep(STALE_MS / 1000)


# --- reading them -----------------------------------------------------------------------


async def kept(rt: Runtime, tenant: str, round_id: str, questions: int) -> Cells:
    """A round's kept counters (one read of ``questions`` + 1 small documents)."""
    ids = [doc_id(round_id, RESPONDENTS)] + [doc_id(round_id, str(i)) for i in range(questions)]
    found = {
        doc["_id"]: doc.get("c", {})
        async for doc in rt.db.tallies.find({"_id": {"$in": ids}, "tenant": tenant})
    }
    prefix = len(round_id) + 1
    return {i[prefix:]: dict(found[i]) for i in ids if i in found}


async def recount(rt: Runtime, tenant: str, round_id: str) -> Cells:
    """The counters computed afresh from every stored response (for tests and checks)."""
    questions = (await questions_of(rt, [round_id])).get(round_id, ())
    total: Cells = {}
    async for doc in rt.db.responses.find({"round_id": round_id, "tenant": tenant}):
        add(total, cells_of(questions, doc))
    return total


def nonzero(cells: Cells) -> Cells:
    """``cells`` without counters at zero and empty documents (for comparing)."""
    out: Cells = {}
    for key, counters in cells.items():
        kept_counters = {c: round(v, 6) for c, v in counters.items() if abs(v) > 1e-9}
        if kept_counters:
            out[key] = kept_counters
    return out


def per_cell(counters: Mapping[str, float], kind: str) -> Counter[tuple[str, ...]]:
    """Counters of one kind (``v``, ``_``, ``n``…) by the rest of their code."""
    out: Counter[tuple[str, ...]] = Counter()
    for code, amount in counters.items():
        parts = decode(code)
        if parts[0] == kind:
            out[tuple(parts[1:])] += amount  # type: ignore[assignment]
    return out
