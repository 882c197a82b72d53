"""A council's panel settings and its consent texts (``contracts.panels``).

``panels`` holds one document per panel (``<council>:<panel>``): the settings, the current
consent text and its version, and in its outbox the ``PanelConfigured`` that tells rounds.
``consent_texts`` keeps every version's text (``<council>:<panel>:<n>``), so what each member
agreed to can always be shown. A council's general panel that was never configured has the
defaults and the built-in text (version ``DEFAULT_CONSENT_VERSION``); any other panel exists
once configured. A member's ``panels`` lists the panels they belong to (members recorded
before a council had several have none: they are the general panel's, see ``members_of``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from contracts.bands import AGE_BANDS
from contracts.dispatch import SendMessage
from contracts.panels import (
    DEFAULT_CONSENT_VERSION,
    GENERAL,
    ConfigurePanel,
    ConsentVersion,
    GetPanel,
    ListPanels,
    PanelConfigured,
    PanelList,
    PanelSettings,
    PanelSummary,
    PanelView,
)
from contracts.recruitment import EnrolMember
from infra.bus import Rejected, RetryLater
from infra.service import Runtime
from infra.store import Document, epoch_ms, new_document, with_outbox
from infra.tokens import derived_id


async def _council(rt: Runtime, tenant: str) -> None:
    if await rt.db.tenants.find_one({"_id": tenant}, {"_id": 1}) is None:
        raise Rejected(f"unknown tenant {tenant}")


def _key(tenant: str, panel: str) -> str:
    return f"{tenant}:{panel}"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


async def panel_document(rt: Runtime, tenant: str, panel: str = GENERAL) -> Document | None:
    return await rt.db.panels.find_one({"_id": _key(tenant, panel)})


def settings_of(doc: Document | None) -> PanelSettings:
    """A panel's settings (the defaults for a panel never configured)."""
    return PanelSettings() if doc is None else PanelSettings.model_validate(doc["settings"])


def members_of(panel: str) -> Document:
    """The filter of a panel's members (array containment with ``$all``, which the embedded
    store serves; the general panel also has the members recorded before there were more)."""
    if panel == GENERAL:
        return {"$or": [{"panels": {"$all": [GENERAL]}}, {"panels": {"$exists": False}}]}
    return {"panels": {"$all": [panel]}}


def panels_of(member: Document) -> list[str]:
    """The panels a stored member belongs to."""
    return [str(p) for p in member.get("panels") or [GENERAL]]


def eligibility_problem(
    settings: PanelSettings,
    *,
    age: int,
    connection: str,
    district_code: str,
    email: bool,
    phone: bool,
) -> str | None:
    """Why the panel does not take someone (a short reason), or None if it does."""
    if age < settings.min_age:
        return f"younger than the panel's minimum age ({settings.min_age})"
    if settings.max_age is not None and age > settings.max_age:
        return f"older than the panel's maximum age ({settings.max_age})"
    if connection not in settings.connections:
        return f"the panel does not take members connected as {connection}"
    if settings.districts and district_code not in settings.districts:
        return "the panel takes members from other districts"
    if not (email and "email" in settings.channels) and not (phone and "sms" in settings.channels):
        return "the panel does not offer the member's channel"
    return None


def population_of(
    settings: PanelSettings, population: dict[tuple[str, str, str], int]
) -> dict[tuple[str, str, str], int]:
    """The part of the council's population a panel draws from: its districts (all when it
    names none) and the age bands that overlap its ages."""
    high = settings.max_age if settings.max_age is not None else 200
    bands = {name for name, low, top in AGE_BANDS if low <= high and top >= settings.min_age}
    return {
        cell: n
        for cell, n in population.items()
        if cell[1] in bands
        and (not settings.districts or not cell[0] or cell[0] in settings.districts)
    }


