"""Group commit: many concurrent handler calls share one store round trip.

A consumer runs several deliveries at once (``max_workers``). Each handler hands its item to a
``Batcher`` and awaits its own result; the batcher runs one ``work(items)`` call for every item
that arrived while the previous call was in flight. Under no load a batch holds one item and
adds no delay; under load batches grow by themselves, so the cost per item falls as the rate
rises. Each delivery is still acked, retried or dead-lettered on its own: a batch that fails
raises in every caller, and ``work`` may instead return an exception for a single item, which
is raised in that item's caller only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from infra.store import Document, insert_or_set

if TYPE_CHECKING:
    from infra.service import Runtime

T = TypeVar("T")
R = TypeVar("R")

Work = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[T, R]):
    """Collects items from concurrent callers and processes them ``max_size`` at a time.

    ``work`` receives the items in arrival order and returns one result per item, in the same
    order (an exception instance in place of a result fails only that item's caller).
    """

    def __init__(self, work: Work[T, R], *, max_size: int = 256, concurrency: int = 1) -> None:
        self._work = work
        self._max_size = max_size
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._running = 0
        self._concurrency = concurrency
        self.batches = 0
        """How many ``work`` calls ran (for tests and metrics)."""
        self.items = 0
        """How many items they held."""

    async def submit(self, item: T) -> R:
        """Hand over ``item`` and wait for its result (or its exception)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._running < self._concurrency:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            # Let the other callers scheduled in this turn of the loop join the first batch.
            await asyncio.sleep(0)
            while self._queue:
                batch = self._queue[: self._max_size]
                del self._queue[: self._max_size]
                await self._run(batch)
        finally:
            self._running -= 1

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._work([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch work returned {len(results)} results for {len(batch)}")
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # the caller was cancelled
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


class _Dated(Protocol):
    """An event about one member (read-only fields, as frozen messages have)."""

    @property
    def tenant(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...


E = TypeVar("E", bound=_Dated)


def latest_per_member(events: Sequence[E]) -> dict[str, E]:
    """The newest of each member's events in a batch, keyed ``tenant:member_id``."""
    latest: dict[str, E] = {}
    for event in events:
        key = f"{event.tenant}:{event.member_id}"
        if key not in latest or event.occurred_at >= latest[key].occurred_at:
            latest[key] = event
    return latest


async def keep_latest(
    rt: Runtime, collection: str, event: E, document: Callable[[E], Document]
) -> None:
    """Keep ``event`` in a replica: one document per member in ``collection``, keyed
    ``tenant:member_id``, holding ``document(event)`` of the member's latest event.

    Concurrent deliveries share their writes: a member import arrives as thousands of events at
    once, and each batch is one insert of the new documents and one update of those already
    there. A redelivery or a duplicate writes the same values again; if a write fails, every
    delivery of the batch is retried, which is safe for the same reason.
    """
    key = f"replica:{collection}"
    batcher: Batcher[E, None] | None = rt.extras.get(key)
    if batcher is None:

        async def work(events: Sequence[E]) -> list[None]:
            latest = latest_per_member(events)
            documents = {k: {"tenant": e.tenant, **document(e)} for k, e in latest.items()}
            await insert_or_set(rt.db[collection], documents)
            return [None] * len(events)

        batcher = rt.extras[key] = Batcher(work, max_size=200)
    await batcher.submit(event)
