"""Open recruitment campaigns and the tell-a-friend link: sign-up links of their own, whose
sign-ups and joins are counted (``contracts.campaigns.StartOpenCampaign``).

One document per campaign in ``open_campaigns`` (``<council>:<slug>``) holds its dates, target
and counters. A sign-up through a link is counted when its member document is first written,
and a join when that member is activated: both right after the write that changed them, so a
redelivery counts nothing twice (as the council's member counters).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

import structlog
from pymongo.errors import PyMongoError

from contracts.campaigns import (
    FRIEND,
    ListOpenCampaigns,
    OpenCampaignList,
    OpenCampaignView,
    StartOpenCampaign,
)
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, epoch_ms

log = structlog.get_logger()


def _key(tenant: str, slug: str) -> str:
    return f"{tenant}:{slug}"


async def start(rt: Runtime, cmd: StartOpenCampaign) -> None:
    """Create or change an open campaign (its counters stay)."""
    if await rt.db.tenants.find_one({"_id": cmd.tenant}, {"_id": 1}) is None:
        raise Rejected(f"unknown tenant {cmd.tenant}")
    if cmd.slug == FRIEND:
        await rt.settle(cmd, "refused", "reserved_slug")
        return
    try:
        starts, ends = date.fromisoformat(cmd.starts_on), date.fromisoformat(cmd.ends_on)
    except ValueError:
        await rt.settle(cmd, "refused", "invalid_date")
        return
    if ends < starts:
        await rt.settle(cmd, "refused", "ends_before_it_starts")
        return
    await rt.db.open_campaigns.update_one(
        {"_id": _key(cmd.tenant, cmd.slug)},
        {
            "$set": {
                "tenant": cmd.tenant,
                "slug": cmd.slug,
                "title": cmd.title,
                "starts_on": cmd.starts_on,
                "ends_on": cmd.ends_on,
                "target": cmd.target,
            },
            "$setOnInsert": {"signed_up": 0, "joined": 0, "created_at_ms": epoch_ms()},
        },
        upsert=True,
    )
    await rt.settle(cmd, "done")


async def _count(rt: Runtime, tenant: str, via: str, field: str) -> None:
    if not via:
        return
    query: Document = {"_id": _key(tenant, via)}
    try:
        if via == FRIEND:  # the standing link exists from its first use
            await rt.db.open_campaigns.update_one(
                query,
                {
                    "$inc": {field: 1},
                    "$set": {"tenant": tenant, "slug": FRIEND},
                },
                upsert=True,
            )
        else:
            await rt.db.open_campaigns.update_one(query, {"$inc": {field: 1}})
    except PyMongoError as exc:  # a staff figure: logged, not retried
        log.warning("open campaign not counted", tenant=tenant, via=via, error=repr(exc))


async def signed_up(rt: Runtime, tenant: str, via: str) -> None:
    """Count a new sign-up through a link (call once the member document is first written)."""
    await _count(rt, tenant, via, "signed_up")


async def joined(rt: Runtime, tenant: str, via: str) -> None:
    """Count a member who came through a link and is now active."""
    await _count(rt, tenant, via, "joined")


def _state(doc: Document, today: str) -> Literal["upcoming", "running", "ended"]:
    if not doc.get("starts_on"):
        return "running"
    if today < doc["starts_on"]:
        return "upcoming"
    return "running" if today <= doc["ends_on"] else "ended"


async def list_open(rt: Runtime, q: ListOpenCampaigns) -> OpenCampaignList:
    """Tell-a-friend first, then the campaigns, newest first."""
    today = datetime.now(UTC).date().isoformat()
    docs = await rt.db.open_campaigns.find({"tenant": q.tenant}).to_list()
    friend = next((d for d in docs if d.get("slug") == FRIEND), {"slug": FRIEND})
    others = sorted(
        (d for d in docs if d.get("slug") != FRIEND),
        key=lambda d: (-int(d.get("created_at_ms") or 0), d["slug"]),
    )
    views = []
    for doc in [friend, *others]:
        views.append(
            OpenCampaignView(
                slug=doc["slug"],
                title=str(doc.get("title") or ""),
                starts_on=str(doc.get("starts_on") or ""),
                ends_on=str(doc.get("ends_on") or ""),
                target=doc.get("target"),
                state=_state(doc, today),
                signed_up=int(doc.get("signed_up") or 0),
                joined=int(doc.get("joined") or 0),
            )
        )
    return OpenCampaignList(campaigns=tuple(views))