async def offered_to(rt: Runtime, member: Document) -> tuple[list[str], list[str]]:
    """The topics and the channels the member's panels offer together (each in the order
    of the panels, the general one first), for the member's own page."""
    topics: dict[str, None] = {}
    channels: dict[str, None] = {}
    for name in sorted(panels_of(member), key=lambda p: (p != GENERAL, p)):
        settings = settings_of(await panel_document(rt, str(member["tenant"]), name))
        topics.update(dict.fromkeys(settings.topics))
        channels.update(dict.fromkeys(settings.channels))
    return list(topics), list(channels)


OTHER_PANEL_TEMPLATE = "join_other_panel"


async def signed_up_for_another(
    rt: Runtime, cmd: EnrolMember, member: Document, interval_ms: int
) -> None:
    """An active member's address was signed up for a panel they are not in: mail them (at
    most once per ``interval_ms``, like every sign-up mail) how to join it from their own
    page. The page answers as for anyone; only the mailbox learns it is a member."""
    if cmd.panel in panels_of(member):
        return
    now = epoch_ms(cmd.occurred_at)
    last = member.get("mailed_at_ms")
    if last is not None and now - int(last) < interval_ms:
        return
    name = settings_of(await panel_document(rt, cmd.tenant, cmd.panel)).name
    mail = SendMessage.follow(
        cmd,
        message_id=derived_id(cmd.message_id, OTHER_PANEL_TEMPLATE),
        member_id=str(member["_id"]),
        template=OTHER_PANEL_TEMPLATE,
        params={
            "panel": name,
            "link": f"{rt.settings.portal_url.rstrip('/')}/t/{cmd.tenant}/me/panels",
        },
        keep_channel=True,
    )
    # Guarded by the last mail's time: of concurrent sign-ups, one mails.
    result = await rt.db.members.update_one(
        {"_id": member["_id"], "state": "active", "mailed_at_ms": last},
        with_outbox({"$set": {"mailed_at_ms": now}}, mail),
    )
    if result.matched_count:
        await rt.flush("members", [member["_id"]])


async def consent_versions(rt: Runtime, tenant: str, panel: str = GENERAL) -> set[str]:
    """Every version of the panel's consent text a sign-up may name."""
    versions = {DEFAULT_CONSENT_VERSION} if panel == GENERAL else set()
    async for doc in rt.db.consent_texts.find({"tenant": tenant, "panel": panel}, {"version": 1}):
        versions.add(str(doc["version"]))
    return versions


async def configure_panel(rt: Runtime, cmd: ConfigurePanel) -> None:
    """Store the settings; a changed consent text becomes the next version. A command older
    than the settings in place (a late redelivery) changes nothing."""
    await _council(rt, cmd.tenant)
    council = await rt.db.tenants.find_one({"_id": cmd.tenant}, {"districts": 1})
    listed = set((council or {}).get("districts") or ())
    if not set(cmd.settings.districts) <= listed:
        await rt.settle(cmd, "refused", "district_not_listed")
        return
    if cmd.settings.max_age is not None and cmd.settings.max_age < cmd.settings.min_age:
        await rt.settle(cmd, "refused", "max_age_below_min_age")
        return
    key = _key(cmd.tenant, cmd.panel)
    doc = await rt.db.panels.find_one({"_id": key})
    at = epoch_ms(cmd.occurred_at)
    if doc is not None and int(doc["configured_at_ms"]) > at:
        await rt.settle(cmd, "done")
        return
    number = int(doc["consent_n"]) if doc else (1 if cmd.panel == GENERAL else 0)
    version = str(doc["consent_version"]) if doc else DEFAULT_CONSENT_VERSION
    if doc is None or doc.get("consent_text") != cmd.consent_text:
        number += 1
        prefix = "" if cmd.panel == GENERAL else f"{cmd.panel}-"
        version = f"{prefix}{cmd.occurred_at.year}-{number}"
        # Kept before the panel names it: a version in use always has its text.
        await rt.db.consent_texts.update_one(
            {"_id": f"{key}:{number}"},
            {
                "$setOnInsert": {
                    "tenant": cmd.tenant,
                    "panel": cmd.panel,
                    "version": version,
                    "text": cmd.consent_text,
                    "since_ms": at,
                }
            },
            upsert=True,
        )
        stored = await rt.db.consent_texts.find_one({"_id": f"{key}:{number}"})
        if stored is not None and stored["text"] != cmd.consent_text:
            raise RetryLater("another change of the consent text came first", 1.0)
        version = str(stored["version"]) if stored else version
    event = PanelConfigured.follow(
        cmd,
        panel=cmd.panel,
        max_rounds_per_half_year=cmd.settings.max_rounds_per_half_year,
        topics=tuple(cmd.settings.topics),
    )
    fields = {
        "tenant": cmd.tenant,
        "panel": cmd.panel,
        "settings": cmd.settings.model_dump(mode="json"),
        "consent_text": cmd.consent_text,
        "consent_n": number,
        "consent_version": version,
        "configured_at_ms": at,
    }
    if doc is None:
        try:
            await rt.db.panels.insert_one(new_document({"_id": key, **fields}, event))
        except DuplicateKeyError as exc:  # configured meanwhile: decide again
            raise RetryLater("configured concurrently", 0.5) from exc
    else:
        result = await rt.db.panels.update_one(
            {"_id": key, "configured_at_ms": doc["configured_at_ms"]},
            with_outbox({"$set": fields}, event),
        )
        if not result.matched_count:
            raise RetryLater("configured concurrently", 0.5)
    await rt.flush("panels", [key])
    await rt.settle(cmd, "done")


