"""Kept results equal a full recount, whatever the redeliveries and crashes.

Answers to a round with every kind of question arrive in bursts with duplicates, copies past
the stream's duplicate window and bad answers; the rounds service crashes once before it counts a
batch and once after counting but before clearing the batch's marks. After the repair, the
counters kept per question, answer and background cell equal those computed afresh from every
stored response, and the results page reads only those counters.
"""

from __future__ import annotations

import asyncio
from typing import Any

from contracts.recruitment import Outcome
from contracts.rounds import AnswerTexts as Texts
from contracts.rounds import (
    GetResults,
    ListAnswerTexts,
    Question,
    RoundResults,
    SubmitResponse,
)
from infra.bus import publish_raw
from infra.queries import ask
from services.portal.gateway import NatsGateway
from services.rounds import tallies
from tests.conftest import Stack
from tests.service.test_answers_under_load import MEMBERS, T, open_round

QUESTIONS = (
    Question(key="park", kind="yes_no", text="Do you use the park?"),
    Question(
        key="how",
        kind="multiple_choice",
        text="How do you get there?",
        options=("Walk", "Bike", "Bus"),
        show_if={"question": "park", "answers": ["yes"]},
    ),
    Question(key="happy", kind="scale", text="How happy?", low_label="Not", high_label="Very"),
    Question(key="visits", kind="number", text="Visits a month?", minimum=0, maximum=100),
    Question(key="rank", kind="ranking", text="Most needed?", options=("Toilets", "Lights")),
    Question(key="place", kind="map", text="Where?", options=("Danger", "Nice")),
    Question(key="why", kind="free_text", text="Why?", max_length=200),
)


def _answers(n: int) -> dict[str, Any]:
    park = "yes" if n % 3 else "no"
    answers: dict[str, Any] = {
        "park": park,
        "happy": 1 + n % 5,
        "visits": n,
        "rank": ["Toilets", "Lights"] if n % 2 else ["Lights", "Toilets"],
        "place": [{"district": "Centrum", "category": "Nice", "comment": f"Bänk {n}"}],
        "why": f"Svar {n}",
    }
    if park == "yes":
        answers["how"] = ["Walk", "Bus"] if n % 2 else ["Bike"]
    return answers


async def test_kept_counters_equal_a_recount_after_duplicates_and_crashes(
    stack: Stack, monkeypatch: Any
) -> None:
    round_id, tokens = await open_round(stack, QUESTIONS)
    rt = stack.services["rounds"].runtime
    crashes = {"before_counting": 1, "before_clearing": 1}
    apply, clear = tallies._apply, tallies._clear

    async def crashing_apply(*args: Any) -> Any:
        if crashes["before_counting"]:
            crashes["before_counting"] -= 1
            raise RuntimeError("crash after storing, before counting")
        return await apply(*args)

    async def crashing_clear(*args: Any) -> Any:
        if crashes["before_clearing"]:
            crashes["before_clearing"] -= 1
            raise RuntimeError("crash after counting, before clearing the marks")
        return await clear(*args)

    monkeypatch.setattr(tallies, "_apply", crashing_apply)
    monkeypatch.setattr(tallies, "_clear", crashing_clear)
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        good = [
            SubmitResponse(tenant=T, token=token, answers=_answers(n))
            for n, token in enumerate(tokens)
        ]
        bad = [
            # hidden by skip logic, out of range, too long, wrong type
            SubmitResponse(tenant=T, token="h" * 43, answers={"park": "no", "how": ["Walk"]}),
            SubmitResponse(tenant=T, token=tokens[0], answers={"happy": 9}),
            SubmitResponse(tenant=T, token=tokens[1], answers={"why": "x" * 201}),
            SubmitResponse(tenant=T, token=tokens[2], answers={"visits": "many"}),
        ]
        for chunk in (good[:15], good[15:], bad):
            await asyncio.gather(*(gateway.submit_response(c) for c in chunk))
            for copy in chunk[:3]:  # copies past the stream's duplicate window
                await publish_raw(
                    stack.js,
                    f"rounds.{T}.cmd.submit_response",
                    copy.model_dump_json().encode(),
                    f"copy-{copy.message_id}",
                )
        outcomes = await asyncio.gather(*(gateway.outcome(c.message_id, 60) for c in good + bad))
    finally:
        await gateway.close()
    assert outcomes[: len(good)] == [Outcome(status="done")] * MEMBERS
    assert all(o.status == "refused" for o in outcomes[len(good) :])
    assert crashes == {"before_counting": 0, "before_clearing": 0}

    # The crashed batches are left for the repair (a live one is never touched by it).
    assert await rt.db.tally_batches.count_documents({}) >= 1
    await tallies.repair(rt, older_than_ms=0)
    assert await rt.db.tally_batches.count_documents({}) == 0
    assert await rt.db.responses.count_documents({"tally": {"$exists": True}}) == 0
    assert [d["batches"] async for d in rt.db.tallies.find({"round_id": round_id})] == [[]] * (
        1 + len(QUESTIONS)
    )

    kept = await tallies.kept(rt, T, round_id, len(QUESTIONS))
    recounted = await tallies.recount(rt, T, round_id)
    assert tallies.nonzero(kept) == tallies.nonzero(recounted)
    # A repair run again changes nothing.
    await tallies.repair(rt, older_than_ms=0)
    assert tallies.nonzero(await tallies.kept(rt, T, round_id, len(QUESTIONS))) == (
        tallies.nonzero(recounted)
    )

    results = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
    assert results is not None
    by_key = {q.key: q for q in results.questions}
    yes = sum(1 for n in range(MEMBERS) if n % 3)
    assert by_key["park"].answered == MEMBERS
    assert {o.option: o.count for o in by_key["park"].options} == {
        "yes": yes,
        "no": MEMBERS - yes,
    }
    assert by_key["how"].answered == yes
    assert by_key["visits"].mean == round(sum(range(MEMBERS)) / MEMBERS, 2)
    assert by_key["happy"].mean == round(sum(1 + n % 5 for n in range(MEMBERS)) / MEMBERS, 2)
    assert {r.option: r.first for r in by_key["rank"].ranks} == {
        "Toilets": MEMBERS // 2,
        "Lights": MEMBERS // 2,
    }
    assert {d.option: d.count for d in by_key["place"].districts} == {"Centrum": MEMBERS}
    assert sum(c.answers for c in results.by_channel) == MEMBERS
    assert sum(d.answers for d in results.by_day) == MEMBERS
    assert results.caveat.startswith("The panel's answers are not a survey")

    # Pin comments page like free texts.
    comments = await ask(
        stack.nc,
        ListAnswerTexts(tenant=T, round_id=round_id, question="place", search="bänk 1"),
        Texts,
    )
    assert comments is not None
    assert sorted(t.text for t in comments.texts) == sorted(
        f"Bänk {n}" for n in range(MEMBERS) if str(n).startswith("1")
    )


