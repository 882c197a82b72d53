"""Rotation: a member's term ends after the panel's ``term_years``. ``NOTICE_DAYS`` before,
the member is told (with a link to renew where the panel allows it); at the end of the term,
and no sooner than ``NOTICE_DAYS`` after the notice, the member retires: erased everywhere as
an erasure is (``MemberErased`` with reason "retired"), counted as retired in the panel's
history. Renewing starts a new term. The draws that replace them (``boost``) aim at the strata
the panel now lacks.

A sweep runs every hour (``rotate_forever``); each step is a guarded update, so two replicas,
or a crash and a rerun, notify and retire each member once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from contracts.dispatch import SendMessage
from contracts.panels import RenewMembership
from infra.service import Runtime
from infra.store import Document, epoch_ms, with_outbox
from infra.tokens import new_token, token_hash
from services.recruitment import erasure, panels

log = structlog.get_logger()

NOTICE_DAYS = 30
YEAR_MS = epoch_ms(timedelta(days=365))
DAY_MS = epoch_ms(timedelta(days=1))
SWEEP_INTERVAL = timedelta(hours=1)
BATCH = 200


def renewal_link(portal_url: str, tenant: str, token: str) -> str:
    return f"{portal_url.rstrip('/')}/t/{tenant}/renew/{token}"


async def _backfill(rt: Runtime, tenant: str) -> None:
    """Members recorded before terms were kept get theirs from when they joined."""
    async for member in rt.db.members.find(
        {"tenant": tenant, "state": "active", "term_started_ms": {"$exists": False}},
        {"confirmed_at": 1, "created_at": 1},
    ):
        joined = member.get("confirmed_at") or member.get("created_at")
        started = epoch_ms(joined) if isinstance(joined, datetime) else epoch_ms()
        await rt.db.members.update_one(
            {"_id": member["_id"], "term_started_ms": {"$exists": False}},
            {"$set": {"term_started_ms": started}},
        )


async def _notify(
    rt: Runtime, member: Document, council: Document, ends_ms: int, renew: bool
) -> bool:
    """Tell one member their term ends (once: guarded by the notice's absence)."""
    tenant = str(member["tenant"])
    params = {
        "council": str(council["display_name"]),
        "ends": datetime.fromtimestamp(ends_ms / 1000, UTC).date().isoformat(),
    }
    sealed = ""
    link_doc: Document | None = None
    if renew:
        token = new_token()
        link_doc = {"_id": token_hash(token), "tenant": tenant, "member_id": member["_id"]}
        sealed = rt.sealer.seal_params(
            {"link": renewal_link(rt.settings.portal_url, tenant, token)}
        )
        await rt.db.renewal_links.insert_one(link_doc)  # before the mail that carries it
    notice = SendMessage(
        tenant=tenant,
        member_id=str(member["_id"]),
        template="term_ending_renewable" if renew else "term_ending",
        params=params,
        sealed=sealed,
    )
    result = await rt.db.members.update_one(
        {"_id": member["_id"], "state": "active", "term_notice_ms": {"$exists": False}},
        with_outbox({"$set": {"term_notice_ms": epoch_ms()}}, notice),
    )
    if not result.matched_count and link_doc is not None:
        await rt.db.renewal_links.delete_one({"_id": link_doc["_id"]})
    return bool(result.matched_count)


async def rotate(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """Notify the members whose term ends within ``NOTICE_DAYS`` and retire those whose term
    has ended; how many of each."""
    now_ms = epoch_ms(now or datetime.now(UTC))
    done = {"notified": 0, "retired": 0}
    async for panel in rt.db.panels.find({"settings.term_years": {"$gt": 0}}):
        tenant = str(panel["tenant"])
        settings = panels.settings_of(panel)
        council = await rt.db.tenants.find_one({"_id": tenant})
        if council is None or not settings.term_years:
            continue
        term_ms = settings.term_years * YEAR_MS
        await _backfill(rt, tenant)
        # Told in advance.
        due = rt.db.members.find(
            {
                "tenant": tenant,
                "state": "active",
                "term_started_ms": {"$lte": now_ms - term_ms + NOTICE_DAYS * DAY_MS},
                "term_notice_ms": {"$exists": False},
            },
            {"tenant": 1, "term_started_ms": 1},
        ).limit(BATCH)
        notified = []
        async for member in due:
            ends = max(int(member["term_started_ms"]) + term_ms, now_ms + NOTICE_DAYS * DAY_MS)
            if await _notify(rt, member, council, ends, settings.allow_renewal):
                notified.append(member["_id"])
        if notified:
            await rt.flush("members", notified)
        done["notified"] += len(notified)
        # Retired: the term has ended, and the notice is at least NOTICE_DAYS old.
        ended = (
            await rt.db.members.find(
                {
                    "tenant": tenant,
                    "state": "active",
                    "term_started_ms": {"$lte": now_ms - term_ms},
                    "term_notice_ms": {"$lte": now_ms - NOTICE_DAYS * DAY_MS},
                },
                {"_id": 1},
            )
            .limit(BATCH)
            .to_list()
        )
        for member in ended:
            await erasure._erase(
                rt, None, str(member["_id"]), "rotation", tenant=tenant, reason="retired"
            )
            await rt.db.renewal_links.delete_many({"member_id": member["_id"]})
        done["retired"] += len(ended)
    if done["notified"] or done["retired"]:
        log.info("rotation", **done)
    return done


async def rotate_forever(rt: Runtime) -> None:
    """Rotate now and every ``SWEEP_INTERVAL`` (in the background)."""
    while True:
        try:
            await rotate(rt)
        except Exception as exc:
            log.error("rotation failed", error=repr(exc)[:300])
        await asyncio.sleep(SWEEP_INTERVAL.total_seconds())


async def renew(rt: Runtime, cmd: RenewMembership) -> None:
    """A new term starts today for the member whose renewal link this is (once)."""
    hashed = token_hash(cmd.token)
    link = await rt.db.renewal_links.find_one({"_id": hashed, "tenant": cmd.tenant})
    if link is None:
        await rt.settle(cmd, "refused", "unknown_token")
        return
    if link.get("used_by") not in (None, cmd.message_id):
        await rt.settle(cmd, "refused", "already_used")
        return
    settings = panels.settings_of(await panels.panel_document(rt, cmd.tenant))
    if not settings.allow_renewal:
        await rt.settle(cmd, "refused", "renewal_not_allowed")
        return
    # The link is used up first; a redelivery of this command finds it used by itself.
    await rt.db.renewal_links.update_one(
        {"_id": hashed, "used_by": {"$exists": False}}, {"$set": {"used_by": cmd.message_id}}
    )
    await rt.db.members.update_one(
        {"_id": link["member_id"], "tenant": cmd.tenant, "state": "active"},
        {"$set": {"term_started_ms": epoch_ms(cmd.occurred_at)}, "$unset": {"term_notice_ms": ""}},
    )
    await rt.settle(cmd, "done")