async def get_panel(rt: Runtime, q: GetPanel) -> PanelView | None:
    """The panel, or None for a panel other than the general one that does not exist."""
    doc = await panel_document(rt, q.tenant, q.panel)
    if doc is None and q.panel != GENERAL:
        return None
    counts: dict[str, int] = {}
    cursor = await rt.db.members.aggregate(
        [
            {"$match": {"tenant": q.tenant, "state": "active", **members_of(q.panel)}},
            {"$group": {"_id": "$consent.version", "n": {"$sum": 1}}},
        ]
    )
    for row in await cursor.to_list():
        counts[str(row["_id"])] = int(row["n"])
    versions = []
    if q.panel == GENERAL:
        versions.append(
            ConsentVersion(
                version=DEFAULT_CONSENT_VERSION,
                since="",
                members=counts.get(DEFAULT_CONSENT_VERSION, 0),
            )
        )
    texts = await rt.db.consent_texts.find({"tenant": q.tenant, "panel": q.panel}).to_list()
    for text in sorted(texts, key=lambda t: int(t["since_ms"])):
        versions.append(
            ConsentVersion(
                version=text["version"],
                since=_day(int(text["since_ms"])),
                members=counts.get(str(text["version"]), 0),
            )
        )
    return PanelView(
        panel=q.panel,
        settings=settings_of(doc),
        consent_text=str(doc["consent_text"]) if doc else "",
        consent_version=str(doc["consent_version"]) if doc else DEFAULT_CONSENT_VERSION,
        consent_versions=tuple(versions),
    )


async def list_panels(rt: Runtime, q: ListPanels) -> PanelList:
    """The council's panels, the general one first, each with its active members."""
    docs = {str(d["panel"]): d async for d in rt.db.panels.find({"tenant": q.tenant})}
    names = [GENERAL, *sorted(p for p in docs if p != GENERAL)]
    members = dict.fromkeys(names, 0)
    # One pass over the active members (a staff page's figure, not a hot path).
    async for m in rt.db.members.find({"tenant": q.tenant, "state": "active"}, {"panels": 1}):
        for panel in panels_of(m):
            if panel in members:
                members[panel] += 1
    summaries = []
    for name in names:
        settings = settings_of(docs.get(name))
        summaries.append(
            PanelSummary(
                panel=name,
                name=settings.name,
                owner=settings.owner,
                remit=settings.remit,
                members=members[name],
            )
        )
    return PanelList(panels=tuple(summaries))
