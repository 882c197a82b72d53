"""dispatch's use cases: one function per message."""

from __future__ import annotations

from contracts.dispatch import SendMessage
from contracts.recruitment import ContactRecorded, MemberErased
from infra.batching import keep_latest
from infra.service import Runtime
from infra.store import Document
from services.dispatch.mailroom import ContactMissing, Mailroom, SendInFlight

__all__ = ["ContactMissing", "SendInFlight", "contact_recorded", "member_erased", "send_message"]


async def contact_recorded(rt: Runtime, evt: ContactRecorded) -> None:
    """Keep the member's contact details (the replica erasure will also reach)."""
    await keep_latest(rt, "contacts", evt, _contact)


async def member_erased(rt: Runtime, evt: MemberErased) -> None:
    """Forget the member's contact details (a mail still queued for them cannot be sent)."""
    await rt.db.contacts.delete_one({"_id": f"{evt.tenant}:{evt.member_id}"})


def _contact(e: ContactRecorded) -> Document:
    return {
        "member_id": e.member_id,
        "email": e.email,
        "phone": e.phone,
        "locale": e.locale,
        "updated_at": e.occurred_at,
    }


async def send_message(rt: Runtime, cmd: SendMessage) -> None:
    """Send one message, once: recorded by the command's id (see ``mailroom`` for how).

    Concurrent deliveries share their store round trips; each is still acked, retried or
    dead-lettered on its own.
    """
    mailroom: Mailroom = rt.extras["mailroom"]
    await mailroom.send(cmd)
