"""Answers in batches and outcomes pushed to the portal, on real NATS and the document store.

Many residents answer at once through the portal's gateway: every outcome reaches the
waiting gateway as a message (no outcome query is asked), each accepted answer is counted
exactly once whatever the duplicates in a batch, and a wait that times out, or a portal
replica that restarted, still finds the recorded outcome.
"""

from __future__ import annotations

import asyncio
import re
import uuid

from contracts.recruitment import ImportMember, Outcome, RegisterTenant
from contracts.rounds import (
    CreateRound,
    GetResults,
    GetRound,
    OpenRound,
    Question,
    ResponseOutcome,
    RoundResults,
    RoundView,
    SubmitResponse,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.deadletter import list_dead_letters
from infra.outcomes import REPLY_HEADER
from infra.queries import QueryFailed, ask
from services.portal.gateway import NatsGateway
from services.rounds.answers import reconcile_open_rounds
from services.rounds.domain import LIVE_MINIMUM
from tests.conftest import PORTAL_URL, Stack, register_council

T = "gnosjo"
MEMBERS = 40
QUESTIONS = (Question(key="bus", kind="single_choice", text="Later buses?", options=("Yes", "No")),)


async def open_round(
    stack: Stack,
    questions: tuple[Question, ...] = QUESTIONS,
    *,
    longitudinal: bool = False,
    allow_changes: bool = False,
) -> tuple[str, list[str]]:
    """A council with MEMBERS members and an open round; returns its id and the link tokens."""
    # Registered before the members arrive: their import is refused for an unknown council.
    await register_council(stack, T)
    await register_council(stack, "kinda")
    for n in range(MEMBERS):
        await publish(
            stack.js,
            ImportMember(
                tenant=T,
                member_id=str(uuid.uuid4()),
                email=f"m{n}@example.se",
                birth_year=1950 + n,
                gender=("female", "male")[n % 2],
                district="Centrum",
                consent_version="2026-1",
                source="paper",
            ),
        )
    panelists = stack.services["rounds"].runtime.db.panelists

    async def enrolled() -> bool:
        return await panelists.count_documents({"tenant": T}) == MEMBERS

    await wait_until(enrolled, timeout=30, what="members enrolled in rounds")
    return await another_round(
        stack, questions, longitudinal=longitudinal, allow_changes=allow_changes
    )


def _tokens(stack: Stack) -> list[str]:
    """The personal links' tokens in every mail sent so far."""
    items, _ = stack.devtools.mailbox.list_mails(limit=10_000)
    found = []
    for item in items:
        text = stack.devtools.mailbox.get_mail(item.id).text
        match = re.search(rf"{re.escape(PORTAL_URL)}/t/{T}/a/([A-Za-z0-9_-]+)", text)
        if match:
            found.append(match.group(1))
    return found


async def another_round(
    stack: Stack,
    questions: tuple[Question, ...] = QUESTIONS,
    *,
    longitudinal: bool = False,
    allow_changes: bool = False,
) -> tuple[str, list[str]]:
    """Open one more round for the council's MEMBERS members; its id and its link tokens."""
    before = set(_tokens(stack))
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Bussar",
            purpose="Plan.",
            questions=questions,
            longitudinal=longitudinal,
            allow_changes=allow_changes,
        ),
    )
    await open_now(stack.js, stack.nc, T, round_id)

    def new_tokens() -> list[str]:
        return [t for t in _tokens(stack) if t not in before]

    await wait_until(lambda: len(new_tokens()) == MEMBERS, timeout=60, what="invitations")
    return round_id, new_tokens()


async def _view(stack: Stack, round_id: str) -> RoundView:
    view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert view is not None
    return view


