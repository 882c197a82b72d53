"""The response rate per channel the invitations went out on: dispatch reports each sent
invitation, rounds marks its channel once, and the answers (web, paper) count under the
channel of the member's invitation, live while the round is open and exactly once closed."""

from __future__ import annotations

import asyncio

from contracts.dispatch import MessageSent
from contracts.rounds import (
    CloseRound,
    EnterPaperAnswers,
    GetResults,
    InvitationChannelRate,
    RoundResults,
    SubmitResponse,
)
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.queries import ask
from services.portal.gateway import NatsGateway
from tests.conftest import Stack
from tests.service.test_answers_under_load import MEMBERS, T, open_round


async def _by_invitation(stack: Stack, round_id: str) -> tuple[InvitationChannelRate, ...]:
    results = await ask(stack.nc, GetResults(tenant=T, round_id=round_id), RoundResults)
    assert results is not None
    return results.by_invitation


async def test_the_response_rate_per_invitation_channel(stack: Stack) -> None:
    round_id, tokens = await open_round(stack)
    rt = stack.services["rounds"].runtime

    async def all_marked() -> bool:
        n = await rt.db.invitations.count_documents({"round_id": round_id, "channel": "email"})
        return n == MEMBERS

    await wait_until(all_marked, timeout=30, what="every invitation's channel")
    doc = await rt.db.rounds.find_one({"_id": round_id})
    assert doc is not None
    assert doc["sent_email"] == MEMBERS
    # A copy of a report past the duplicate window counts nothing more; nor does another
    # council's report of the same mail, or a report of a mail that is not an invitation.
    invitation = await rt.db.invitations.find_one({"round_id": round_id})
    assert invitation is not None
    report = MessageSent(
        tenant=T,
        send_id="z" * 36,
        channel="sms",
        template="round_invitation",
        sender_ref=invitation["_id"],
    )
    await publish_raw(
        stack.js, f"dispatch.{T}.evt.message_sent", report.model_dump_json().encode(), "copy-1"
    )
    await publish(stack.js, report.model_copy(update={"tenant": "kinda", "message_id": "x" * 36}))
    await publish(
        stack.js,
        MessageSent(
            tenant=T, send_id="y", channel="sms", template="welcome", sender_ref=invitation["_id"]
        ),
    )
    # Some answer on the web, one on paper (enough for figures while it is open).
    gateway = await NatsGateway.connect(stack.infra.login("portal"))
    try:
        web = [SubmitResponse(tenant=T, token=t, answers={"bus": "Yes"}) for t in tokens[:24]]
        await asyncio.gather(*(gateway.submit_response(c) for c in web))
        for command in web:
            await gateway.outcome(command.message_id, 30)
        paper_member = await rt.db.invitations.find_one({"round_id": round_id, "state": "invited"})
        assert paper_member is not None
        paper = EnterPaperAnswers(
            tenant=T,
            round_id=round_id,
            member_id=paper_member["member_id"],
            answers={"bus": "No"},
            entered_by="anna",
        )
        await gateway.enter_paper_answers(paper)
        assert (await gateway.outcome(paper.message_id, 30)).status == "done"
    finally:
        await gateway.close()
    await asyncio.sleep(0.5)
    live = await _by_invitation(stack, round_id)
    assert live == (
        InvitationChannelRate(
            channel="email", invited=MEMBERS, answered=25, percent=round(2500 / MEMBERS, 1)
        ),
    )
    # Closed: counted afresh from the invitations, the same figures.
    await publish(stack.js, CloseRound(tenant=T, round_id=round_id, closed_by="anna"))

    async def closed() -> bool:
        d = await rt.db.rounds.find_one({"_id": round_id}, {"state": 1})
        return d is not None and d["state"] == "closed"

    await wait_until(closed, timeout=30, what="the round closed")
    assert await _by_invitation(stack, round_id) == live
    responses = await rt.db.responses.find({"round_id": round_id}).to_list()
    assert {r.get("invited_by") for r in responses} == {"email"}
