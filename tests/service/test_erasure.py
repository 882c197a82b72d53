"""Erasure on request reaches every service, and afterwards no database holds the member id
or any contact of the member."""

from __future__ import annotations

import json
import re
import uuid

from contracts import dispatch, recruitment
from contracts import rounds as rounds_contracts
from contracts.dispatch import SendMessage
from contracts.personal_data import PersonalData
from contracts.recruitment import (
    EraseMember,
    ErasureView,
    GetErasure,
    GetPanelHistory,
    LeavePanel,
    Outcome,
    PanelHistory,
)
from contracts.rounds import GetRound, RoundView, SubmitResponse
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from infra.tokens import token_hash
from tests.conftest import Stack, recruitment_outcome
from tests.service.test_answers_under_load import T, open_round


async def _everything(stack: Stack) -> str:
    """Every document of every service's database, as one text."""
    texts = []
    for service in stack.services.values():
        db = service.runtime.db
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                texts.append(f"{db.name}.{name} {json.dumps(doc, default=str)}")
    return "\n".join(texts)


async def _member_data(stack: Stack, member_id: str) -> dict[str, PersonalData | None]:
    queries = {
        "recruitment": recruitment.GetMemberData(tenant=T, member_id=member_id),
        "rounds": rounds_contracts.GetMemberData(tenant=T, member_id=member_id),
        "dispatch": dispatch.GetMemberData(tenant=T, member_id=member_id),
    }
    return {name: await ask(stack.nc, q, PersonalData) for name, q in queries.items()}


async def test_an_erasure_reaches_every_service_and_leaves_no_trace(stack: Stack) -> None:
    round_id, tokens = await open_round(stack)
    rounds = stack.services["rounds"].runtime.db
    link = await rounds.links.find_one({"_id": token_hash(tokens[0])})
    assert link is not None
    member_id = link["invitation_id"].split(":", 1)[1]
    recruitment = stack.services["recruitment"].runtime.db
    member = await recruitment.members.find_one({"_id": member_id})
    assert member is not None
    email = member["email"]
    # The member answered before asking to be erased; so did another.
    for token in tokens[:2]:
        await publish(stack.js, SubmitResponse(tenant=T, token=token, answers={"bus": "Yes"}))

    async def answered() -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return view is not None and view.responded == 2

    await wait_until(answered, timeout=20, what="two answers")
    assert member_id in await _everything(stack)

    # The member's copy of their data: each service's part, never the answers.
    parts = await _member_data(stack, member_id)
    assert parts["recruitment"] is not None
    assert parts["recruitment"].sections["membership"][0]["email"] == email
    assert parts["rounds"] is not None
    [invitation] = parts["rounds"].sections["invitations"]
    assert (invitation["round"], invitation["answer"]) == ("Bussar", "answered")
    assert "cannot be listed" in parts["rounds"].note
    assert parts["dispatch"] is not None
    assert parts["dispatch"].sections["contact"][0]["email"] == email
    assert [m["message"] for m in parts["dispatch"].sections["messages"]] == ["round_invitation"]
    assert "Yes" not in json.dumps([p.model_dump() for p in parts.values() if p])

    erase = EraseMember(tenant=T, member_id=member_id, requested_by="gnosjo-staff")
    await publish(stack.js, erase)
    await publish(stack.js, erase.model_copy(update={"message_id": str(uuid.uuid4())}))
    view = await _erasure_completed(stack, member_id)
    assert view.forgotten_by == ("dispatch", "rounds")
    assert view.requested_by == "gnosjo-staff"

    # No database keeps the member id or the address; the others are untouched.
    everything = await _everything(stack)
    assert member_id not in everything
    assert email not in everything
    assert await recruitment.members.count_documents({"tenant": T}) == 39
    assert await rounds.panelists.count_documents({"tenant": T}) == 39
    # The round's figures and the responses stay: responses never named anyone.
    view_after = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert view_after is not None
    assert (view_after.invited, view_after.responded) == (40, 2)
    assert await rounds.responses.count_documents({"round_id": round_id}) == 2

    # Nothing is left to copy.
    after = await _member_data(stack, member_id)
    assert after["recruitment"] is None
    assert after["rounds"] is not None
    assert all(not records for records in after["rounds"].sections.values())
    assert after["dispatch"] is not None
    assert all(not records for records in after["dispatch"].sections.values())

    # The panel's history: forty joined this month, one left.
    history = await ask(stack.nc, GetPanelHistory(tenant=T, months=2), PanelHistory)
    assert history is not None
    this_month = history.months[-1]
    assert (this_month.joined, this_month.left, this_month.size_at_end) == (40, 1, 39)
    assert history.months[0].size_at_end == 0  # none a month ago

    # A mail still queued for the erased member is refused at once, not retried for minutes.
    late = SendMessage(tenant=T, member_id=member_id, template="round_invitation")
    await publish(stack.js, late)

    async def refused() -> bool:
        return any(
            d.original_message_id == late.message_id and d.reason == "rejected"
            for d in await list_dead_letters(stack.js)
        )

    await wait_until(refused, timeout=15, what="the late mail refused")
    # Asking again, or for someone unknown: the first changes nothing, the second is refused.
    await publish(stack.js, EraseMember(tenant=T, member_id=member_id, requested_by="member"))
    stranger = EraseMember(tenant=T, member_id=str(uuid.uuid4()), requested_by="member")
    await publish(stack.js, stranger)

    assert (await _outcome(stack, stranger.message_id)).reason == "unknown_member"
    assert member_id not in await _everything(stack)


async def test_a_member_leaves_through_the_link_in_any_mail(stack: Stack) -> None:
    _, tokens = await open_round(stack)
    items, _ = stack.devtools.mailbox.list_mails(limit=1000)
    mail = next(
        text
        for text in (stack.devtools.mailbox.get_mail(i.id).text for i in items)
        if f"/a/{tokens[3]}" in text
    )
    # Every mail names its council and carries the member's own link to leave.
    assert "Medborgarpanelen i Gnosjo" in mail
    found = re.search(rf"/t/{T}/leave/([A-Za-z0-9_-]+)", mail)
    assert found is not None
    link = await stack.services["rounds"].runtime.db.links.find_one({"_id": token_hash(tokens[3])})
    assert link is not None
    member_id = link["invitation_id"].split(":", 1)[1]

    leave = LeavePanel(tenant=T, token=found.group(1))
    await publish(stack.js, leave)
    assert (await _outcome(stack, leave.message_id)).status == "done"
    view = await _erasure_completed(stack, member_id)
    assert view.requested_by == "member"
    assert member_id not in await _everything(stack)
    # The link is gone with the rest.
    again = LeavePanel(tenant=T, token=found.group(1))
    await publish(stack.js, again)
    assert (await _outcome(stack, again.message_id)).reason == "unknown_token"


async def _outcome(stack: Stack, command_id: str) -> Outcome:
    outcome: Outcome = await recruitment_outcome(stack, T, command_id)
    return outcome


async def _erasure_completed(stack: Stack, member_id: str) -> ErasureView:
    """The erasure of ``member_id`` once every service has forgotten the member."""
    query = GetErasure(tenant=T, member_id=member_id)
    found: list[ErasureView] = []

    async def completed() -> bool:
        view = await ask(stack.nc, query, ErasureView)
        if view is not None and view.completed_on is not None:
            found.append(view)
        return bool(found)

    await wait_until(completed, timeout=30, what="every service has forgotten the member")
    return found[0]
