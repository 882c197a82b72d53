"""Per-address rate limits, counted in the portal's database so every replica shares them.

One document per endpoint group, client and fixed window: ``_id`` =
``<scope>:<client hash>:<window start ms>``, with the count ``n`` and ``expires_ms``, the time
after which the window no longer counts. Requests that arrive together cost two operations
in all: one bulk of upserted ``$inc`` of their current windows, then one read of those and
the previous windows; ``SlidingWindow`` decides from the two counts. So a request takes the
same time however many clients there are, and the portal keeps nothing per client in memory
beyond the batch in hand.

Expired windows are deleted by ``purge``, which the app runs in the background every window:
the collection holds at most the windows of the last two periods plus one purge interval.
(A TTL index would need a datetime, which the embedded store keeps as a string when it comes
through ``$set``, as an upsert's does; see ``../shared/notes/embedded-store.md``.)

Clients are counted by an HMAC of their address (``client_key``: IPv4 address, IPv6 /64)
under the installation's key, so the collection holds no addresses, and the hashes it holds
are gone within minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from infra.batching import Batcher
from infra.store import Document
from services.portal.domain import SlidingWindow, client_key

log = structlog.get_logger()

COLLECTION = "rate_limits"


@dataclass(frozen=True)
class Verdict:
    """Whether a request is within its limit, and if not, when to try again."""

    allowed: bool
    retry_after: int = 0


class RateLimits:
    """Counts requests per endpoint group (``scope``) and client in the portal's database."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        key: bytes,
        window: SlidingWindow,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collection = db[COLLECTION]
        self.window = window
        self._key = key
        self._clock = clock
        self._hits: Batcher[tuple[str, str], Verdict] = Batcher(self._hit_many, max_size=256)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def client_hash(self, address: str) -> str:
        """What the counts are keyed by instead of the address."""
        digest = hmac.new(self._key, client_key(address).encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    async def ensure_indexes(self) -> None:
        """The purge finds expired windows by ``expires_ms``."""
        await self.collection.create_index("expires_ms")

    async def hit(self, scope: str, address: str) -> Verdict:
        """Count one request from ``address`` to ``scope``, and judge it.

        Requests arriving together are counted together (``infra.batching``): one bulk
        ``$inc`` of their windows and one read of those and the previous ones, whatever their
        number, so the store's single writer is not asked once per request."""
        return await self._hits.submit((scope, self.client_hash(address)))

    async def _hit_many(self, hits: Sequence[tuple[str, str]]) -> list[Verdict]:
        now = self._now_ms()
        start = self.window.start(now)
        length = self.window.length_ms
        ids = [f"{scope}:{client}:{start}" for scope, client in hits]
        added = Counter(ids)
        # Plain integers only: a datetime written by $set does not stay one in the
        # embedded store.
        await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": window},
                    {"$inc": {"n": n}, "$set": {"expires_ms": start + 2 * length}},
                    upsert=True,
                )
                for window, n in added.items()
            ],
            ordered=False,
        )
        before_ids = {f"{scope}:{client}:{start - length}" for scope, client in hits}
        counts = {
            doc["_id"]: int(doc.get("n") or 0)
            async for doc in self.collection.find({"_id": {"$in": [*added, *before_ids]}})
        }
        verdicts: list[Verdict] = []
        seen: Counter[str] = Counter()
        for (scope, client), window in zip(hits, ids, strict=True):
            seen[window] += 1
            # The k-th of this batch's requests in a window counts as if it came k-th.
            count = max(counts.get(window, 0) - added[window] + seen[window], seen[window])
            before = counts.get(f"{scope}:{client}:{start - length}", 0)
            if self.window.allows(before, count, now):
                verdicts.append(Verdict(allowed=True))
            else:
                retry = self.window.retry_after(before, count, now)
                verdicts.append(Verdict(allowed=False, retry_after=retry))
        return verdicts

    async def purge(self) -> int:
        """Delete the windows that no longer count; returns how many."""
        result = await self.collection.delete_many({"expires_ms": {"$lte": self._now_ms()}})
        return result.deleted_count

    async def purge_every(self, seconds: float) -> None:
        """Purge forever, every ``seconds``; a failed purge is logged and tried again."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.purge()
            except Exception as exc:  # the store is away: the next round catches up
                log.warning("rate-limit purge failed", error=type(exc).__name__)
