"""Sign-ups left unconfirmed are erased: the member's data, its links, its contact replica.

A pending member whose last opt-in mail went out more than ``PENDING_DAYS`` days ago is
erased in one guarded update: every personal field is removed, the address replaced by a
placeholder (the unique index on council and address stays satisfied), and ``MemberErased``
rides in the same write's outbox, so dispatch forgets the contact too. The opt-in links
(``signup_tokens``) older than ``PENDING_DAYS`` go as well, confirmed or not. What is left is
a tombstone (id, council, state, day), deleted ``PENDING_DAYS`` days later.

The sweep runs at start and every ``SWEEP_INTERVAL``; a replica that dies mid-sweep leaves
nothing half done, as each member is one guarded update.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import structlog

from contracts.recruitment import MemberErased
from infra.service import Runtime
from infra.store import epoch_ms, with_outbox
from services.recruitment import counts

log = structlog.get_logger()

PENDING_DAYS = 7
"""How long a sign-up waits for its confirmation, and an opt-in link stays valid."""
SWEEP_INTERVAL = timedelta(hours=1)
BATCH = 500

PERSONAL_FIELDS = (
    "birth_year",
    "gender",
    "district",
    "district_code",
    "locale",
    "consent",
    "phone",
    "token_hash",
    "heard_from",
    "works_for_council",
    "person",
    "campaign",
    "connection",
    "topics",
)


async def expire_pending(rt: Runtime, now: datetime | None = None) -> int:
    """Erase every sign-up unconfirmed for ``PENDING_DAYS``; returns how many were erased."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=PENDING_DAYS)
    cutoff_ms = epoch_ms(cutoff)
    erased = 0
    while True:
        due = await rt.db.members.find(
            {
                "state": "pending",
                "$or": [
                    {"mailed_at_ms": {"$lt": cutoff_ms}},
                    # Sign-ups recorded before mails were timed: by when they were made.
                    {"mailed_at_ms": {"$exists": False}, "created_at": {"$lt": cutoff}},
                ],
            },
            {"tenant": 1, "mailed_at_ms": 1},
            limit=BATCH,
        ).to_list()
        if not due:
            break
        moved: Counter[str] = Counter()
        for member in due:
            if await _erase(rt, member, now):
                moved[member["tenant"]] += 1
        for tenant, n in moved.items():
            await counts.move(rt, tenant, pending=-n)
        await rt.flush("members", [m["_id"] for m in due])
        ids = [m["_id"] for m in due]
        await rt.db.signup_tokens.delete_many({"member_id": {"$in": ids}})
        await rt.db.leave_links.delete_many({"member_id": {"$in": ids}})
        await rt.db.member_phones.delete_many({"member_id": {"$in": ids}})
        await rt.db.sms_codes.delete_many({"member_id": {"$in": ids}})
        erased += sum(moved.values())
        if len(due) < BATCH:
            break
    # Links outlive nothing: those of confirmed members go after the same days.
    await rt.db.signup_tokens.delete_many({"created_at_ms": {"$lt": cutoff_ms}})
    # Tombstones whose event has long been published (never one still in its outbox).
    await rt.db.members.delete_many(
        {"state": "erased", "erased_at_ms": {"$lt": cutoff_ms}, "outbox_pending": {"$lte": 0}}
    )
    if erased:
        log.info("unconfirmed sign-ups erased", members=erased)
    return erased


async def _erase(rt: Runtime, member: dict[str, object], now: datetime) -> bool:
    member_id = str(member["_id"])
    tenant = str(member["tenant"])
    event = MemberErased(tenant=tenant, member_id=member_id, reason="unconfirmed")
    guard: dict[str, object] = {"_id": member_id, "state": "pending"}
    # Guarded by the last mail's time too: a sign-up that just mailed again is not erased.
    guard["mailed_at_ms"] = member.get("mailed_at_ms", {"$exists": False})
    result = await rt.db.members.update_one(
        guard,
        with_outbox(
            {
                "$set": {
                    "state": "erased",
                    "email": f"erased:{member_id}",
                    "erased_at_ms": epoch_ms(now),
                },
                "$unset": dict.fromkeys(PERSONAL_FIELDS, ""),
            },
            event,
        ),
    )
    return bool(result.matched_count)


async def sweep_forever(rt: Runtime) -> None:
    """Expire sign-ups now and every ``SWEEP_INTERVAL`` (run in the background)."""
    while True:
        try:
            await expire_pending(rt)
        except Exception as exc:
            log.error("erasing unconfirmed sign-ups failed", error=repr(exc)[:300])
        await asyncio.sleep(SWEEP_INTERVAL.total_seconds())
