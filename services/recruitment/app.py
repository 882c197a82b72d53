"""recruitment's composition root: indexes, gauges and the service runtime."""

from __future__ import annotations

from prometheus_client import Gauge
from pymongo.asynchronous.database import AsyncDatabase

from infra import outcomes
from infra.service import Runtime, Service, ServiceSettings
from infra.store import Document
from services.recruitment import (
    campaigns,
    counts,
    expiry,
    index_history,
    population,
    rotation,
    self_service,
)
from services.recruitment.subscribers import build_router

NAME = "recruitment"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """One member per e-mail address per council; look-ups by token and by state."""
    await db.members.create_index([("tenant", 1), ("email", 1)], unique=True)
    await db.members.create_index("token_hash")
    await db.members.create_index([("tenant", 1), ("state", 1)])
    # An erasure deletes a member's links to leave.
    await db.leave_links.create_index("member_id")
    await db.renewal_links.create_index("member_id")
    await db.members.create_index("term_started_ms")
    await campaigns.create_indexes(db)
    await outcomes.ensure_index(db)
    await self_service.ensure_indexes(db)
    # An erasure or expiry deletes a member's claim on a mobile number and its SMS code.
    await db.member_phones.create_index("member_id")
    await db.sms_codes.create_index("member_id")


def create_service(settings: ServiceSettings | None = None) -> Service:
    """The recruitment service, ready to start."""
    service = Service(
        NAME,
        build_router=build_router,
        indexes=create_indexes,
        outbox_collections=["members", "panels", "invitees", "populations"],
        settings=settings,
    )
    members = Gauge(
        "radslag_members",
        "Panel members by council and status.",
        ["tenant", "status"],
        registry=service.registry,
    )
    records = Gauge(
        "radslag_member_records",
        "Member records stored, every council and status (an estimate).",
        registry=service.registry,
    )

    async def refresh(rt: Runtime) -> None:
        # The councils' counters, never a count: counting is linear in the members.
        fields = dict.fromkeys(counts.COUNTERS.values(), 1)
        async for tenant in rt.db.tenants.find({}, fields):
            active, pending = counts.read(tenant)
            members.labels(tenant["_id"], "active").set(active)
            members.labels(tenant["_id"], "pending").set(pending)
        records.set(await rt.db.members.estimated_document_count())

    service.set_gauge_refresher(refresh)
    # Recount every council once at start (a crash can leave a counter short), and any
    # council whose counter write failed later on.
    recounts = counts.Recounts()
    service.runtime.extras[counts.Recounts.KEY] = recounts
    service.in_background(recounts.run)
    # Unconfirmed sign-ups are erased after a week.
    service.in_background(expiry.sweep_forever)
    # Campaigns close the day after their last day: codes stop, the extract is deleted.
    service.in_background(campaigns.close_forever)
    # Terms end (rotation): members are told a month before, then retire.
    service.in_background(rotation.rotate_forever)
    # The representativeness index, once a day per council, for its history.
    service.in_background(index_history.snapshot_forever)
    # Population figures set before rounds weighted results to them: tell rounds once.
    service.in_background(population.announce_earlier)
    return service
