"""dispatch's composition root: settings, the SMTP pool, the mailroom, indexes and metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from infra.service import Service, ServiceSettings
from infra.store import Document
from services.dispatch import inbound
from services.dispatch.channels import SmsClient, SmtpPool
from services.dispatch.mailroom import Mailroom
from services.dispatch.subscribers import build_router

NAME = "dispatch"


class DispatchSettings(ServiceSettings):
    """Where mail goes (environment: SMTP_HOST, SMTP_PORT, SMTP_CONNECTIONS, MAIL_FROM) and SMS
    (SMS_URL, SMS_USER, SMS_PASSWORD, SMS_FROM)."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_connections: int = 32
    """SMTP connections kept open per replica: mails sent in parallel (ask the relay's limit)."""
    mail_from: str = "Medborgarpanelen <panel@radslag.local>"
    sms_url: str = "http://127.0.0.1:8025"
    """The SMS provider's API base (46elks-shaped: ``POST {url}/a1/sms``)."""
    sms_user: str = ""
    sms_password: SecretStr = SecretStr("")
    sms_from: str = "Radslag"
    """Sender name on SMS: 3-11 letters and digits, starting with a letter (or a number)."""
    sms_inbound_secret: SecretStr = SecretStr("")
    """SMS_INBOUND_SECRET: the last part of the inbound webhook's path the provider posts
    replies to (``/sms/inbound/<secret>``); empty, inbound SMS are not taken."""


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    """Messages and contacts are looked up by id; an erasure finds a member's messages; an
    inbound SMS finds its member by the sending number."""
    await db.messages.create_index("member_id")
    await db.contacts.create_index("phone")


def create_service(settings: DispatchSettings | None = None) -> Service:
    """The dispatch service, ready to start."""
    settings = settings or DispatchSettings()
    service = Service(
        NAME,
        build_router=build_router,
        indexes=create_indexes,
        outbox_collections=["messages", "erasures", "inbound_sms"],
        settings=settings,
    )
    pool = SmtpPool(settings.smtp_host, settings.smtp_port, size=settings.smtp_connections)
    sent = Counter(
        "radslag_messages_sent",
        "Messages recorded as sent (accepted by the SMTP server) by this replica.",
        ["channel"],
        registry=service.registry,
    )
    sending = Gauge(
        "radslag_messages_sending",
        "Messages this replica holds a claim on and is sending right now.",
        registry=service.registry,
    )
    sms = SmsClient(
        settings.sms_url,
        settings.sms_user,
        settings.sms_password.get_secret_value(),
        settings.sms_from,
    )
    mailroom = Mailroom(
        service.runtime, pool, settings.mail_from, on_sent=sent.labels("email").inc, sms=sms
    )
    sending.set_function(lambda: mailroom.held)
    batches = Gauge(
        "radslag_send_claim_batches",
        "Claim batches (one store round trip each) this replica ran, and commands they held.",
        ["count"],
        registry=service.registry,
    )
    batches.labels("batches").set_function(lambda: mailroom.batching[0])
    batches.labels("commands").set_function(lambda: mailroom.batching[1])
    service.runtime.extras.update(smtp=pool, mail_from=settings.mail_from, mailroom=mailroom)
    service.add_routes(
        inbound.router(service.runtime, settings.sms_inbound_secret.get_secret_value())
    )
    service.in_background(mailroom.keep_claims)
    service.on_stop(pool.close)
    service.on_stop(sms.close)
    # No gauge of messages by status: counting them would read every message on each scrape.
    return service
