"""Inbound SMS: the provider posts each SMS sent to the council's number to dispatch, which finds
the member by the sending number and passes the text on as ``SmsReceived`` (rounds reads answers
from it; see ``services.rounds.sms``).

The provider (46elks-shaped) POSTs a form with ``id``, ``from``, ``to`` and ``message`` to
``/sms/inbound/<secret>``: the secret in the path (``SMS_INBOUND_SECRET``) is what the provider
was given, so no one else can post replies in members' names; without it set, the endpoint is
off. Each SMS becomes one document in ``inbound_sms`` keyed by the provider's id, carrying the
events in its outbox, so a provider that posts again (it retries until it gets a 200) publishes
nothing twice. The text rests only in the outbox until the relay publishes it.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Form, HTTPException, Response
from pymongo.errors import DuplicateKeyError

from contracts.dispatch import SmsReceived
from infra.service import Runtime
from infra.store import new_document
from infra.tokens import derived_id

MAX_TEXT = 1600


async def receive_sms(rt: Runtime, provider_id: str, sender: str, text: str) -> int:
    """Pass an inbound SMS on to the councils whose member has the sending number; returns to
    how many members (0: an unknown number, nothing is kept)."""
    contacts = await rt.db.contacts.find(
        {"phone": sender.strip()}, {"tenant": 1, "member_id": 1}
    ).to_list()
    if not contacts:
        return 0
    key = hashlib.sha256(f"inbound:{provider_id}".encode()).hexdigest()
    events = [
        SmsReceived(
            tenant=c["tenant"],
            message_id=derived_id(key, c["tenant"], c["member_id"]),
            member_id=c["member_id"],
            text=text[:MAX_TEXT],
        )
        for c in contacts
    ]
    try:
        await rt.db.inbound_sms.insert_one(new_document({"_id": key}, *events))
    except DuplicateKeyError:
        return len(events)  # posted again by the provider: sent (or sending) already
    await rt.flush("inbound_sms", [key])
    return len(events)


def router(rt: Runtime, secret: str) -> APIRouter:
    """The provider's webhook for inbound SMS (off while ``secret`` is empty)."""
    routes = APIRouter()

    @routes.post("/sms/inbound/{given}", include_in_schema=False)
    async def inbound(
        given: str,
        provider_id: str = Form(alias="id", max_length=200),
        sender: str = Form(alias="from", max_length=40),
        message: str = Form(max_length=MAX_TEXT * 4),
    ) -> Response:
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise HTTPException(status_code=404)
        await receive_sms(rt, provider_id, sender, message)
        return Response(status_code=200)

    return routes
