"""A whole panel round carried by messages between the four back-end services."""

from __future__ import annotations

import asyncio
import re
import uuid

from contracts.feedback import ListPublished, PublishedList, PublishFeedback
from contracts.recruitment import (
    ConfirmMembership,
    EnrolMember,
    ListTenants,
    MembershipOutcome,
    Outcome,
    RegisterTenant,
    TenantList,
)
from contracts.round_lifecycle import PublishResults
from contracts.rounds import (
    AnswerTexts,
    CloseRound,
    CreateRound,
    GetInvitation,
    GetResults,
    GetRound,
    InvitationView,
    ListAnswerTexts,
    Question,
    ResponseOutcome,
    RoundResults,
    RoundView,
    SubmitResponse,
)
from devstack.rounds import open_round as open_now
from devstack.rounds import wait_for_state
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from tests.conftest import PORTAL_URL, Stack

T = "gnosjo"
QUESTIONS = (
    Question(
        key="bus",
        kind="single_choice",
        text="Should the bus run later?",
        options=("Yes", "No", "Don't know"),
    ),
    Question(key="why", kind="free_text", text="Why?"),
)


def _mails_to(stack: Stack, address: str) -> list[str]:
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=address)
    return [stack.devtools.mailbox.get_mail(i.id).text for i in items]


