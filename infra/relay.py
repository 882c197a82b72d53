"""The outbox relay: publishes the messages that ride in documents, then removes them.

A handler calls ``flush`` right after its write (the fast path), or ``publish_written`` with
the messages it just wrote, which skips reading them back; ``run`` sweeps every collection for
leftovers after a crash or a lost race. Calls from concurrent handlers are coalesced
(``infra.batching``): one read, one round of asynchronous publishes and one bulk removal serve
all of them. Publishing twice is harmless: the
stream drops a second publish with the same Nats-Msg-Id within its duplicate window, and the
removal is conditional on the entry still being there, so the pending count never goes wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

import structlog
from nats.js import JetStreamContext
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Envelope
from infra.batching import Batcher
from infra.store import Document, outbox_entry

log = structlog.get_logger()

SWEEP_INTERVAL_SECONDS = 0.5
SWEEP_BATCH = 500
PUBLISH_TIMEOUT_SECONDS = 10.0
"""How long the relay waits for the stream's acks of one round of publishes."""

Written = tuple[Any, str, Document]
"""A pending message as a handler wrote it: (document id, message id, outbox entry)."""


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
        self._flushers: dict[str, Batcher[list[Any], int]] = {}
        self._writers: dict[tuple[str, bool], Batcher[list[Written], int]] = {}
        self._writing: Counter[tuple[str, Any]] = Counter()
        """(collection, document id) whose messages ``publish_written`` is publishing now."""

    def _flusher(self, collection: str) -> Batcher[list[Any], int]:
        if collection not in self._flushers:

            async def work(id_lists: Any) -> list[int]:
                ids = list({i for ids in id_lists for i in ids})
                total = await self._flush_ids(collection, ids)
                return [total] * len(id_lists)

            self._flushers[collection] = Batcher(work, max_size=64)
        return self._flushers[collection]

    def _writer(self, collection: str, sole: bool) -> Batcher[list[Written], int]:
        if (collection, sole) not in self._writers:

            async def work(lists: Any) -> list[int]:
                entries = [entry for written in lists for entry in written]
                await self._publish_entries(collection, entries, sole=sole)
                return [len(written) for written in lists]

            self._writers[collection, sole] = Batcher(work, max_size=64)
        return self._writers[collection, sole]

    async def publish_written(
        self, collection: str, written: Iterable[tuple[Any, Envelope]], *, sole: bool = False
    ) -> None:
        """Publish messages a handler has just stored in ``collection``, without reading them.

        ``written`` holds (document id, message) pairs whose outbox entries the handler's write
        created. If this fails, the entries stay in their documents for the sweep. ``sole``
        says they are the last entries their documents will ever get (written with a final
        state), so one ``update_many`` empties those outboxes instead of one update each.
        """
        entries = [(doc_id, m.message_id, outbox_entry(m)) for doc_id, m in written]
        if not entries:
            return
        # The sweep leaves these documents alone meanwhile, instead of publishing them twice.
        writing = Counter((collection, doc_id) for doc_id, _, _ in entries)
        self._writing.update(writing)
        try:
            await self._writer(collection, sole).submit(entries)
        finally:
            for key, n in writing.items():
                left = self._writing[key] - n
                if left > 0:
                    self._writing[key] = left
                else:
                    del self._writing[key]

    async def flush(self, collection: str, ids: Iterable[Any] | None = None) -> int:
        """Publish what is pending in ``collection`` (only in documents ``ids``, if given)."""
        if ids is not None:
            return await self._flusher(collection).submit(list(ids))
        return await self._flush_ids(collection, None)

    async def _flush_ids(self, collection: str, ids: list[Any] | None) -> int:
        query: Document = {"outbox_pending": {"$gt": 0}}
        if ids is not None:
            query["_id"] = {"$in": ids}
        total = 0
        while True:
            docs = await (
                self._db[collection]
                .find(query, {"outbox": 1, "outbox_pending": 1}, limit=SWEEP_BATCH)
                .to_list()
            )
            if ids is None and self._writing:
                docs = [d for d in docs if (collection, d["_id"]) not in self._writing]
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
        await self._publish_entries(collection, entries)
        return len(entries)

    async def _publish_entries(
        self, collection: str, entries: list[Written], *, sole: bool = False
    ) -> None:
        """Publish every entry, wait for all the stream's acks, then remove them in one write."""
        if not entries:
            return
        acks = [
            await self._js.publish_async(
                entry["subject"], entry["data"].encode(), headers={"Nats-Msg-Id": message_id}
            )
            for _, message_id, entry in entries
        ]
        await asyncio.wait_for(asyncio.gather(*acks), PUBLISH_TIMEOUT_SECONDS)
        if sole:
            # Nothing else is or will be pending in these documents: empty them all at once.
            await self._db[collection].update_many(
                {"_id": {"$in": list({doc_id for doc_id, _, _ in entries})}},
                {"$unset": {"outbox": ""}, "$set": {"outbox_pending": 0}},
            )
            self.published += len(entries)
            return
        # One update per document (the store pays per operation): it removes that document's
        # entries only if all of them are still there, so the count stays exact; if another
        # relay removed one meanwhile, the rest stay for the sweep (republishing is harmless).
        by_doc: dict[Any, dict[str, None]] = {}
        for doc_id, mid, _ in entries:
            by_doc.setdefault(doc_id, {})[mid] = None
        if by_doc:
            await self._db[collection].bulk_write(
                [
                    UpdateOne(
                        {"_id": doc_id, **{f"outbox.{m}": {"$exists": True} for m in mids}},
                        {
                            "$unset": dict.fromkeys((f"outbox.{m}" for m in mids), ""),
                            "$inc": {"outbox_pending": -len(mids)},
                        },
                    )
                    for doc_id, mids in by_doc.items()
                ],
                ordered=False,
            )
        self.published += len(entries)

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