async def test_many_answers_at_once_are_pushed_and_counted_once(stack: Stack) -> None:
    round_id, tokens = await open_round(stack)
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        submissions = [
            SubmitResponse(tenant=T, token=token, answers={"bus": "Yes"}) for token in tokens
        ]
        # In the same burst: a second answer through a link, an unknown link, a link used
        # under another council's subject, and invalid answers.
        second = SubmitResponse(tenant=T, token=tokens[0], answers={"bus": "No"})
        unknown = SubmitResponse(tenant=T, token="x" * 43, answers={"bus": "No"})
        elsewhere = SubmitResponse(tenant="kinda", token=tokens[1], answers={"bus": "No"})
        invalid = SubmitResponse(tenant=T, token=tokens[2], answers={"bus": "Maybe"})
        burst = [*submissions, second, unknown, elsewhere, invalid]
        await asyncio.gather(*(gateway.submit_response(c) for c in burst))
        # The same delivery again, past the stream's duplicate window (another Nats-Msg-Id).
        copy = submissions[3]
        await publish_raw(
            stack.js,
            f"rounds.{T}.cmd.submit_response",
            copy.model_dump_json().encode(),
            f"copy-{copy.message_id}",
        )
        outcomes = await asyncio.gather(*(gateway.outcome(c.message_id, 30) for c in burst))
    finally:
        await gateway.close()

    pushed = dict(zip([c.message_id for c in burst], outcomes, strict=True))
    assert all(pushed[c.message_id] == Outcome(status="done") for c in submissions[1:])
    # One of the two answers through tokens[0] won; invalid ones may lose to the valid one.
    first_two = {pushed[submissions[0].message_id], pushed[second.message_id]}
    assert first_two == {
        Outcome(status="done"),
        Outcome(status="refused", reason="already_answered"),
    }
    assert pushed[unknown.message_id] == Outcome(status="refused", reason="unknown_token")
    assert pushed[elsewhere.message_id] == Outcome(status="refused", reason="unknown_token")
    assert pushed[invalid.message_id] in (
        Outcome(status="refused", reason="invalid_answers"),
        Outcome(status="refused", reason="already_answered"),
    )

    rounds = stack.services["rounds"].runtime.db

    async def stored() -> bool:
        return await rounds.responses.count_documents({"round_id": round_id}) == MEMBERS

    await wait_until(stored, timeout=30, what="responses stored")
    await asyncio.sleep(0.5)  # let any stray copy land
    assert await rounds.responses.count_documents({"round_id": round_id}) == MEMBERS
    view = await _view(stack, round_id)
    assert (view.invited, view.responded) == (MEMBERS, MEMBERS)
    # Answers arriving together were taken in batches, not one by one.
    desk = stack.services["rounds"].runtime.extras["answer_desk"]
    assert desk._batcher.batches < desk._batcher.items
    assert await list_dead_letters(stack.js) == []


async def test_a_wait_that_times_out_or_a_restarted_portal_still_finds_the_outcome(
    stack: Stack,
) -> None:
    round_id, tokens = await open_round(stack)
    rounds = stack.services["rounds"]
    await rounds.stop()  # the owner is down: nothing can be pushed
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    submit = SubmitResponse(tenant=T, token=tokens[0], answers={"bus": "No"})
    try:
        await gateway.submit_response(submit)
        assert await gateway.outcome(submit.message_id, 0.5) is None  # timed out
    finally:
        await gateway.close()  # and this portal replica goes away

    from services.rounds.app import create_service

    again = create_service(rounds.settings)
    await again.start()
    stack.services["rounds"] = again
    # A new replica, which never sent the command, asks the owner for the recorded outcome.
    query = ResponseOutcome(tenant=T, command_id=submit.message_id)

    async def settled() -> bool:
        try:
            outcome = await ask(stack.nc, query, Outcome)
        except QueryFailed:  # on a busy machine the new replica may not answer at once
            return False
        return outcome is not None and outcome.status == "done"

    await wait_until(settled, timeout=30, what="recorded outcome")
    # Another council cannot read it.
    other = await ask(
        stack.nc, ResponseOutcome(tenant="kinda", command_id=submit.message_id), Outcome
    )
    assert other == Outcome(status="pending")
    assert (await _view(stack, round_id)).responded == 1


