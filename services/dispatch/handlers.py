"""dispatch's use cases: one function per message."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate

from pymongo.errors import DuplicateKeyError

from contracts.dispatch import MessageSent, SendMessage
from contracts.recruitment import ContactRecorded
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import with_outbox
from services.dispatch import templates
from services.dispatch.channels import SmtpPool


class ContactMissing(Exception):
    """The contact has not reached the replica yet; retried with back-off."""


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
    if existing is None:
        with contextlib.suppress(DuplicateKeyError):
            await rt.db.messages.insert_one(
                {
                    "_id": cmd.message_id,
                    "tenant": cmd.tenant,
                    "member_id": cmd.member_id,
                    "channel": cmd.channel,
                    "template": cmd.template,
                    "state": "sending",
                    "correlation_id": cmd.correlation_id,
                    "created_at": datetime.now(UTC),
                }
            )
    mail = EmailMessage()
    mail["From"] = rt.extras["mail_from"]
    mail["To"] = contact["email"]
    mail["Subject"] = rendered.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{cmd.message_id}@radslag>"
    mail.set_content(rendered.body)
    pool: SmtpPool = rt.extras["smtp"]
    await pool.send(mail)
    await rt.db.messages.update_one(
        {"_id": cmd.message_id, "state": "sending"},
        with_outbox(
            {"$set": {"state": "sent", "sent_at": datetime.now(UTC)}},
            MessageSent.follow(
                cmd, send_id=cmd.message_id, channel=cmd.channel, template=cmd.template
            ),
        ),
    )
