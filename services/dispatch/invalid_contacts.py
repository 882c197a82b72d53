"""Members whose contact failed for good, for staff to follow up.

When the mail server refuses a member's address for good (an SMTP 5xx reply to RCPT), the
mailroom records the message ``failed`` and the member here: one document per member and
channel (``tenant:member_id:channel``) with the reason code, since when, and a hash of the
address that failed, never the address. A new ``ContactRecorded`` with another address (or
number) takes the member off the list; an older one, delivered late, does not. Erasure
deletes the entry with the contact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from contracts.contacts import InvalidContact, InvalidContacts, ListInvalidContacts
from contracts.dispatch import SendMessage
from contracts.personal_data import Value
from contracts.recruitment import ContactRecorded
from infra.batching import Batcher
from infra.service import Runtime
from infra.store import Document, epoch_ms

COLLECTION = "invalid_contacts"
CHANNELS = ("email", "sms")


def entry_id(tenant: str, member_id: str, channel: str) -> str:
    """The entry of one member's channel."""
    return f"{tenant}:{member_id}:{channel}"


def address_hash(tenant: str, address: str) -> str:
    """Which address failed, without keeping it."""
    return hashlib.sha256(f"contact:{tenant}:{address.strip().lower()}".encode()).hexdigest()


async def record(
    rt: Runtime, cmd: SendMessage, address: str, reason: str, *, channel: str | None = None
) -> None:
    """The member's ``address`` on ``channel`` (the command's, unless the message went on
    another) was refused for good. Recorded only while it is still the contact book's: a
    contact changed meanwhile is not marked invalid."""
    channel = channel or cmd.channel
    contact = await rt.db.contacts.find_one({"_id": f"{cmd.tenant}:{cmd.member_id}"})
    field = "email" if channel == "email" else "phone"
    if contact is None or (contact.get(field) or "").strip().lower() != address.strip().lower():
        return
    await rt.db[COLLECTION].update_one(
        {"_id": entry_id(cmd.tenant, cmd.member_id, channel)},
        {
            "$set": {
                "tenant": cmd.tenant,
                "member_id": cmd.member_id,
                "channel": channel,
                "reason": reason,
                "address_hash": address_hash(cmd.tenant, address),
            },
            "$setOnInsert": {"since_ms": epoch_ms()},
        },
        upsert=True,
    )


async def contact_recorded(rt: Runtime, evt: ContactRecorded) -> None:
    """Take the member off the list for each channel whose contact is now another one.

    Concurrent deliveries share one read (a member import brings thousands at once, and
    almost none of them are on the list)."""
    batcher: Batcher[ContactRecorded, None] | None = rt.extras.get(COLLECTION)
    if batcher is None:

        async def work(events: Sequence[ContactRecorded]) -> list[None]:
            await _clear(rt, events)
            return [None] * len(events)

        batcher = rt.extras[COLLECTION] = Batcher(work, max_size=200)
    await batcher.submit(evt)


async def _clear(rt: Runtime, events: Sequence[ContactRecorded]) -> None:
    wanted = {
        entry_id(e.tenant, e.member_id, channel): (e, channel)
        for e in events
        for channel in CHANNELS
    }
    stale: list[str] = []
    async for doc in rt.db[COLLECTION].find({"_id": {"$in": list(wanted)}}):
        evt, channel = wanted[doc["_id"]]
        now = evt.email if channel == "email" else evt.phone
        changed = address_hash(evt.tenant, now or "") != doc.get("address_hash")
        if changed and epoch_ms(evt.occurred_at) > int(doc.get("since_ms") or 0):
            stale.append(doc["_id"])
    if stale:
        await rt.db[COLLECTION].delete_many({"_id": {"$in": stale}})


async def forget(rt: Runtime, tenant: str, member_id: str) -> None:
    """An erased member's entries go with their contact."""
    ids = [entry_id(tenant, member_id, channel) for channel in CHANNELS]
    await rt.db[COLLECTION].delete_many({"_id": {"$in": ids}})


def _since(doc: Document) -> str:
    return datetime.fromtimestamp(int(doc["since_ms"]) / 1000, UTC).isoformat(timespec="seconds")


async def entries(rt: Runtime, tenant: str, member_id: str) -> list[dict[str, Value]]:
    """The member's own entries, for their copy of their data."""
    ids = [entry_id(tenant, member_id, channel) for channel in CHANNELS]
    return [
        {"channel": d["channel"], "reason": d["reason"], "since": _since(d)}
        async for d in rt.db[COLLECTION].find({"_id": {"$in": ids}})
    ]


async def list_invalid(rt: Runtime, q: ListInvalidContacts) -> InvalidContacts:
    """A page of the council's members whose contact failed for good, by member id."""
    low = f"{q.tenant}:{q.after}" if q.after else f"{q.tenant}:"
    found = (
        await rt.db[COLLECTION]
        .find({"_id": {"$gt": low, "$lt": f"{q.tenant};"}, "tenant": q.tenant})
        .sort("_id", 1)
        .limit(q.limit + 1)
        .to_list()
    )
    page = found[: q.limit]
    more = len(found) > q.limit
    return InvalidContacts(
        contacts=tuple(
            InvalidContact(
                member_id=d["member_id"],
                channel=d["channel"],
                reason=d["reason"],
                since=_since(d),
            )
            for d in page
        ),
        next_after=page[-1]["_id"].split(":", 1)[1] if more else None,
    )
