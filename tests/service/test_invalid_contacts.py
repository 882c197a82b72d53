"""Members whose contact failed for good, on real NATS, the store and the SMTP sink: the mail
server's permanent refusal marks the message failed (never retried, never dead-lettered) and
lists the member for staff without the address; a changed address takes them off the list, a
change of language does not, and erasure deletes the entry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.contacts import InvalidContacts, ListInvalidContacts
from contracts.dispatch import GetMemberData, SendMessage
from contracts.personal_data import PersonalData
from contracts.recruitment import ContactRecorded, MemberErased
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from infra.queries import ask
from tests.conftest import Stack

T = "kinda"


def _invitation(member: str) -> SendMessage:
    return SendMessage(
        tenant=T,
        member_id=member,
        template="round_invitation",
        params={"title": "Bussar", "purpose": "Trafikplanen", "link": f"http://l/{member}"},
    )


async def _listed(stack: Stack) -> InvalidContacts:
    reply = await ask(stack.nc, ListInvalidContacts(tenant=T), InvalidContacts)
    assert reply is not None
    return reply


async def _contacts_handled(stack: Stack) -> None:
    """Every ContactRecorded published so far has been handled and acked by dispatch."""

    async def idle() -> bool:
        info = await stack.js.consumer_info("RECRUITMENT_EVT", "dispatch_contact_recorded")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_until(idle, timeout=15, what="dispatch's contact consumer")


async def _state(stack: Stack, message_id: str) -> str | None:
    doc = await stack.services["dispatch"].runtime.db.messages.find_one({"_id": message_id})
    return None if doc is None else str(doc["state"])


async def test_a_refused_address_is_listed_until_it_changes(stack: Stack) -> None:
    gone, fine, erased = (str(uuid.uuid4()) for _ in range(3))
    for member, email in [
        (gone, "gone@mailbox.invalid"),
        (fine, "fine@kinda.example"),
        (erased, "old@mailbox.invalid"),
    ]:
        await publish(stack.js, ContactRecorded(tenant=T, member_id=member, email=email))
    await _contacts_handled(stack)
    mails = {m: _invitation(m) for m in (gone, fine, erased)}
    for mail in mails.values():
        await publish(stack.js, mail)

    async def settled() -> bool:
        states = [await _state(stack, mail.message_id) for mail in mails.values()]
        return states == ["failed", "sent", "failed"]

    await wait_until(settled, timeout=20, what="the sends")
    listed = await _listed(stack)
    assert sorted((c.member_id, c.channel, c.reason) for c in listed.contacts) == sorted(
        [(gone, "email", "smtp_550"), (erased, "email", "smtp_550")]
    )
    assert "@" not in listed.model_dump_json()
    assert all(c.since[:4].isdigit() for c in listed.contacts)
    # Nothing went to the dead letters: a refusal for good is not retried.
    assert await list_dead_letters(stack.js) == []
    # A copy of the command does not try again.
    mailroom = stack.services["dispatch"].runtime.extras["mailroom"]
    await mailroom.send(mails[gone])
    assert await _state(stack, mails[gone].message_id) == "failed"

    # A change of language keeps the same address: still listed.
    await publish(
        stack.js,
        ContactRecorded(tenant=T, member_id=gone, email="gone@mailbox.invalid", locale="en"),
    )
    await _contacts_handled(stack)
    assert gone in {c.member_id for c in (await _listed(stack)).contacts}

    # An older event with another address, delivered late, changes nothing either.
    await publish(
        stack.js,
        ContactRecorded(
            tenant=T,
            member_id=gone,
            email="older@kinda.example",
            occurred_at=datetime.now(UTC) - timedelta(days=1),
        ),
    )
    await _contacts_handled(stack)
    assert gone in {c.member_id for c in (await _listed(stack)).contacts}

    # A new address: off the list.
    await publish(stack.js, ContactRecorded(tenant=T, member_id=gone, email="new@kinda.example"))

    async def gone_off() -> bool:
        return gone not in {c.member_id for c in (await _listed(stack)).contacts}

    await wait_until(gone_off, timeout=15, what="the member off the list")

    # The member's copy of their data names the refusal.
    copy = await ask(stack.nc, GetMemberData(tenant=T, member_id=erased), PersonalData)
    assert copy is not None
    [refused] = copy.sections["contact_refused"]
    assert (refused["channel"], refused["reason"]) == ("email", "smtp_550")

    # Erasure deletes the entry with the contact.
    await publish(stack.js, MemberErased(tenant=T, member_id=erased, reason="requested"))

    async def empty() -> bool:
        return (await _listed(stack)).contacts == ()

    await wait_until(empty, timeout=15, what="the erased member off the list")
    entries = stack.services["dispatch"].runtime.db.invalid_contacts
    assert await entries.find_one({"member_id": erased}) is None
