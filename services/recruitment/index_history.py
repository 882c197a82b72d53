"""The representativeness index over time: a snapshot per council and day, taken by a
background sweep (computing the index reads every active member, so it is never done on a
page view), and read back as one point per month."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from contracts.recruitment import (
    GetRepresentativeness,
    GetRepresentativenessHistory,
    IndexPoint,
    RepresentativenessHistory,
)
from infra.service import Runtime
from infra.store import Document
from services.recruitment import handlers

log = structlog.get_logger()

SWEEP_INTERVAL = timedelta(hours=6)


async def snapshot(rt: Runtime, now: datetime | None = None) -> int:
    """Record today's index for every council with population figures; how many."""
    day = (now or datetime.now(UTC)).date().isoformat()
    taken = 0
    async for population in rt.db.populations.find({}, {"_id": 1}):
        tenant = str(population["_id"])
        view = await handlers.get_representativeness(rt, GetRepresentativeness(tenant=tenant))
        if view is None:
            continue
        await rt.db.index_history.update_one(
            {"_id": f"{tenant}:{day}"},
            {
                "$set": {
                    "tenant": tenant,
                    "day": day,
                    "index": view.index,
                    "members_compared": view.members_compared,
                }
            },
            upsert=True,
        )
        taken += 1
    return taken


async def snapshot_forever(rt: Runtime) -> None:
    """Snapshot now and every ``SWEEP_INTERVAL`` (the day's snapshot is updated)."""
    while True:
        try:
            await snapshot(rt)
        except Exception as exc:
            log.error("index snapshot failed", error=repr(exc)[:300])
        await asyncio.sleep(SWEEP_INTERVAL.total_seconds())


async def history(rt: Runtime, q: GetRepresentativenessHistory) -> RepresentativenessHistory:
    """The last snapshot of each of the last ``months`` months, oldest first."""
    since = (datetime.now(UTC) - timedelta(days=31 * q.months)).date().isoformat()
    docs = await rt.db.index_history.find(
        {"_id": {"$gte": f"{q.tenant}:{since}", "$lt": f"{q.tenant};"}}
    ).to_list()
    by_month: dict[str, Document] = {}
    for doc in sorted(docs, key=lambda d: str(d["day"])):
        by_month[str(doc["day"])[:7]] = doc
    points = [
        IndexPoint(
            day=str(doc["day"]),
            index=float(doc["index"]),
            members_compared=int(doc["members_compared"]),
        )
        for _, doc in sorted(by_month.items())
    ]
    return RepresentativenessHistory(points=tuple(points[-q.months :]))
