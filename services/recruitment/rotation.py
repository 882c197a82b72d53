"""Rotation: a member's term in a panel ends after the panel's ``term_years``, and a member
outgrows a panel with a ``max_age`` (a youth panel) in the year they pass it. ``NOTICE_DAYS``
before, the member is told (with a link to renew where the panel allows it and age is not the
reason); at the end, and no sooner than ``NOTICE_DAYS`` after the notice, the member leaves
the panel. A member of other panels too just leaves this one (``MemberPanelsChanged``; the
notice says they stay in the others). A member of this panel only retires: erased everywhere
as an erasure is (``MemberErased`` with reason "retired"), counted as retired in the panel's
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
from contracts.panels import GENERAL, MemberPanelsChanged, RenewMembership
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
    rt: Runtime, member: Document, council: Document, ends_ms: int, renew: bool, panel: Document
) -> bool:
    """Tell one member their time in ``panel`` ends (once: guarded by the notice's absence).
    A member of other panels too hears that they stay in those (and cannot renew here)."""
    tenant = str(member["tenant"])
    name = str(panel["panel"])
    params = {
        "council": str(council["display_name"]),
        "ends": datetime.fromtimestamp(ends_ms / 1000, UTC).date().isoformat(),
        "panel": panels.settings_of(panel).name,
    }
    others = [p for p in panels.panels_of(member) if p != name]
    renew = renew and not others
    sealed = ""
    link_doc: Document | None = None
    if renew:
        token = new_token()
        link_doc = {
            "_id": token_hash(token),
            "tenant": tenant,
            "member_id": member["_id"],
            "panel": name,
        }
        sealed = rt.sealer.seal_params(
            {"link": renewal_link(rt.settings.portal_url, tenant, token)}
        )
        await rt.db.renewal_links.insert_one(link_doc)  # before the mail that carries it
    notice = SendMessage(
        tenant=tenant,
        member_id=str(member["_id"]),
        template="panel_leaving"
        if others
        else ("term_ending_renewable" if renew else "term_ending"),
        params=params,
        sealed=sealed,
    )
    result = await rt.db.members.update_one(
        # No notice pending: never given, renewed, or spent by leaving the panel (null).
        {"_id": member["_id"], "state": "active", "term_notice_ms": None},
        with_outbox({"$set": {"term_notice_ms": epoch_ms(), "term_notice_panel": name}}, notice),
    )
    if not result.matched_count and link_doc is not None:
        await rt.db.renewal_links.delete_one({"_id": link_doc["_id"]})
    return bool(result.matched_count)


async def rotate(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """Notify the members whose term in a panel ends within ``NOTICE_DAYS`` (or who have
    outgrown it), and take out of the panel those whose time has ended; how many of each
    (``left``: members who stay in other panels, ``retired``: erased)."""
    now_ms = epoch_ms(now or datetime.now(UTC))
    year = datetime.fromtimestamp(now_ms / 1000, UTC).year
    done = {"notified": 0, "retired": 0, "left": 0}
    query = {"$or": [{"settings.term_years": {"$gt": 0}}, {"settings.max_age": {"$gt": 0}}]}
    async for panel in rt.db.panels.find(query):
        tenant = str(panel["tenant"])
        settings = panels.settings_of(panel)
        council = await rt.db.tenants.find_one({"_id": tenant})
        if council is None:
            continue
        await _backfill(rt, tenant)
        name = str(panel["panel"])
        members_of = {"tenant": tenant, "state": "active", **panels.members_of(name)}
        # Whose time in the panel ends: a term that ends within the notice, or an age past
        # the panel's (by year of birth: from the year they turn max_age + 1).
        ending: list[Document] = []
        if settings.term_years:
            term_ms = settings.term_years * YEAR_MS
            ending.append(_started_by(name, now_ms - term_ms + NOTICE_DAYS * DAY_MS))
        if settings.max_age is not None:
            ending.append({"birth_year": {"$lt": year - settings.max_age}})
        due = rt.db.members.find(
            {**members_of, "$and": [{"$or": ending}], "term_notice_ms": None},
            {"tenant": 1, "term_started_ms": 1, "terms": 1, "birth_year": 1, "panels": 1},
        ).limit(BATCH)
        notified = []
        async for member in due:
            ends = now_ms + NOTICE_DAYS * DAY_MS
            outgrown = settings.max_age is not None and (
                int(member["birth_year"]) < year - settings.max_age
            )
            if settings.term_years and not outgrown:
                ends = max(_term_start(member, name) + settings.term_years * YEAR_MS, ends)
            renew = settings.allow_renewal and not outgrown
            if await _notify(rt, member, council, ends, renew, panel):
                notified.append(member["_id"])
        if notified:
            await rt.flush("members", notified)
        done["notified"] += len(notified)
        # Out of the panel: the time has ended, and the notice is at least NOTICE_DAYS old.
        ended_by: list[Document] = []
        if settings.term_years:
            ended_by.append(_started_by(name, now_ms - settings.term_years * YEAR_MS))
        if settings.max_age is not None:
            ended_by.append({"birth_year": {"$lt": year - settings.max_age}})
        ended = (
            await rt.db.members.find(
                {
                    **members_of,
                    # The notice was about this panel (before panels had names: the one).
                    "$and": [
                        {"$or": ended_by},
                        {
                            "$or": [
                                {"term_notice_panel": panel["panel"]},
                                {"term_notice_panel": {"$exists": False}},
                            ]
                        },
                    ],
                    "term_notice_ms": {"$lte": now_ms - NOTICE_DAYS * DAY_MS},
                }
            )
            .limit(BATCH)
            .to_list()
        )
        for member in ended:
            others = [p for p in panels.panels_of(member) if p != panel["panel"]]
            if others:
                if await _leave_panel(rt, member, others):
                    done["left"] += 1
                continue
            await erasure._erase(
                rt, None, str(member["_id"]), "rotation", tenant=tenant, reason="retired"
            )
            await rt.db.renewal_links.delete_many({"member_id": member["_id"]})
            done["retired"] += 1
    if any(done.values()):
        log.info("rotation", **done)
    return done


def _started_by(panel: str, ms: int) -> Document:
    """Members whose term in ``panel`` started by ``ms``: from joining that panel (``terms``),
    or, for the panel they joined the council with, from their confirmation or import."""
    return {
        "$or": [
            {f"terms.{panel}": {"$lte": ms}},
            {f"terms.{panel}": {"$exists": False}, "term_started_ms": {"$lte": ms}},
        ]
    }


def _term_start(member: Document, panel: str) -> int:
    """When the member's term in ``panel`` started (see ``_started_by``)."""
    started = (member.get("terms") or {}).get(panel)
    return int(started if started is not None else member["term_started_ms"])


async def _leave_panel(rt: Runtime, member: Document, others: list[str]) -> bool:
    """Take the member out of one panel, keeping ``others``, with ``MemberPanelsChanged``
    for rounds in the same update, guarded by the member's revision (a change crossing it
    waits for the next sweep). The notice is cleared: a term in the others runs on."""
    revision = int(member.get("revision") or 0)
    guard: Document = {"_id": member["_id"], "state": "active"}
    guard["revision"] = revision if revision else {"$exists": False}
    event = MemberPanelsChanged(
        tenant=str(member["tenant"]),
        member_id=str(member["_id"]),
        panels=tuple(others),
        revision=revision + 1,
    )
    result = await rt.db.members.update_one(
        guard,
        with_outbox(
            {
                "$set": {"panels": others, "revision": revision + 1},
                "$unset": {"term_notice_ms": "", "term_notice_panel": ""},
            },
            event,
        ),
    )
    if result.matched_count:
        await rt.flush("members", [member["_id"]])
    return bool(result.matched_count)


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
    panel = str(link.get("panel") or GENERAL)
    settings = panels.settings_of(await panels.panel_document(rt, cmd.tenant, panel))
    if not settings.allow_renewal:
        await rt.settle(cmd, "refused", "renewal_not_allowed")
        return
    # The link is used up first; a redelivery of this command finds it used by itself.
    await rt.db.renewal_links.update_one(
        {"_id": hashed, "used_by": {"$exists": False}}, {"$set": {"used_by": cmd.message_id}}
    )
    await rt.db.members.update_one(
        {"_id": link["member_id"], "tenant": cmd.tenant, "state": "active"},
        {
            "$set": {
                "term_started_ms": epoch_ms(cmd.occurred_at),
                f"terms.{panel}": epoch_ms(cmd.occurred_at),
            },
            "$unset": {"term_notice_ms": "", "term_notice_panel": ""},
        },
    )
    await rt.settle(cmd, "done")
