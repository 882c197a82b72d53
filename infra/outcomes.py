"""Command outcomes: how a command a user waits for went, recorded and pushed to the waiter.

The portal sends such a command (sign up, confirm a membership, submit a response, a staff
action) with the header ``Radslag-Reply: outcome.<waiter>``, naming the subject its replica
listens on. The owner records the outcome by the command's message id (kept a week) and then
publishes it to that subject on core NATS, so the waiting request is answered at once without
polling. The record is the durable part: a replica that restarted, or a wait that timed out,
asks for it once with the owner's outcome query. A notification is never stored in a stream;
it carries nothing the record does not.

A handler that decides the outcome itself (refused: unknown token …) calls ``settle`` (or
``record_many`` + ``notify`` when it works in batches); for every other command the reliable
middleware settles it as ``done`` when the handler returns and ``refused`` when it rejects it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from contracts.envelope import Envelope
from contracts.outcomes import OUTCOME_SUBJECT_PREFIX, CommandSettled
from contracts.recruitment import Outcome
from infra.store import DUPLICATE_KEY, Document

log = structlog.get_logger()

RETENTION_SECONDS = 7 * 24 * 3600
REPLY_HEADER = "Radslag-Reply"
"""Header naming the subject a waiting portal replica listens on for a command's outcome."""
_REPLY_RE = re.compile(rf"^{re.escape(OUTCOME_SUBJECT_PREFIX)}[A-Za-z0-9_-]{{8,64}}$")


@dataclass
class Waiter:
    """Someone waits for the command being handled: where to tell them, and whether told."""

    subject: str
    settled: bool = False


current_waiter: ContextVar[Waiter | None] = ContextVar("current_waiter", default=None)
"""Set by the reliable middleware while a command with a reply header is handled."""


def waiter_from_headers(headers: dict[str, Any]) -> Waiter | None:
    """The waiter a message's headers name, if the subject is a valid outcome subject."""
    subject = headers.get(REPLY_HEADER)
    if isinstance(subject, str) and _REPLY_RE.fullmatch(subject):
        return Waiter(subject)
    return None


async def ensure_index(db: AsyncDatabase[Document]) -> None:
    """Expire outcomes after a week."""
    await db.outcomes.create_index("at", expireAfterSeconds=RETENTION_SECONDS)


def _document(command_id: str, tenant: str, status: str, reason: str | None) -> Document:
    return {
        "_id": command_id,
        "tenant": tenant,
        "status": status,
        "reason": reason,
        # The day only: the outcome must not give away when a resident answered.
        "at": datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0),
    }


async def record(
    db: AsyncDatabase[Document], command: Envelope, status: str, reason: str | None = None
) -> None:
    """Keep the first outcome (``done`` or ``refused``) of ``command``; a redelivery keeps it."""
    await record_id(db, command.message_id, command.tenant, status, reason)


async def record_id(
    db: AsyncDatabase[Document], command_id: str, tenant: str, status: str, reason: str | None
) -> None:
    """``record`` by the command's id and tenant (for the middleware, which has no model)."""
    doc = _document(command_id, tenant, status, reason)
    await db.outcomes.update_one(
        {"_id": command_id},
        {"$setOnInsert": {k: v for k, v in doc.items() if k != "_id"}},
        upsert=True,
    )


async def record_many(
    db: AsyncDatabase[Document], settled: Sequence[tuple[Envelope, str, str | None]]
) -> None:
    """Keep the first outcome of many commands in one write; outcomes already kept stay."""
    if not settled:
        return
    try:
        await db.outcomes.insert_many(
            [_document(c.message_id, c.tenant, s, r) for c, s, r in settled], ordered=False
        )
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


async def read(db: AsyncDatabase[Document], command_id: str, tenant: str) -> Outcome:
    """The outcome of a command of this council, or pending."""
    doc = await db.outcomes.find_one({"_id": command_id, "tenant": tenant})
    if doc is None:
        return Outcome(status="pending")
    return Outcome(status=doc["status"], reason=doc.get("reason"))


async def notify(
    nc: Any,
    command_id: str,
    tenant: str,
    status: str,
    reason: str | None = None,
    *,
    waiter: Waiter | None = None,
) -> None:
    """Tell the waiter of the command being handled (if any) how it went; best effort.

    Call only after the outcome is recorded: the waiter trusts it as final. ``waiter`` defaults
    to the one of the command being handled in this context.
    """
    waiter = waiter or current_waiter.get()
    if waiter is None or waiter.settled:
        return
    waiter.settled = True
    message = CommandSettled(command_id=command_id, tenant=tenant, status=status, reason=reason)
    try:
        await nc.publish(waiter.subject, message.model_dump_json().encode())
    except Exception as exc:  # the waiter falls back to the record
        log.warning("outcome notification failed", error=repr(exc)[:300])


async def told_again(db: AsyncDatabase[Document], nc: Any, command: Envelope) -> bool:
    """Whether ``command`` was settled before (a redelivery): then its waiter is told the
    recorded outcome again, and the handler changes nothing."""
    done = await db.outcomes.find_one({"_id": command.message_id, "tenant": command.tenant})
    if done is None:
        return False
    await notify(nc, command.message_id, command.tenant, done["status"], done.get("reason"))
    return True


async def settle(
    db: AsyncDatabase[Document], nc: Any, command: Envelope, status: str, reason: str | None = None
) -> None:
    """Record a command's outcome, then push it to the waiting portal replica."""
    await record(db, command, status, reason)
    await notify(nc, command.message_id, command.tenant, status, reason)
