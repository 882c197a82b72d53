"""Persisted timers, claimed with a lease: a timer fires once however many replicas run and
whatever process dies (DESIGN.md, reliability rules). No timer lives only in memory.

A timer is a document in a service's ``timers`` collection:

- ``_id``: what it does, e.g. ``round:<id>:close`` (one timer per purpose, so setting it again
  replaces it); ``tenant`` and ``group`` (what it belongs to: ``cancel_group`` ends them all);
- ``action`` and ``params``: the name of the function that runs it and its arguments;
- ``due_ms``: when it is due (epoch ms: the embedded store keeps a ``$set`` datetime as text);
- ``state``: ``pending``, then ``done`` (or ``cancelled``); a string, never a boolean;
- ``generation``: which setting of the timer this is. Set again with the same generation it is
  left alone (a redelivered command), with another it is replaced, even while it runs;
- ``owner``, ``claim``, ``lease_until_ms``: who runs it now and until when that claim holds.

A ``TimerLoop`` in every replica claims one due timer whose lease is over with a single
``find_one_and_update`` (so exactly one replica wins it), renews the lease while the action
runs, then marks it done, guarded by its claim: a timer replaced meanwhile stays pending with
its new due time. A replica that dies leaves its claim to run out; another claims the timer
then and runs the action again, so actions must be idempotent (deterministic ids, guarded
transitions). A failing action is retried with back-off, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from infra.bus import RetryLater
from infra.store import Document, epoch_ms, insert_new

log = structlog.get_logger()

PENDING, DONE, CANCELLED = "pending", "done", "cancelled"
RETRY_SECONDS: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0, 300.0)
"""Delay before the 2nd, 3rd, … attempt of an action that failed (the last one repeats)."""


class TimerSettings(BaseSettings):
    """How long a claim holds and how often a replica looks for due timers (environment:
    TIMER_LEASE_SECONDS, TIMER_POLL_SECONDS)."""

    model_config = SettingsConfigDict(env_prefix="TIMER_", extra="ignore")

    lease_seconds: float = 60.0
    """A claim holds this long without renewal: a dead replica's timer waits at most this."""
    poll_seconds: float = 1.0
    """A due timer fires at most this late (plus the time the one before it took)."""


@dataclass(frozen=True)
class Timer:
    """A claimed timer, as its action sees it."""

    timer_id: str
    tenant: str
    group: str
    action: str
    due_ms: int
    generation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 1

    @classmethod
    def of(cls, doc: Document) -> Timer:
        """The timer a stored document describes."""
        return cls(
            timer_id=str(doc["_id"]),
            tenant=str(doc["tenant"]),
            group=str(doc["group"]),
            action=str(doc["action"]),
            due_ms=int(doc["due_ms"]),
            generation=str(doc["generation"]),
            params=dict(doc.get("params") or {}),
            attempts=int(doc.get("attempts") or 1),
        )


def timer_document(
    timer_id: str,
    *,
    tenant: str,
    group: str,
    action: str,
    due_ms: int,
    generation: str,
    params: Mapping[str, Any] | None = None,
) -> Document:
    """A pending timer, not claimed by anyone."""
    return {
        "_id": timer_id,
        "tenant": tenant,
        "group": group,
        "action": action,
        "params": dict(params or {}),
        "due_ms": due_ms,
        "generation": generation,
        "state": PENDING,
        "owner": None,
        "claim": None,
        "lease_until_ms": 0,
        "attempts": 0,
    }


async def set_timer(collection: AsyncCollection[Document], doc: Document) -> bool:
    """Store a timer (``timer_document``) unless it is already this generation: a new timer is
    inserted, one of another generation replaced whatever its state (a claim on it is then
    void: its holder's ``finish`` matches nothing). True when something was written."""
    replaced = await collection.replace_one(
        {"_id": doc["_id"], "generation": {"$ne": doc["generation"]}}, doc
    )
    if replaced.matched_count:
        return True
    return not await insert_new(collection, [doc])


async def cancel_group(collection: AsyncCollection[Document], tenant: str, group: str) -> int:
    """Cancel every pending timer of ``group``; how many were."""
    result = await collection.update_many(
        {"tenant": tenant, "group": group, "state": PENDING}, {"$set": {"state": CANCELLED}}
    )
    return int(result.modified_count)


async def claim_due(
    collection: AsyncCollection[Document], owner: str, now_ms: int, lease_ms: int
) -> tuple[Timer, str] | None:
    """Claim the earliest due timer no one holds (or whose holder's lease ran out) for
    ``lease_ms``; the timer and the claim's token, or None when nothing is due."""
    claim = uuid.uuid4().hex
    doc = await collection.find_one_and_update(
        {"state": PENDING, "due_ms": {"$lte": now_ms}, "lease_until_ms": {"$lt": now_ms}},
        {
            "$set": {"owner": owner, "claim": claim, "lease_until_ms": now_ms + lease_ms},
            "$inc": {"attempts": 1},
        },
        sort=[("due_ms", 1)],
        return_document=ReturnDocument.AFTER,
    )
    return None if doc is None else (Timer.of(doc), claim)