async def test_a_command_the_portal_waits_for_is_settled_even_without_its_own_outcome(
    stack: Stack,
) -> None:
    """Staff commands get their outcome from the middleware: done, or refused when rejected."""
    await publish(stack.js, RegisterTenant(tenant=T, display_name="Gnosjö kommun"))
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        create = CreateRound(
            tenant=T, round_id=str(uuid.uuid4()), title="Bad", purpose="Plan.", questions=QUESTIONS
        )
        await gateway.create_round(create)
        assert await gateway.outcome(create.message_id, 15) == Outcome(status="done")
        # Opening a round that does not exist is rejected (and dead-lettered): refused.
        missing = OpenRound(tenant=T, round_id=str(uuid.uuid4()))
        await gateway.open_round(missing)
        outcome = await gateway.outcome(missing.message_id, 15)
        assert outcome is not None
        assert outcome.status == "refused"
    finally:
        await gateway.close()


async def test_a_reply_header_cannot_aim_outcomes_at_any_subject(stack: Stack) -> None:
    await publish(stack.js, RegisterTenant(tenant=T, display_name="Gnosjö kommun"))
    seen: list[bytes] = []

    async def keep(msg: object) -> None:
        seen.append(msg.data)  # type: ignore[attr-defined]

    sub = await stack.nc.subscribe("recruitment.>", cb=keep)
    create = CreateRound(
        tenant=T, round_id=str(uuid.uuid4()), title="Bad", purpose="Plan.", questions=QUESTIONS
    )
    await publish(stack.js, create, headers={REPLY_HEADER: f"recruitment.{T}.cmd.register_tenant"})
    view = GetRound(tenant=T, round_id=create.round_id)

    async def created() -> bool:
        return await ask(stack.nc, view, RoundView) is not None

    await wait_until(created, timeout=15, what="round created")
    await asyncio.sleep(0.3)
    await sub.unsubscribe()
    assert [d for d in seen if b"command_id" in d] == []


async def test_counters_are_repaired_after_a_crash_between_the_writes(stack: Stack) -> None:
    round_id, tokens = await open_round(stack)
    rounds = stack.services["rounds"].runtime
    # As if a crash had come between taking answers and moving the counter.
    await rounds.db.invitations.update_one(
        {"round_id": round_id, "state": "invited"},
        {"$set": {"state": "answered", "uncounted": True}},
    )
    assert (await _view(stack, round_id)).responded == 0
    await reconcile_open_rounds(rounds)
    view = await _view(stack, round_id)
    assert (view.invited, view.responded) == (MEMBERS, 1)
    await reconcile_open_rounds(rounds)  # a second repair (or one racing an answer) adds nothing
    assert (await _view(stack, round_id)).responded == 1
    assert len(tokens) == MEMBERS


async def test_live_results_show_only_the_rate_until_enough_have_answered(stack: Stack) -> None:
    round_id, tokens = await open_round(stack)
    query = GetResults(tenant=T, round_id=round_id)

    async def answer(batch: list[str]) -> None:
        for token in batch:
            await publish(stack.js, SubmitResponse(tenant=T, token=token, answers={"bus": "Yes"}))

    async def responded(n: int) -> bool:
        return (await _view(stack, round_id)).responded == n

    await answer(tokens[:3])
    await wait_until(lambda: responded(3), timeout=30, what="three answers")
    early = await ask(stack.nc, query, RoundResults)
    assert early is not None
    assert early.questions == ()
    assert early.withheld_until == LIVE_MINIMUM
    assert early.response_rate == round(100 * 3 / MEMBERS, 1)

    await answer(tokens[3:LIVE_MINIMUM])
    await wait_until(lambda: responded(LIVE_MINIMUM), timeout=30, what="enough answers")
    shown = await ask(stack.nc, query, RoundResults)
    assert shown is not None
    assert shown.withheld_until is None
    assert shown.questions[0].answered == LIVE_MINIMUM
