"""The outbox relay: publishes the messages that ride in documents, then removes them.

A handler calls ``flush`` right after its write (the fast path); ``run`` sweeps every
collection for leftovers after a crash or a lost race. Publishing twice is harmless: the
stream drops a second publish with the same Nats-Msg-Id within its duplicate window, and the
removal is conditional on the entry still being there, so the pending count never goes wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import structlog
from nats.js import JetStreamContext
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from infra.bus import publish_raw
from infra.store import Document

log = structlog.get_logger()

SWEEP_INTERVAL_SECONDS = 0.5
SWEEP_BATCH = 500
PUBLISH_CONCURRENCY = 256


class OutboxRelay:
    """Publishes pending messages of the given collections of one service database."""

    def __init__(
        self, db: AsyncDatabase[Document], js: JetStreamContext, collections: Iterable[str]
    ) -> None:
        self._db = db
        self._js = js
        self._collections = tuple(collections)
        self._stopping = asyncio.Event()
        self.published = 0

    async def flush(self, collection: str, ids: Iterable[Any] | None = None) -> int:
        """Publish what is pending in ``collection`` (only in documents ``ids``, if given)."""
        query: Document = {"outbox_pending": {"$gt": 0}}
        if ids is not None:
            query["_id"] = {"$in": list(ids)}
        total = 0
        while True:
            docs = await (
                self._db[collection]
                .find(query, {"outbox": 1, "outbox_pending": 1}, limit=SWEEP_BATCH)
                .to_list()
            )
            if not docs:
                return total
            published = await self._publish_docs(collection, docs)
            repaired = await self._repair_counts(collection, docs)
            total += published
            if len(docs) < SWEEP_BATCH or not (published or repaired):
                return total

    async def _publish_docs(self, collection: str, docs: list[Document]) -> int:
        entries = [
            (doc["_id"], message_id, entry)
            for doc in docs
            for message_id, entry in (doc.get("outbox") or {}).items()
        ]
        semaphore = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def send(message_id: str, entry: Document) -> None:
            async with semaphore:
                await publish_raw(self._js, entry["subject"], entry["data"].encode(), message_id)

        await asyncio.gather(*(send(mid, entry) for _, mid, entry in entries))
        if entries:
            await self._db[collection].bulk_write(
                [
                    UpdateOne(
                        {"_id": doc_id, f"outbox.{mid}": {"$exists": True}},
                        {"$unset": {f"outbox.{mid}": ""}, "$inc": {"outbox_pending": -1}},
                    )
                    for doc_id, mid, _ in entries
                ],
                ordered=False,
            )
        self.published += len(entries)
        return len(entries)

    async def _repair_counts(self, collection: str, docs: list[Document]) -> int:
        """Zero the count of documents that claim pending messages but hold none.

        Conditional on the count read, so an entry added meanwhile is never forgotten.
        """
        repaired = 0
        for doc in docs:
            if not doc.get("outbox"):
                result = await self._db[collection].update_one(
                    {"_id": doc["_id"], "outbox_pending": doc["outbox_pending"]},
                    {"$set": {"outbox_pending": 0}},
                )
                repaired += result.modified_count
        if repaired:
            log.warning("outbox counts repaired", collection=collection, documents=repaired)
        return repaired

    async def run(self) -> None:
        """Sweep every collection until ``stop``; errors are logged and the sweep goes on."""
        while not self._stopping.is_set():
            for collection in self._collections:
                try:
                    await self.flush(collection)
                except Exception as exc:
                    log.warning("outbox sweep failed", collection=collection, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SWEEP_INTERVAL_SECONDS)

    def stop(self) -> None:
        """Ask ``run`` to return after its current sweep."""
        self._stopping.set()