async def test_a_batch_touching_hundreds_of_cells_is_kept_whole(stack: Stack) -> None:
    # The embedded store silently drops an update of 64 fields or more: a batch's counters
    # go in chunks, and all of them must arrive.
    rt = stack.services["rounds"].runtime
    round_id = "many-cells"
    questions = (
        Question(key="q", kind="single_choice", text="?", options=tuple("ABCDEFGHIJ")),
        Question(key="n", kind="number", text="?", minimum=0, maximum=1000),
    )
    await rt.db.rounds.insert_one(
        {"_id": round_id, "tenant": T, "questions": [q.model_dump() for q in questions]}
    )
    docs = [
        {
            "_id": f"resp-{n}",
            "tenant": T,
            "round_id": round_id,
            "answers": {"q": "ABCDEFGHIJ"[n % 10], "n": n},
            "age_band": ("16-29", "30-44", "45-64", "65-79", "80+")[n % 5],
            "gender": ("female", "male")[n % 2],
            "district": f"D{n % 17}",
            "received_on": "2026-11-25",
            "channel": "web",
        }
        for n in range(256)
    ]
    batch = tallies.new_batch()
    marked = [{**d, "tally": batch} for d in docs]
    await tallies.open_batch(rt, batch, marked)
    await rt.db.responses.insert_many(marked)
    await tallies.settle_batch(rt, batch, {round_id: questions}, marked)
    kept = await tallies.kept(rt, T, round_id, len(questions))
    assert len(kept["0"]) > 3 * tallies.FIELDS_PER_UPDATE
    assert tallies.nonzero(kept) == tallies.nonzero(await tallies.recount(rt, T, round_id))
    # A second batch crashes after counting, before clearing: the repair adds nothing more.
    again = [{**d, "_id": f"second-{d['_id']}", "tally": "b2"} for d in docs]
    await tallies.open_batch(rt, "b2", again)
    await rt.db.responses.insert_many(again)
    await tallies._apply(rt, "b2", again, {round_id: questions})
    await tallies.repair(rt, older_than_ms=-10_000)
    recounted = await tallies.recount(rt, T, round_id)
    assert tallies.nonzero(await tallies.kept(rt, T, round_id, 2)) == tallies.nonzero(recounted)
    assert recounted["r"]["channel|web"] == 512
    assert [d["batches"] async for d in rt.db.tallies.find({"round_id": round_id})] == [[]] * 3
