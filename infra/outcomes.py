"""Command outcomes: how a command a user waits for went, kept by its message id.

The portal sends such a command (confirm a membership, submit a response) and then asks for
its outcome; "pending" until the owner has handled it. Kept a week, then expired.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Command
from contracts.recruitment import Outcome
from infra.store import Document

RETENTION_SECONDS = 7 * 24 * 3600


async def ensure_index(db: AsyncDatabase[Document]) -> None:
    """Expire outcomes after a week."""
    await db.outcomes.create_index("at", expireAfterSeconds=RETENTION_SECONDS)


async def record(
    db: AsyncDatabase[Document],
    command: Command,
    status: str,
    reason: str | None = None,
) -> None:
    """Keep the first outcome (``done`` or ``refused``) of ``command``; a redelivery keeps it."""
    await db.outcomes.update_one(
        {"_id": command.message_id},
        {
            "$setOnInsert": {
                "tenant": command.tenant,
                "status": status,
                "reason": reason,
                "at": datetime.now(UTC),
            }
        },
        upsert=True,
    )


async def read(db: AsyncDatabase[Document], command_id: str, tenant: str) -> Outcome:
    """The outcome of a command of this council, or pending."""
    doc = await db.outcomes.find_one({"_id": command_id, "tenant": tenant})
    if doc is None:
        return Outcome(status="pending")
    return Outcome(status=doc["status"], reason=doc.get("reason"))
