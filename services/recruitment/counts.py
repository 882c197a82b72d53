"""Member counters per council, kept in the tenant document so pages and gauges never count.

``members_active`` and ``members_pending`` move in the code paths that change a member's state,
right after the member write and by what that write actually changed (an insert that happened,
a transition that matched), so a redelivered command never moves them twice. Every move also
raises ``counts_version``, which tells a recount whether the counters moved while it counted.

A member and its council's counters are two documents. A crash (or a failed counter write)
between the two writes leaves a counter short, and a redelivery cannot tell that it is short.
``reconcile`` recounts with ``count_documents`` (linear in the members: background only) and
corrects the counters if nothing moved them meanwhile; ``Recounts.run`` does it for every
council once at service start, and again for a council whose counter write failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from contracts.recruitment import PanelMonth
from infra.service import Runtime
from infra.store import Document

log = structlog.get_logger()

COUNTERS = {"active": "members_active", "pending": "members_pending"}
"""Member state → its counter field in the tenant document."""
RECOUNT_ATTEMPTS = 5
"""Recounts of one council in a row when its counters keep moving during the count."""
RECOUNT_PAUSE_SECONDS = 0.5
RECOUNT_RETRY_SECONDS = 30.0
"""When to try again a council whose counters never stood still long enough."""


@dataclass(frozen=True)
class Recount:
    """What a recount of one council found."""

    tenant: str
    settled: bool
    """False when the counters kept moving during every count, so nothing was corrected."""
    corrected: dict[str, tuple[int | None, int]]
    """Counter field → (value before, true count), for the counters that were wrong."""


async def move(
    rt: Runtime, tenant: str, *, active: int = 0, pending: int = 0, retired: int = 0
) -> None:
    """Move a council's counters by what a member write just changed.

    A failed counter write does not fail the handler: the member write stands and a
    redelivery would not count it again, so the council is recounted in the background.
    """
    if not (active or pending):
        return
    try:
        await rt.db.tenants.update_one(
            {"_id": tenant},
            {
                "$inc": {
                    COUNTERS["active"]: active,
                    COUNTERS["pending"]: pending,
                    "counts_version": 1,
                }
            },
        )
    except PyMongoError as exc:
        log.warning("member counters not moved, recount asked", tenant=tenant, error=repr(exc))
        recounts = rt.extras.get(Recounts.KEY)
        if isinstance(recounts, Recounts):
            recounts.request(tenant)
    if active:
        await _month(rt, tenant, joined=max(active, 0), left=max(-active, 0), retired=retired)


async def _month(rt: Runtime, tenant: str, *, joined: int, left: int, retired: int = 0) -> None:
    """Count joins and leaves in the council's month (``panel_months``, one document per
    council and month), for the panel's history. A lost count is logged, not retried: the
    history is a staff figure, and the active counter stays right."""
    month = datetime.now(UTC).strftime("%Y-%m")
    try:
        await rt.db.panel_months.update_one(
            {"_id": f"{tenant}:{month}"},
            {
                "$inc": {"joined": joined, "left": left, "retired": retired},
                "$set": {"tenant": tenant, "month": month},
            },
            upsert=True,
        )
    except PyMongoError as exc:
        log.warning("panel history not moved", tenant=tenant, error=repr(exc))


async def history(rt: Runtime, tenant: str, months: int) -> list[PanelMonth]:
    """The last ``months`` months, oldest first: joins, leaves and the size at each month's
    end, worked back from today's active counter."""
    council = await rt.db.tenants.find_one({"_id": tenant})
    size = read(council)[0] if council else 0
    now = datetime.now(UTC)
    labels = []
    year, month = now.year, now.month
    for _ in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    found = {
        doc["month"]: doc
        async for doc in rt.db.panel_months.find(
            {"_id": {"$in": [f"{tenant}:{m}" for m in labels]}}
        )
    }
    rows: list[PanelMonth] = []
    for label in labels:  # newest first: each month's end is the next month's start
        doc = found.get(label) or {}
        joined, left = int(doc.get("joined") or 0), int(doc.get("left") or 0)
        rows.append(
            PanelMonth(
                month=label,
                joined=joined,
                left=left,
                retired=int(doc.get("retired") or 0),
                size_at_end=size,
            )
        )
        size = max(0, size - joined + left)
    return rows[::-1]


def read(doc: Document) -> tuple[int, int]:
    """(active, pending) as a tenant document holds them (0 before the first member)."""
    return int(doc.get(COUNTERS["active"]) or 0), int(doc.get(COUNTERS["pending"]) or 0)


async def reconcile(db: AsyncDatabase[Document], tenant: str | None = None) -> list[Recount]:
    """Recount the members of one council (or of every council) and correct its counters."""
    query: Document = {} if tenant is None else {"_id": tenant}
    tenants = [doc["_id"] async for doc in db.tenants.find(query, {"_id": 1})]
    return [await _reconcile_one(db, t) for t in tenants]


async def _reconcile_one(db: AsyncDatabase[Document], tenant: str) -> Recount:
    fields = {"_id": 1, "counts_version": 1, **dict.fromkeys(COUNTERS.values(), 1)}
    for attempt in range(RECOUNT_ATTEMPTS):
        if attempt:
            await asyncio.sleep(RECOUNT_PAUSE_SECONDS)
        before = await db.tenants.find_one({"_id": tenant}, fields)
        if before is None:
            return Recount(tenant, True, {})
        actual = {
            field: await db.members.count_documents({"tenant": tenant, "state": state})
            for state, field in COUNTERS.items()
        }
        wrong = {f: n for f, n in actual.items() if before.get(f) != n}
        if not wrong:
            return Recount(tenant, True, {})
        # Only if no handler moved the counters while we counted: its member may or may not
        # be in our count, so our figure could be off by its move.
        version = before.get("counts_version")
        guard: Document = (
            {"counts_version": version}
            if version is not None
            else {"counts_version": {"$exists": False}}
        )
        result = await db.tenants.update_one(
            {"_id": tenant, **guard}, {"$set": wrong, "$inc": {"counts_version": 1}}
        )
        if result.matched_count:
            corrected = {f: (before.get(f), n) for f, n in wrong.items()}
            log.warning(
                "member counters corrected",
                tenant=tenant,
                **{f: f"{was} -> {now}" for f, (was, now) in corrected.items()},
            )
            return Recount(tenant, True, corrected)
    return Recount(tenant, False, {})


class Recounts:
    """Councils waiting for a recount; ``run`` is recruitment's background job for them."""

    KEY = "recounts"
    """Where the service keeps its ``Recounts`` in ``Runtime.extras``."""

    def __init__(self) -> None:
        self._wanted: set[str | None] = {None}  # None: every council (at start)
        self._wake = asyncio.Event()
        self._wake.set()

    def request(self, tenant: str | None = None) -> None:
        """Recount ``tenant`` (every council if None) soon."""
        self._wanted.add(tenant)
        self._wake.set()

    async def run(self, rt: Runtime) -> None:
        """Recount what is asked for, until cancelled; retry councils that would not settle."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            wanted, self._wanted = self._wanted, set()
            targets = [None] if None in wanted else sorted(t for t in wanted if t is not None)
            for target in targets:
                again: list[str | None]
                try:
                    again = [r.tenant for r in await reconcile(rt.db, target) if not r.settled]
                except PyMongoError as exc:
                    log.warning("member recount failed", tenant=target, error=repr(exc))
                    again = [target]
                for tenant in again:
                    loop.call_later(RECOUNT_RETRY_SECONDS, self.request, tenant)
