"""A council's panel settings and its consent texts (``contracts.panels``).

``panels`` holds one document per panel (``<council>:<panel>``): the settings, the current
consent text and its version, and in its outbox the ``PanelConfigured`` that tells rounds.
``consent_texts`` keeps every version's text (``<council>:<panel>:<n>``), so what each member
agreed to can always be shown. A council's general panel that was never configured has the
defaults and the built-in text (version ``DEFAULT_CONSENT_VERSION``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from contracts.panels import (
    DEFAULT_CONSENT_VERSION,
    GENERAL,
    ConfigurePanel,
    ConsentVersion,
    GetPanel,
    PanelConfigured,
    PanelSettings,
    PanelView,
)
from infra.bus import Rejected, RetryLater
from infra.service import Runtime
from infra.store import Document, epoch_ms, new_document, with_outbox


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
            {"$match": {"tenant": q.tenant, "state": "active"}},
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