def _token(text: str, path: str) -> str:
    match = re.search(rf"{re.escape(PORTAL_URL)}/t/{T}/{path}/([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


async def _outcome(stack: Stack, query: MembershipOutcome | ResponseOutcome) -> Outcome:
    async def done() -> Outcome | None:
        outcome = await ask(stack.nc, query, Outcome)
        return outcome if outcome and outcome.status != "pending" else None

    result: list[Outcome] = []

    async def check() -> bool:
        outcome = await done()
        if outcome:
            result.append(outcome)
        return outcome is not None

    await wait_until(check, timeout=15, what="command outcome")
    return result[0]


async def _join(stack: Stack, n: int, gender: str, birth_year: int) -> str:
    email = f"Resident{n}@Example.se"
    await publish(
        stack.js,
        EnrolMember(
            tenant=T,
            member_id=str(uuid.uuid4()),
            email=email,
            birth_year=birth_year,
            gender=gender,
            district="Centrum",
            consent_version="2026-1",
        ),
    )
    await wait_until(
        lambda: len(_mails_to(stack, email.lower())) >= 1,
        timeout=15,
        what=f"opt-in mail to {email}",
    )
    token = _token(_mails_to(stack, email.lower())[0], "join/confirm")
    confirm = ConfirmMembership(tenant=T, token=token)
    await publish(stack.js, confirm)
    outcome = await _outcome(stack, MembershipOutcome(tenant=T, command_id=confirm.message_id))
    assert outcome.status == "done"
    return email.lower()


async def test_a_round_from_sign_up_to_feedback(stack: Stack) -> None:
    await publish(stack.js, RegisterTenant(tenant=T, display_name="Gnosjö kommun"))
    await publish(stack.js, RegisterTenant(tenant="kinda", display_name="Kinda kommun"))

    async def tenants_known() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and len(reply.tenants) == 2

    await wait_until(tenants_known, timeout=10, what="tenants registered")

    # Six residents join (double opt-in); five women born 1990, one man born 1950.
    emails = [await _join(stack, i, "female", 1990) for i in range(5)]
    emails.append(await _join(stack, 5, "male", 1950))

    # Reusing a confirmation link is refused.
    reused = _token(_mails_to(stack, emails[0])[0], "join/confirm")
    again = ConfirmMembership(tenant=T, token=reused)
    await publish(stack.js, again)
    refused = await _outcome(stack, MembershipOutcome(tenant=T, command_id=again.message_id))
    assert (refused.status, refused.reason) == ("refused", "already_used")

    tenants = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    assert tenants is not None
    assert {t.tenant: t.members_active for t in tenants.tenants} == {T: 6, "kinda": 0}
    # rounds learns of members from recruitment's events, a moment later: a round opened
    # before then would not reach them.
    panel = stack.services["rounds"].runtime.db.panelists

    async def panel_complete() -> bool:
        return await panel.count_documents({"tenant": T, "state": "active"}) == 6

    await wait_until(panel_complete, timeout=15, what="members in rounds' panel")

    # Staff draft, approve and open a round.
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Kvällsbussar",
            purpose="Underlag för trafikplanen 2027.",
            questions=QUESTIONS,
        ),
    )

    async def state(expected: str) -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return view is not None and view.state == expected

    # Created before it is approved: the two commands have consumers of their own.
    await wait_until(lambda: state("draft"), timeout=15, what="round drafted")
    await open_now(stack.js, stack.nc, T, round_id)
    # Another council cannot see it.
    assert await ask(stack.nc, GetRound(tenant="kinda", round_id=round_id), RoundView) is None

    # Every member gets one invitation with a personal link.
    await wait_until(
        lambda: all(len(_mails_to(stack, e)) == 2 for e in emails), timeout=20, what="invitations"
    )
    tokens = [_token(_mails_to(stack, e)[0], "a") for e in emails]
    assert len(set(tokens)) == 6
    assert all(len(t) >= 43 for t in tokens)  # 256 random bits, URL-safe

    view = await ask(stack.nc, GetInvitation(tenant=T, token=tokens[0]), InvitationView)
    assert view is not None
    assert view.status == "open"
    assert view.purpose.startswith("Underlag")

    # An oversized answer is refused and the link stays usable.
    big = SubmitResponse(tenant=T, token=tokens[0], answers={"why": "x" * 5000})
    await publish(stack.js, big)
    no = await _outcome(stack, ResponseOutcome(tenant=T, command_id=big.message_id))
    assert (no.status, no.reason) == ("refused", "invalid_answers")

    answers = ["Yes", "Yes", "No", "Yes", "Don't know", "No"]
    for token, choice in zip(tokens, answers, strict=True):
        submit = SubmitResponse(tenant=T, token=token, answers={"bus": choice, "why": "Jobb"})
        await publish(stack.js, submit)
        ok = await _outcome(stack, ResponseOutcome(tenant=T, command_id=submit.message_id))
        assert ok.status == "done"

    # A second answer through the same link is refused; an unknown token too.
    second = SubmitResponse(tenant=T, token=tokens[0], answers={"bus": "No"})
    await publish(stack.js, second)
    no = await _outcome(stack, ResponseOutcome(tenant=T, command_id=second.message_id))
    assert (no.status, no.reason) == ("refused", "already_answered")
    bogus = SubmitResponse(tenant=T, token="x" * 43, answers={"bus": "No"})
    await publish(stack.js, bogus)
    no = await _outcome(stack, ResponseOutcome(tenant=T, command_id=bogus.message_id))
    assert (no.status, no.reason) == ("refused", "unknown_token")
    # A tampered token (one character changed) is unknown.
    tampered = tokens[1][:-1] + ("A" if tokens[1][-1] != "A" else "B")
    bad = SubmitResponse(tenant=T, token=tampered, answers={"bus": "No"})
    await publish(stack.js, bad)
    no = await _outcome(stack, ResponseOutcome(tenant=T, command_id=bad.message_id))
    assert (no.status, no.reason) == ("refused", "unknown_token")
    # The same token under another council's subject is unknown there.
    assert (
        await ask(stack.nc, GetInvitation(tenant="kinda", token=tokens[1]), InvitationView) is None
    )

    live = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert live is not None
    assert (live.invited, live.responded) == (6, 6)

    await publish(stack.js, CloseRound(tenant=T, round_id=round_id))
    await wait_until(lambda: state("closed"), timeout=15, what="round closed")

    async def all_recorded() -> bool:
        res = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
        return res is not None and res.questions[0].answered == 6

    await wait_until(all_recorded, timeout=15, what="responses recorded")
    results = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
    assert results is not None
    assert results.response_rate == 100.0
    bus = results.questions[0]
    assert [(o.option, o.count, o.percent) for o in bus.options] == [
        ("Yes", 3, 50.0),
        ("No", 2, 33.3),
        ("Don't know", 1, 16.7),
    ]
    cells = {c.group: c for c in bus.by_gender}
    assert cells["male"].respondents is None  # one man: suppressed
    assert cells["female"].respondents is None  # else total minus women reveals him
    assert cells["male"].counts is None
    assert results.questions[1].free_texts == ()
    assert results.questions[1].texts == 6
    # The texts are paged apart, and searchable.
    page = await ask(
        stack.nc,
        ListAnswerTexts(tenant=T, round_id=round_id, question=QUESTIONS[1].key, limit=4),
        AnswerTexts,
    )
    assert page is not None
    assert [t.text for t in page.texts] == ["Jobb"] * 4
    assert page.total == 6
    assert page.next_after is not None
    rest = await ask(
        stack.nc,
        ListAnswerTexts(
            tenant=T, round_id=round_id, question=QUESTIONS[1].key, after=page.next_after
        ),
        AnswerTexts,
    )
    assert rest is not None
    assert len(rest.texts) == 2
    assert rest.next_after is None
    none = await ask(
        stack.nc,
        ListAnswerTexts(tenant=T, round_id=round_id, question=QUESTIONS[1].key, search="xyz"),
        AnswerTexts,
    )
    assert none is not None
    assert none.texts == ()
    # Another council's staff get nothing.
    other = await ask(
        stack.nc,
        ListAnswerTexts(tenant="kinda", round_id=round_id, question=QUESTIONS[1].key),
        AnswerTexts,
    )
    assert other is None

    # Responses carry no member id.
    stored = await stack.services["rounds"].runtime.db.responses.find_one({})
    assert "member_id" not in stored
    assert set(stored) >= {"answers", "age_band", "gender"}

    # Closed, its results not yet published: the public list does not show it.
    public = await ask(stack.nc, ListPublished(tenant=T), PublishedList)
    assert public == PublishedList(rounds=())
    await publish(stack.js, PublishResults(tenant=T, round_id=round_id, published_by="anna"))
    await wait_for_state(stack.nc, T, round_id, "published")

    async def listed() -> PublishedList | None:
        found = await ask(stack.nc, ListPublished(tenant=T), PublishedList)
        return found if found is not None and found.rounds else None

    public = await wait_until(listed, timeout=15, what="results listed publicly")
    assert [(r.title, r.feedback) for r in public.rounds] == [("Kvällsbussar", None)]
    await publish(
        stack.js,
        PublishFeedback(tenant=T, round_id=round_id, text="Kvällsturerna förlängs från mars."),
    )
    await wait_until(
        lambda: all(len(_mails_to(stack, e)) == 3 for e in emails),
        timeout=20,
        what="feedback mails",
    )
    assert "Kvällsturerna förlängs" in _mails_to(stack, emails[0])[0]

    public = await ask(stack.nc, ListPublished(tenant=T), PublishedList)
    assert public is not None
    assert [(r.title, r.responded, r.feedback) for r in public.rounds] == [
        ("Kvällsbussar", 6, "Kvällsturerna förlängs från mars.")
    ]
    assert await ask(stack.nc, ListPublished(tenant="kinda"), PublishedList) == PublishedList(
        rounds=()
    )

    # Nothing was dead-lettered along the way.
    await asyncio.sleep(0)
    assert await list_dead_letters(stack.js) == []
