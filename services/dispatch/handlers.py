"""dispatch's use cases: one function per message."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.dispatch import ContactForgotten, GetMemberData, SendMessage
from contracts.personal_data import PersonalData
from contracts.recruitment import ContactRecorded, MemberErased
from infra.batching import keep_latest
from infra.service import Runtime
from infra.store import Document
from infra.tokens import derived_id
from services.dispatch import invalid_contacts
from services.dispatch.mailroom import ContactMissing, Mailroom, SendInFlight, forgotten_key

__all__ = [
    "ContactMissing",
    "SendInFlight",
    "contact_recorded",
    "member_data",
    "member_erased",
    "send_message",
]


async def contact_recorded(rt: Runtime, evt: ContactRecorded) -> None:
    """Keep the member's contact details (the replica erasure will also reach); a contact
    that changed takes the member off the list of invalid contacts."""
    await keep_latest(rt, "contacts", evt, _contact)
    await invalid_contacts.contact_recorded(rt, evt)


async def member_erased(rt: Runtime, evt: MemberErased) -> None:
    """Forget an erased member: the contact, and the member id on every message sent to them.

    What stays is a hash (``forgotten_key``) that refuses the mails still queued for them,
    and ``ContactForgotten`` for recruitment, sent from a document named after the erasure
    message, not the member."""
    await rt.db.contacts.delete_one({"_id": f"{evt.tenant}:{evt.member_id}"})
    await invalid_contacts.forget(rt, evt.tenant, evt.member_id)
    await rt.db.forgotten.update_one(
        {"_id": forgotten_key(evt.tenant, evt.member_id)},
        {"$set": {"on": datetime.now(UTC).date().isoformat()}},
        upsert=True,
    )
    await rt.db.messages.update_many(
        {"tenant": evt.tenant, "member_id": evt.member_id}, {"$unset": {"member_id": ""}}
    )
    done = ContactForgotten.follow(evt, member_id=evt.member_id)
    await rt.send_once("erasures", derived_id(evt.message_id, "contact_forgotten"), done)


async def member_data(rt: Runtime, q: GetMemberData) -> PersonalData:
    """What dispatch holds about a member: the contact, and which messages went out when (not
    their texts: each was made from the template named, and not kept)."""
    contact = await rt.db.contacts.find_one({"_id": f"{q.tenant}:{q.member_id}"})
    messages = await rt.db.messages.find(
        {"member_id": q.member_id, "tenant": q.tenant},
        {"template": 1, "channel": 1, "state": 1, "created_at": 1, "sent_at": 1},
    ).to_list()
    refused = await invalid_contacts.entries(rt, q.tenant, q.member_id)
    return PersonalData(
        service="dispatch",
        sections={
            "contact_refused": refused,
            "contact": [
                {
                    "email": contact.get("email"),
                    "phone": contact.get("phone"),
                    "language": contact.get("locale"),
                }
            ]
            if contact
            else [],
            "messages": [
                {
                    "message": m.get("template"),
                    "channel": m.get("channel"),
                    "state": m.get("state"),
                    "created": str(m.get("created_at")),
                    "sent": str(m["sent_at"]) if m.get("sent_at") else None,
                }
                for m in messages
            ],
        },
        note="The texts of the messages are not kept: each was made from the template named.",
    )


def _contact(e: ContactRecorded) -> Document:
    return {
        "member_id": e.member_id,
        "email": e.email,
        "phone": e.phone,
        "locale": e.locale,
        "council": e.council,
        # How the member wants panel messages: the mailroom sends SMS to one who chose them.
        "channel": e.channel,
        # The member's link to leave, kept sealed: a copy of the database yields no link.
        "sealed": e.sealed,
        "updated_at": e.occurred_at,
    }


async def send_message(rt: Runtime, cmd: SendMessage) -> None:
    """Send one message, once: recorded by the command's id (see ``mailroom`` for how).

    Concurrent deliveries share their store round trips; each is still acked, retried or
    dead-lettered on its own.
    """
    mailroom: Mailroom = rt.extras["mailroom"]
    await mailroom.send(cmd)
