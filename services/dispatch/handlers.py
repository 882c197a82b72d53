"""dispatch's use cases: one function per message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate

from pymongo.errors import DuplicateKeyError

from contracts.dispatch import MessageSent, SendMessage
from contracts.recruitment import ContactRecorded
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import with_outbox
from services.dispatch import templates
from services.dispatch.channels import ChannelError, SmtpPool


class ContactMissing(Exception):
    """The contact has not reached the replica yet; retried with back-off."""


class SendInFlight(Exception):
    """Another delivery of the same message is sending it right now; retried with back-off."""


SEND_LEASE = timedelta(minutes=5)
"""How long a claim to send lasts; a crashed sender's claim can be taken over after it.

Well above a slow SMTP exchange (30 s per step) and the consumer's ack wait, so a live
send is never taken over by a redelivered copy."""


async def _claim(rt: Runtime, cmd: SendMessage) -> bool:
    """Claim the right to send this message; False if it was sent already.

    Concurrent deliveries of one message (redelivery, a duplicate past the stream's window,
    several workers) race here: exactly one insert or lease takeover wins.
    """
    now = datetime.now(UTC)
    try:
        await rt.db.messages.insert_one(
            {
                "_id": cmd.message_id,
                "tenant": cmd.tenant,
                "member_id": cmd.member_id,
                "channel": cmd.channel,
                "template": cmd.template,
                "state": "sending",
                "lease_until": now + SEND_LEASE,
                "correlation_id": cmd.correlation_id,
                "created_at": now,
            }
        )
        return True
    except DuplicateKeyError:
        pass
    taken = await rt.db.messages.find_one_and_update(
        {"_id": cmd.message_id, "state": "sending", "lease_until": {"$lt": now}},
        {"$set": {"lease_until": now + SEND_LEASE}},
    )
    if taken is not None:
        return True
    current = await rt.db.messages.find_one({"_id": cmd.message_id}, {"state": 1})
    if current is not None and current["state"] == "sent":
        return False
    raise SendInFlight(cmd.message_id)


async def contact_recorded(rt: Runtime, evt: ContactRecorded) -> None:
    """Keep the member's contact details (the replica erasure will also reach)."""
    await rt.db.contacts.update_one(
        {"_id": f"{evt.tenant}:{evt.member_id}"},
        {
            "$set": {
                "tenant": evt.tenant,
                "member_id": evt.member_id,
                "email": evt.email,
                "phone": evt.phone,
                "locale": evt.locale,
                "updated_at": evt.occurred_at,
            }
        },
        upsert=True,
    )


async def send_message(rt: Runtime, cmd: SendMessage) -> None:
    """Render and send one message; recorded by the command's id so it is sent once.

    The one gap no protocol closes: a crash after the SMTP server accepted the mail but
    before it was marked sent resends it on redelivery, with the same Message-ID header.
    """
    existing = await rt.db.messages.find_one({"_id": cmd.message_id})
    if existing is not None and existing["state"] == "sent":
        return
    contact = await rt.db.contacts.find_one({"_id": f"{cmd.tenant}:{cmd.member_id}"})
    if contact is None:
        raise ContactMissing(cmd.member_id)
    if cmd.channel != "email" or not contact.get("email"):
        raise Rejected(f"no {cmd.channel} channel for this member")
    try:
        rendered = templates.render(cmd.template, contact.get("locale", "sv"), cmd.params)
    except templates.UnknownTemplate as exc:
        raise Rejected(str(exc)) from exc
    if not await _claim(rt, cmd):
        return
    mail = EmailMessage()
    mail["From"] = rt.extras["mail_from"]
    mail["To"] = contact["email"]
    mail["Subject"] = rendered.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{cmd.message_id}@radslag>"
    mail.set_content(rendered.body)
    pool: SmtpPool = rt.extras["smtp"]
    try:
        await pool.send(mail)
    except ChannelError:
        # Give the claim back at once so the retry is not held up by the lease.
        await rt.db.messages.update_one(
            {"_id": cmd.message_id, "state": "sending"},
            {"$set": {"lease_until": datetime.now(UTC)}},
        )
        raise
    await rt.db.messages.update_one(
        {"_id": cmd.message_id, "state": "sending"},
        with_outbox(
            {"$set": {"state": "sent", "sent_at": datetime.now(UTC)}},
            MessageSent.follow(
                cmd, send_id=cmd.message_id, channel=cmd.channel, template=cmd.template
            ),
        ),
    )
