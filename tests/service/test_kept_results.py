"""Kept results equal a full recount, whatever the redeliveries and crashes.

Answers to a round with every kind of question arrive in bursts with duplicates, copies past
the stream's duplicate window and bad answers; the rounds service crashes once before it counts a
batch and once after counting but before clearing the batch's marks. After the repair, the
counters kept per question, answer and background cell equal those computed afresh from every
stored response, and the results page reads only those counters.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from contracts.recruitment import Outcome, PopulationRow, SetPopulation
from contracts.rounds import AnswerTexts as Texts
from contracts.rounds import (
    EnterPaperAnswers,
    GetInvitation,
    GetResults,
    InvitationView,
    ListAnswerTexts,
    Question,
    RoundResults,
    SaveDraft,
    SubmitResponse,
)
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.queries import ask
from services.portal.gateway import NatsGateway
from services.rounds import reminders, tallies
from services.rounds.population import population_margins
from tests.conftest import Stack, register_council
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
        "place": [
            {
                "district": "Centrum",
                "category": "Nice",
                "comment": f"Bänk {n}",
                "lat": 57.361 + (n % 2) * 0.02,
                "lon": 13.741,
            }
        ],
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
    # The pins on the map's grid: two cells, whatever the number of answers.
    assert {(c.lat, c.lon, c.category): c.count for c in by_key["place"].pins} == {
        (57.365, 13.745, "Nice"): MEMBERS - MEMBERS // 2,
        (57.385, 13.745, "Nice"): MEMBERS // 2,
    }
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


async def test_a_one_question_round_is_answered_with_one_click_in_the_mail(stack: Stack) -> None:
    question = Question(key="bench", kind="yes_no", text="Fler bänkar i parken?")
    round_id, tokens = await open_round(stack, (question,))
    items, _ = stack.devtools.mailbox.list_mails(limit=100)
    mail = stack.devtools.mailbox.get_mail(items[0].id)
    assert items[0].subject == "Ny fråga: Bussar"
    assert mail.text is not None
    assert "Fler bänkar i parken?" in mail.text
    assert re.search(r"Ja / Yes: http\S+/a/[A-Za-z0-9_-]{43}\?pick=1", mail.text), mail.text
    assert re.search(r"Nej / No: http\S+/a/[A-Za-z0-9_-]{43}\?pick=2", mail.text)
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        commands = [
            SubmitResponse(tenant=T, token=t, answers={"bench": "yes"}, channel="mail")
            for t in tokens[:15]
        ] + [SubmitResponse(tenant=T, token=t, answers={"bench": "no"}) for t in tokens[15:25]]
        for command in commands:
            await gateway.submit_response(command)
        outcomes = [await gateway.outcome(c.message_id, 30) for c in commands]
    finally:
        await gateway.close()
    assert outcomes == [Outcome(status="done")] * 25
    results = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
    assert results is not None
    assert {(c.channel, c.answers) for c in results.by_channel} == {("mail", 15), ("web", 10)}
    # The reminder to those who have not answered is answered with one click too, through
    # the reminder's own new link.
    rt = stack.services["rounds"].runtime
    await rt.db.rounds.update_one({"_id": round_id}, {"$set": {"reminder_days": [3]}})
    await reminders.send_reminders(rt, T, round_id, 1)

    def reminder_texts() -> list[str]:
        found, _ = stack.devtools.mailbox.list_mails(limit=200)
        return [
            stack.devtools.mailbox.get_mail(i.id).text or ""
            for i in found
            if i.subject.startswith("Påminnelse")
        ]

    await wait_until(
        lambda: len(reminder_texts()) == MEMBERS - 25, timeout=20, what="the reminders"
    )
    text = reminder_texts()[0]
    assert "Fler bänkar i parken?" in text
    assert "Svara med ett klick på ditt svar" in text
    picked = re.search(r"Ja / Yes: http\S+/a/([A-Za-z0-9_-]{43})\?pick=1", text)
    assert picked, text
    assert picked.group(1) not in tokens  # a new link, not the invitation's


async def test_staff_enter_paper_forms_once_and_the_member_counts_as_answered(
    stack: Stack,
) -> None:
    round_id, _ = await open_round(stack, QUESTIONS)
    rt = stack.services["rounds"].runtime
    members = [
        d["member_id"]
        async for d in rt.db.invitations.find({"round_id": round_id}, {"member_id": 1})
    ]
    gateway = await NatsGateway.connect(stack.infra.login("portal"))

    def form(member: str, answers: dict[str, Any]) -> EnterPaperAnswers:
        return EnterPaperAnswers(
            tenant=T, round_id=round_id, member_id=member, answers=answers, entered_by="anna"
        )

    try:
        first = form(members[0], {"park": "no", "happy": 3})
        commands = [
            first,
            form(members[0], {"park": "yes"}),  # the same member's form again
            form("someone-else", {"park": "yes"}),
            form(members[1], {"happy": 9}),
            form(members[1], {"park": "no", "how": ["Walk"]}),  # hidden by skip logic
        ]
        outcomes = []
        for command in commands:
            await gateway.enter_paper_answers(command)
            outcomes.append(await gateway.outcome(command.message_id, 30))
        # The first form again, past the duplicate window: nothing changes.
        await publish_raw(
            stack.js,
            f"rounds.{T}.cmd.enter_paper_answers",
            first.model_dump_json().encode(),
            f"copy-{first.message_id}",
        )
    finally:
        await gateway.close()
    assert outcomes == [
        Outcome(status="done"),
        Outcome(status="refused", reason="already_answered"),
        Outcome(status="refused", reason="not_invited"),
        Outcome(status="refused", reason="invalid_answers"),
        Outcome(status="refused", reason="invalid_answers"),
    ]
    await asyncio.sleep(0.5)
    invitation = await rt.db.invitations.find_one({"_id": f"{round_id}:{members[0]}"})
    assert invitation is not None
    assert invitation["state"] == "answered"
    responses = await rt.db.responses.find({"round_id": round_id}).to_list()
    assert [(r["channel"], r["answers"]) for r in responses] == [
        ("paper", {"park": "no", "happy": 3})
    ]
    assert "member_id" not in responses[0]
    assert members[0] not in str(responses[0])
    view = await rt.db.rounds.find_one({"_id": round_id})
    assert view is not None
    assert view["responded"] == 1
    kept = await tallies.kept(rt, T, round_id, len(QUESTIONS))
    assert tallies.nonzero(kept) == tallies.nonzero(await tallies.recount(rt, T, round_id))


async def test_results_are_weighted_to_the_councils_population(stack: Stack) -> None:
    question = Question(key="bus", kind="yes_no", text="Senare bussar?")
    round_id, tokens = await open_round(stack, (question,))
    # Members were born 1950-1989: many more 45-64 than 30-44. Residents are spread evenly.
    await publish(
        stack.js,
        SetPopulation(
            tenant=T,
            source="SCB 2025",
            rows=tuple(
                PopulationRow(district="", age_band=b, gender=g, population=1000)
                for b in ("16-29", "30-44", "45-64", "65-79", "80+")
                for g in ("female", "male")
            ),
        ),
    )
    rt = stack.services["rounds"].runtime

    async def arrived() -> bool:
        return await population_margins(rt, T) is not None

    await wait_until(arrived, timeout=15, what="population in rounds")
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        commands = [
            SubmitResponse(tenant=T, token=t, answers={"bus": "yes" if n % 3 else "no"})
            for n, t in enumerate(tokens)
        ]
        for command in commands:
            await gateway.submit_response(command)
        for command in commands:
            assert await gateway.outcome(command.message_id, 30) == Outcome(status="done")
    finally:
        await gateway.close()
    results = await ask(
        stack.nc, GetResults(tenant=T, round_id=round_id, place="Gnosjö kommun"), RoundResults
    )
    assert results is not None
    assert results.weighting is not None
    assert results.weighting.applied
    assert "Gnosjö kommun (SCB 2025)" in results.weighting.description
    assert "raking" in results.weighting.description_en
    assert results.caveat == results.weighting.description_en
    [bus] = results.questions
    for option in bus.options:
        assert option.weighted_percent is not None
        assert option.weighted_ci_low is not None
        assert option.weighted_ci_high is not None
        assert option.weighted_ci_low <= option.weighted_percent <= option.weighted_ci_high
    assert sum(o.weighted_percent or 0 for o in bus.options) == pytest.approx(100, abs=0.2)


async def test_drafts_are_kept_and_answers_change_until_the_round_closes(stack: Stack) -> None:
    round_id, tokens = await open_round(stack, QUESTIONS, allow_changes=True)
    rt = stack.services["rounds"].runtime
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:

        async def settle(command: Any) -> Outcome | None:
            if isinstance(command, SaveDraft):
                await gateway.save_draft(command)
            else:
                await gateway.submit_response(command)
            return await gateway.outcome(command.message_id, 30)

        # A draft is kept for the link, counted nowhere, and shown when the link is opened.
        draft = SaveDraft(tenant=T, token=tokens[0], answers={"park": "yes", "happy": 9})
        assert await settle(draft) == Outcome(status="done")
        view = await ask(stack.nc, GetInvitation(tenant=T, token=tokens[0]), InvitationView)
        assert view is not None
        assert (view.status, view.changeable, view.answers) == ("open", False, {"park": "yes"})
        assert await rt.db.responses.count_documents({"round_id": round_id}) == 0
        # Sending the answers takes the draft's place.
        first = SubmitResponse(
            tenant=T,
            token=tokens[0],
            answers={"park": "yes", "how": ["Walk"], "place": [{"district": "Centrum"}]},
        )
        assert await settle(first) == Outcome(status="done")
        assert await rt.db.drafts.count_documents({}) == 0
        view = await ask(stack.nc, GetInvitation(tenant=T, token=tokens[0]), InvitationView)
        assert view is not None
        assert (view.status, view.changeable) == ("answered", True)
        assert view.model_dump(mode="json", exclude_none=True)["answers"]["how"] == ["Walk"]
        # Changed twice: the response keeps its id, the counters move by the difference.
        for answers in ({"park": "no", "happy": 2}, {"park": "yes", "how": ["Bike", "Bus"]}):
            change = SubmitResponse(tenant=T, token=tokens[0], answers=answers)
            assert await settle(change) == Outcome(status="done")
        # A draft of an answered link is refused.
        late = SaveDraft(tenant=T, token=tokens[0], answers={"park": "no"})
        assert await settle(late) == Outcome(status="refused", reason="already_answered")
        other = SubmitResponse(tenant=T, token=tokens[1], answers={"park": "no"})
        assert await settle(other) == Outcome(status="done")
    finally:
        await gateway.close()
    responses = await rt.db.responses.find({"round_id": round_id}).to_list()
    assert len(responses) == 2
    changed = next(r for r in responses if r.get("version"))
    assert changed["answers"] == {"park": "yes", "how": ["Bike", "Bus"]}
    assert "previous" not in changed
    assert "tally" not in changed
    kept = await tallies.kept(rt, T, round_id, len(QUESTIONS))
    assert tallies.nonzero(kept) == tallies.nonzero(await tallies.recount(rt, T, round_id))
    view_doc = await rt.db.rounds.find_one({"_id": round_id})
    assert view_doc is not None
    assert view_doc["responded"] == 2


async def test_a_reply_too_large_for_the_bus_is_refused_and_logged(
    stack: Stack, monkeypatch: Any
) -> None:
    from contracts.rounds import GetRound, RoundView
    from infra.queries import QueryFailed
    from services.rounds import handlers
    from tests.portal.fakes import round_view

    async def huge(rt: Any, q: GetRound) -> RoundView:
        return round_view(q.round_id, purpose="x" * 2_000_000)

    monkeypatch.setattr(handlers, "get_round", huge)
    await register_council(stack, T)
    with pytest.raises(QueryFailed, match="reply too large"):
        await ask(stack.nc, GetRound(tenant=T, round_id="r1"), RoundView, timeout=10)


async def test_a_rounds_promise_plan_and_introduction_are_kept_and_edited(stack: Stack) -> None:
    from contracts.rounds import CreateRound, EditRound, GetRound, Plan, Promise, RoundView

    await register_council(stack, T)
    promise = Promise(decision="Parkplanen", decided_on="2027-03-15", influence="consultation")
    create = CreateRound(
        tenant=T,
        round_id="r-promise",
        title="Parken",
        purpose="Plan.",
        questions=QUESTIONS,
        promise=promise,
        plan=Plan(goal="Prioritera", owners={"questions": "Anna"}),
        introduction="Parken byggdes 1962.",
        allow_changes=True,
    )
    await publish(stack.js, create)

    async def view() -> RoundView | None:
        return await ask(stack.nc, GetRound(tenant=T, round_id="r-promise"), RoundView)

    got = await wait_until(view, timeout=15, what="the round")
    assert (got.promise, got.plan.goal, got.introduction, got.allow_changes) == (
        promise,
        "Prioritera",
        "Parken byggdes 1962.",
        True,
    )
    edit = EditRound(
        tenant=T,
        round_id="r-promise",
        title="Parken 2027",
        purpose="Plan.",
        questions=QUESTIONS,
        edited_by="anna",
        introduction="Parken byggdes 1963.",
    )
    await publish(stack.js, edit)

    async def edited() -> RoundView | None:
        found = await view()
        return found if found is not None and found.title == "Parken 2027" else None

    after = await wait_until(edited, timeout=15, what="the edit")
    # What the edit gives changes; what it leaves out stays.
    assert (after.introduction, after.promise, after.allow_changes) == (
        "Parken byggdes 1963.",
        promise,
        True,
    )
