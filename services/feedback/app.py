"""feedback's composition root: indexes, gauges and the service runtime."""

from __future__ import annotations

from prometheus_client import Gauge
from pymongo.asynchronous.database import AsyncDatabase

from infra.service import Runtime, Service, ServiceSettings
from infra.store import Document
from services.feedback.subscribers import build_router

NAME = "feedback"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """The public page lists a council's published rounds newest first."""
    await db.summaries.create_index([("tenant", 1), ("state", 1), ("closed_at", 1)])


def create_service(settings: ServiceSettings | None = None) -> Service:
    """The feedback service, ready to start."""
    service = Service(
        NAME,
        build_router=build_router,
        indexes=create_indexes,
        outbox_collections=["summaries"],
        settings=settings,
    )
    published = Gauge(
        "radslag_feedback",
        "Closed rounds by feedback state.",
        ["state"],
        registry=service.registry,
    )

    async def refresh(rt: Runtime) -> None:
        for state in ("awaiting_feedback", "published"):
            published.labels(state).set(await rt.db.summaries.count_documents({"state": state}))

    service.set_gauge_refresher(refresh)
    return service
