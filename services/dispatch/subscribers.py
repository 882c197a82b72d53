"""dispatch's entry points on the bus: thin, each hands its message to a handler."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts.dispatch import MessageSent, SendMessage
from contracts.recruitment import ContactRecorded
from infra.service import Runtime, subscriber
from services.dispatch import handlers

SEND_CONCURRENCY = 8
"""Messages sent at once per replica; the SMTP pool holds as many connections."""


PUBLISHES = (MessageSent,)
"""What this service publishes (through its outbox), for the AsyncAPI document."""


def build_router(rt: Runtime) -> NatsRouter:
    """Consumers of dispatch, bound to this runtime."""
    router = NatsRouter()

    @subscriber(router, ContactRecorded, "dispatch_contact_recorded")
    async def on_contact(evt: ContactRecorded) -> None:
        await handlers.contact_recorded(rt, evt)

    @subscriber(
        router,
        SendMessage,
        "dispatch_send_message",
        batch_size=100,
        max_workers=SEND_CONCURRENCY,
    )
    async def on_send(cmd: SendMessage) -> None:
        await handlers.send_message(rt, cmd)

    return router
