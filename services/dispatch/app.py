"""dispatch's composition root: settings, the SMTP pool, indexes and gauges."""

from __future__ import annotations

from prometheus_client import Gauge
from pymongo.asynchronous.database import AsyncDatabase

from infra.service import Runtime, Service, ServiceSettings
from infra.store import Document
from services.dispatch.channels import SmtpPool
from services.dispatch.subscribers import SEND_CONCURRENCY, build_router

NAME = "dispatch"


class DispatchSettings(ServiceSettings):
    """Where mail goes (environment: SMTP_HOST, SMTP_PORT, MAIL_FROM)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    mail_from: str = "Medborgarpanelen <panel@radslag.local>"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """Counts by state for the gauges; contacts are looked up by id."""
    await db.messages.create_index([("channel", 1), ("state", 1)])


def create_service(settings: DispatchSettings | None = None) -> Service:
    """The dispatch service, ready to start."""
    settings = settings or DispatchSettings()
    service = Service(
        NAME,
        build_router=build_router,
        indexes=create_indexes,
        outbox_collections=["messages"],
        settings=settings,
    )
    pool = SmtpPool(settings.smtp_host, settings.smtp_port, size=SEND_CONCURRENCY)
    service.runtime.extras.update(smtp=pool, mail_from=settings.mail_from)
    service.on_stop(pool.close)
    messages = Gauge(
        "radslag_messages",
        "Messages by channel and status.",
        ["channel", "status"],
        registry=service.registry,
    )

    async def refresh(rt: Runtime) -> None:
        for channel in ("email", "sms"):
            for status in ("sending", "sent", "failed"):
                count = await rt.db.messages.count_documents({"channel": channel, "state": status})
                messages.labels(channel, status).set(count)

    service.set_gauge_refresher(refresh)
    return service