async def renew(
    collection: AsyncCollection[Document], timer_id: str, claim: str, until_ms: int
) -> bool:
    """Extend a claim still held; False when it is not (replaced, cancelled or taken over)."""
    result = await collection.update_one(
        {"_id": timer_id, "claim": claim, "state": PENDING},
        {"$set": {"lease_until_ms": until_ms}},
    )
    return bool(result.matched_count)


async def finish(
    collection: AsyncCollection[Document], timer_id: str, claim: str, now_ms: int
) -> bool:
    """Mark a timer done by the claim that ran it (also if its group was cancelled while it
    ran: it did run); False when the claim was void by then (the timer was replaced, and stays
    pending with its new due time)."""
    result = await collection.update_one(
        {"_id": timer_id, "claim": claim, "state": {"$in": [PENDING, CANCELLED]}},
        {"$set": {"state": DONE, "fired_ms": now_ms, "lease_until_ms": 0}},
    )
    return bool(result.matched_count)


async def release(
    collection: AsyncCollection[Document],
    timer_id: str,
    claim: str,
    retry_at_ms: int,
    error: str | None = None,
) -> bool:
    """Give a claim back: the timer may be claimed again from ``retry_at_ms``."""
    changes: Document = {"lease_until_ms": retry_at_ms}
    if error is not None:
        changes["last_error"] = error[:500]
    result = await collection.update_one(
        {"_id": timer_id, "claim": claim, "state": PENDING}, {"$set": changes}
    )
    return bool(result.matched_count)


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt of an action that failed ``attempts`` times."""
    return RETRY_SECONDS[min(max(attempts, 1), len(RETRY_SECONDS)) - 1]


Action = Callable[[Timer], Awaitable[None]]
"""Runs a due timer; idempotent. ``RetryLater`` asks to run it again after its delay."""


def new_owner() -> str:
    """A name for this process's claims (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TimerLoop:
    """Claims due timers of one collection and runs their actions, one at a time."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        actions: Mapping[str, Action],
        settings: TimerSettings | None = None,
        *,
        owner: str | None = None,
        clock: Callable[[], int] = epoch_ms,
    ) -> None:
        self.collection = collection
        self.actions = actions
        self.settings = settings or TimerSettings()
        self.owner = owner or new_owner()
        self._clock = clock

    @property
    def _lease_ms(self) -> int:
        return int(self.settings.lease_seconds * 1000)

    async def run(self) -> None:
        """Fire due timers until cancelled; a failure of the loop itself is logged, and the
        loop goes on."""
        while True:
            try:
                await self.run_due()
            except Exception as exc:
                log.error("timer loop failed", error=repr(exc)[:500])
            await asyncio.sleep(self.settings.poll_seconds)

    async def run_due(self) -> int:
        """Claim and run every timer due now, one after the other; how many were claimed."""
        ran = 0
        while (
            claimed := await claim_due(self.collection, self.owner, self._clock(), self._lease_ms)
        ) is not None:
            timer, claim = claimed
            ran += 1
            await self._fire(timer, claim)
        return ran

    async def _fire(self, timer: Timer, claim: str) -> None:
        action = self.actions.get(timer.action)
        bound = structlog.contextvars.bound_contextvars(
            timer=timer.timer_id, tenant=timer.tenant, attempt=timer.attempts
        )
        with bound:
            if action is None:
                log.error("timer has no action here", action=timer.action)
                await self._retry(timer, claim, retry_delay(timer.attempts), "unknown action")
                return
            keeper = asyncio.create_task(self._keep(timer.timer_id, claim))
            try:
                await action(timer)
            except RetryLater as exc:
                log.info("timer not ready yet", reason=str(exc), retry_in=exc.delay)
                await self._retry(timer, claim, exc.delay, None)
                return
            except asyncio.CancelledError:
                # Stopping: let another replica take it over at once instead of after the lease.
                with contextlib.suppress(Exception):
                    await release(self.collection, timer.timer_id, claim, 0)
                raise
            except Exception as exc:
                delay = retry_delay(timer.attempts)
                log.error("timer action failed", error=repr(exc)[:500], retry_in=delay)
                await self._retry(timer, claim, delay, repr(exc))
                return
            finally:
                keeper.cancel()
            if await finish(self.collection, timer.timer_id, claim, self._clock()):
                log.info("timer fired", action=timer.action)
            else:
                log.info("timer was set again while it ran; the new setting stays")

    async def _retry(self, timer: Timer, claim: str, delay: float, error: str | None) -> None:
        retry_at = self._clock() + int(delay * 1000)
        await release(self.collection, timer.timer_id, claim, retry_at, error)

    async def _keep(self, timer_id: str, claim: str) -> None:
        """Renew the claim while the action runs (a third of the lease apart)."""
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                if not await renew(
                    self.collection, timer_id, claim, self._clock() + self._lease_ms
                ):
                    return
            except Exception as exc:
                log.warning("could not renew a timer's claim", error=repr(exc)[:300])
