"""dispatch's entry points on the bus: thin, each hands its message to a handler."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts.contacts import InvalidContacts, ListInvalidContacts
from contracts.dispatch import (
    ContactForgotten,
    GetMemberData,
    MessageSent,
    SendMessage,
    SmsReceived,
)
from contracts.personal_data import PersonalData
from contracts.recruitment import ContactRecorded, MemberErased
from infra.queries import answers
from infra.service import Runtime, subscriber
from services.dispatch import handlers, invalid_contacts

SEND_BATCH = 256
"""Commands pulled from the stream in one fetch."""
SEND_WORKERS = 512
"""Deliveries handled at once per replica: enough to fill a claim batch while the mails of the
one before are with the SMTP pool (whose size is the setting ``SMTP_CONNECTIONS``)."""


PUBLISHES = (MessageSent, ContactForgotten, SmsReceived)
"""What this service publishes (through its outbox), for the AsyncAPI document."""


def build_router(rt: Runtime) -> NatsRouter:
    """Consumers of dispatch, bound to this runtime."""
    router = NatsRouter()

    @answers(router, GetMemberData, "dispatch")
    async def q_member_data(q: GetMemberData) -> PersonalData:
        return await handlers.member_data(rt, q)

    # Many at once: concurrent deliveries share one bulk write (see the handler).
    @subscriber(
        router, ContactRecorded, "dispatch_contact_recorded", batch_size=200, max_workers=32
    )
    async def on_contact(evt: ContactRecorded) -> None:
        await handlers.contact_recorded(rt, evt)

    @subscriber(router, MemberErased, "dispatch_member_erased")
    async def on_erased(evt: MemberErased) -> None:
        await handlers.member_erased(rt, evt)

    # Many at once: the mailroom claims and records every command waiting at a moment together.
    @subscriber(
        router,
        SendMessage,
        "dispatch_send_message",
        batch_size=SEND_BATCH,
        max_workers=SEND_WORKERS,
    )
    async def on_send(cmd: SendMessage) -> None:
        await handlers.send_message(rt, cmd)

    @answers(router, ListInvalidContacts, "dispatch")
    async def q_invalid_contacts(q: ListInvalidContacts) -> InvalidContacts:
        return await invalid_contacts.list_invalid(rt, q)

    return router
