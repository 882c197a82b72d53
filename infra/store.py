"""Document store wiring and the outbox: a state change and the messages it causes, in one update.

Each service has its own logical database on the same server (MongoDB in production, nx-27017
locally). Messages to publish ride in the changed document under ``outbox.<message_id>`` and
``outbox_pending`` counts them; the relay (``infra.relay``) publishes and removes them.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from contracts.envelope import Envelope
from contracts.subjects import subject_for

Document = dict[str, Any]

DUPLICATE_KEY = 11000
"""The error code of an insert whose ``_id`` (or unique key) is taken."""


def connect(url: str) -> AsyncMongoClient[Document]:
    """A client for the store at ``url``; the caller closes it."""
    return AsyncMongoClient(url, tz_aware=True, uuidRepresentation="standard")


def database(client: AsyncMongoClient[Document], service: str) -> AsyncDatabase[Document]:
    """The service's own logical database; a service never opens another's."""
    return client[f"radslag_{service}"]


def outbox_entry(message: Envelope) -> Document:
    """How a pending message is kept in a document: subject plus the JSON text to publish."""
    return {"subject": subject_for(message), "data": message.model_dump_json()}


def with_outbox(update: Document, *messages: Envelope) -> Document:
    """Add pending messages to an update document (``$set`` of each entry, ``$inc`` the count)."""
    result = copy.deepcopy(update)
    if not messages:
        return result
    sets = result.setdefault("$set", {})
    for message in messages:
        sets[f"outbox.{message.message_id}"] = outbox_entry(message)
    incs = result.setdefault("$inc", {})
    incs["outbox_pending"] = incs.get("outbox_pending", 0) + len(messages)
    return result


def new_document(document: Document, *messages: Envelope) -> Document:
    """A document to insert, carrying its pending messages."""
    result = dict(document)
    result["outbox"] = {m.message_id: outbox_entry(m) for m in messages}
    result["outbox_pending"] = len(messages)
    return result


async def ensure_outbox_index(db: AsyncDatabase[Document], collection: str) -> None:
    """Index what the relay's sweep looks for."""
    await db[collection].create_index("outbox_pending")


async def insert_or_set(collection: Any, documents: dict[str, Document]) -> None:
    """Store each document under its ``_id`` key, in as few round trips as possible.

    New ones are inserted in one operation; those already there (a redelivery, a later event
    for the same key) are then set to the given values, again in one. Both steps are
    idempotent, so a batch that fails midway can be retried whole. Each document must hold
    its ``tenant``, which the update matches on too.
    """
    try:
        await collection.insert_many(
            [{"_id": key, **doc} for key, doc in documents.items()], ordered=False
        )
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(err.get("code") != DUPLICATE_KEY for err in errors):
            raise
        keys = list(documents)
        await collection.bulk_write(
            [
                UpdateOne(
                    {"_id": keys[i], "tenant": documents[keys[i]]["tenant"]},
                    {"$set": documents[keys[i]]},
                    upsert=True,
                )
                for i in sorted({int(err["index"]) for err in errors})
            ],
            ordered=False,
        )


def epoch_ms(moment: datetime | timedelta | None = None) -> int:
    """A time (default: now) or a span in milliseconds.

    Times that are updated and then compared (leases, "last mailed") are kept as numbers: the
    embedded store keeps a datetime written by ``$set`` as a string, which no longer compares
    with times (see ``../shared/notes/embedded-store.md``). A naive datetime is taken as UTC.
    """
    if isinstance(moment, timedelta):
        return int(moment.total_seconds() * 1000)
    moment = moment or datetime.now(UTC)
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    """The UTC time ``epoch_ms`` gave ``ms`` for."""
    return datetime.fromtimestamp(ms / 1000, UTC)


async def insert_new(collection: Any, docs: list[Document]) -> set[int]:
    """Insert documents, keeping those that exist already; the positions that existed."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()
