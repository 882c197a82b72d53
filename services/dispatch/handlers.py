"""dispatch's use cases: one function per message."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.dispatch import SendMessage
from contracts.recruitment import ContactRecorded
from infra.batching import Batcher, latest_per_member
from infra.service import Runtime
from infra.store import insert_or_set
from services.dispatch.mailroom import ContactMissing, Mailroom, SendInFlight

__all__ = ["ContactMissing", "SendInFlight", "contact_recorded", "send_message"]


async def contact_recorded(rt: Runtime, evt: ContactRecorded) -> None:
    """Keep the member's contact details (the replica erasure will also reach).

    Concurrent deliveries share their writes (``infra.batching``): a member import arrives as
    thousands of these at once. Documents are keyed by council and member and take the event's
    values, so a redelivery or a duplicate changes nothing.
    """
    batcher: Batcher[ContactRecorded, None] | None = rt.extras.get("contact_book")
    if batcher is None:

        async def work(events: Sequence[ContactRecorded]) -> list[None]:
            # One document per contact, with its latest event. New ones are inserted in one
            # operation; those already there (a redelivery) are upserted with the same values.
            # If a write fails, every delivery of the batch is retried: both are idempotent.
            latest = latest_per_member(events)
            values = {
                key: {
                    "member_id": e.member_id,
                    "email": e.email,
                    "phone": e.phone,
                    "locale": e.locale,
                    "updated_at": e.occurred_at,
                }
                for key, e in latest.items()
            }
            await insert_or_set(
                rt.db.contacts,
                {key: {"tenant": latest[key].tenant, **v} for key, v in values.items()},
            )
            return [None] * len(events)

        batcher = rt.extras["contact_book"] = Batcher(work, max_size=200)
    await batcher.submit(evt)


async def send_message(rt: Runtime, cmd: SendMessage) -> None:
    """Send one message, once: recorded by the command's id (see ``mailroom`` for how).

    Concurrent deliveries share their store round trips; each is still acked, retried or
    dead-lettered on its own.
    """
    mailroom: Mailroom = rt.extras["mailroom"]
    await mailroom.send(cmd)
