"""Erasure on request (GDPR art. 17): the member's record here at once, then every service's.

``EraseMember`` erases the member's record in one guarded update (personal fields removed,
the address replaced by a placeholder) that also carries ``MemberErased``; rounds and
dispatch forget what they hold and say so (``MemberForgotten``, ``ContactForgotten``). The
erasure's own record is keyed by a hash of council and member id and holds who asked, the
day, and which services have forgotten; once all have, the member's record is deleted, so
no database keeps the member id. ``GetErasure`` tells staff (or the member) where it
stands; ``GetMemberData`` gives the member their copy of what recruitment holds.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from contracts.envelope import Envelope
from contracts.personal_data import PersonalData, Value
from contracts.recruitment import (
    EraseMember,
    ErasureView,
    GetErasure,
    GetMemberData,
    LeavePanel,
    MemberErased,
)
from infra.service import Runtime
from infra.store import epoch_ms, with_outbox
from infra.tokens import token_hash
from services.recruitment import campaigns, counts
from services.recruitment.domain import email_of
from services.recruitment.expiry import PERSONAL_FIELDS

WITNESSES = ("rounds", "dispatch")
"""The services that hold something about members and must forget it (feedback holds
nothing about anyone)."""


def erasure_key(tenant: str, member_id: str) -> str:
    """An erasure's id: the member's, hashed, so the record outlives no member id."""
    return hashlib.sha256(f"erasure:{tenant}:{member_id}".encode()).hexdigest()


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def erase_member(rt: Runtime, cmd: EraseMember) -> None:
    """Erase the member here and ask every service to forget them; a repeat changes nothing."""
    if not await _erase(rt, cmd, cmd.member_id, cmd.requested_by):
        await rt.settle(cmd, "refused", "unknown_member")


async def leave_panel(rt: Runtime, cmd: LeavePanel) -> None:
    """A member leaves through the link in a mail: erased everywhere, asked by the member.
    The link goes with the rest, so a second use finds nothing (``unknown_token``)."""
    link = await rt.db.leave_links.find_one({"_id": token_hash(cmd.token), "tenant": cmd.tenant})
    if link is None or not await _erase(rt, cmd, link["member_id"], "member"):
        await rt.settle(cmd, "refused", "unknown_token")
        return
    await rt.settle(cmd, "done")


async def _erase(
    rt: Runtime,
    cause: Envelope | None,
    member_id: str,
    requested_by: str,
    *,
    tenant: str = "",
    reason: Literal["requested", "retired"] = "requested",
) -> bool:
    """Erase ``member_id`` of ``cause``'s council (or of ``tenant`` when nothing caused it but
    time: a retirement); False if there is no such member."""
    tenant = cause.tenant if cause is not None else tenant
    key = erasure_key(tenant, member_id)
    member = await rt.db.members.find_one({"_id": member_id, "tenant": tenant})
    if member is None:
        # Erased already, and every trace since; or never a member.
        return await rt.db.erasures.find_one({"_id": key}) is not None
    started = await rt.db.erasures.update_one(
        {"_id": key},
        {
            "$setOnInsert": {
                "tenant": tenant,
                "requested_on": _today(),
                "requested_by": requested_by,
                "forgotten_by": [],
                "completed_on": None,
            }
        },
        upsert=True,
    )
    if member["state"] == "erased" and started.upserted_id is None:
        return True  # a redelivery: the erasure is under way
    result = await rt.db.members.update_one(
        {"_id": member_id, "tenant": tenant, "state": member["state"]},
        with_outbox(
            {
                "$set": {
                    "state": "erased",
                    "email": f"erased:{member_id}",
                    "erased_at_ms": epoch_ms(),
                },
                "$unset": dict.fromkeys(PERSONAL_FIELDS, ""),
            },
            MemberErased.follow(cause, member_id=member_id, reason=reason)
            if cause is not None
            else MemberErased(tenant=tenant, member_id=member_id, reason=reason),
        ),
    )
    if result.matched_count and member["state"] in ("active", "pending"):
        retired = 1 if reason == "retired" and member["state"] == "active" else 0
        await counts.move(rt, tenant, **{member["state"]: -1}, retired=retired)
    await rt.db.signup_tokens.delete_many({"member_id": member_id})
    await rt.db.leave_links.delete_many({"member_id": member_id})
    await rt.db.renewal_links.delete_many({"member_id": member_id})
    if member.get("person"):
        # Joined by an invitation: what the campaign holds about them goes too.
        await campaigns.forget_person(rt, tenant, str(member["person"]))
    # Imported here: self-service asks this module to erase (a member's own request).
    from services.recruitment.self_service import forget

    await forget(rt, tenant, member_id)
    await rt.db.member_phones.delete_many({"member_id": member_id})
    await rt.db.sms_codes.delete_many({"member_id": member_id})
    await rt.flush("members", [member_id])
    return True


async def erase(rt: Runtime, cause: Envelope, member_id: str, requested_by: str) -> bool:
    """Erase ``member_id`` of ``cause``'s council everywhere (as ``EraseMember`` does); False
    if there is no such member."""
    return await _erase(rt, cause, member_id, requested_by)


async def forgotten(rt: Runtime, tenant: str, member_id: str, service: str) -> None:
    """A service has forgotten an erased member; once every one has, forget the id here too.

    (An unconfirmed sign-up's erasure has no record: nobody waits for it.)"""
    key = erasure_key(tenant, member_id)
    await rt.db.erasures.update_one({"_id": key}, {"$addToSet": {"forgotten_by": service}})
    record = await rt.db.erasures.find_one({"_id": key})
    if record is None or not set(WITNESSES) <= set(record["forgotten_by"]):
        return
    await rt.db.erasures.update_one(
        {"_id": key, "completed_on": None}, {"$set": {"completed_on": _today()}}
    )
    # Its event was published before anyone could forget: the record can go. (If its outbox
    # count lags, the sweep of erased records deletes it within a week.)
    await rt.db.members.delete_one(
        {"_id": member_id, "tenant": tenant, "state": "erased", "outbox_pending": {"$lte": 0}}
    )


async def get_erasure(rt: Runtime, q: GetErasure) -> ErasureView | None:
    """Where the erasure of ``q.member_id`` stands, or None if none was asked for."""
    record = await rt.db.erasures.find_one(
        {"_id": erasure_key(q.tenant, q.member_id), "tenant": q.tenant}
    )
    if record is None:
        return None
    return ErasureView(
        requested_on=record["requested_on"],
        requested_by=record["requested_by"],
        forgotten_by=tuple(sorted(record["forgotten_by"])),
        completed_on=record.get("completed_on"),
    )


def _text(value: object) -> str | None:
    """A stored time or value as the member reads it."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def member_data(rt: Runtime, q: GetMemberData) -> PersonalData | None:
    """What recruitment holds about a member (their copy of it), or None for no such member."""
    doc = await rt.db.members.find_one({"_id": q.member_id, "tenant": q.tenant})
    if doc is None or doc.get("state") == "erased":
        return None
    consent = doc.get("consent") or {}
    membership: dict[str, Value] = {
        "member_id": doc["_id"],
        "state": doc.get("state"),
        "email": email_of(doc.get("email")),
        "phone": doc.get("phone"),
        "birth_year": doc.get("birth_year"),
        "gender": doc.get("gender"),
        "district": doc.get("district"),
        "district_as_coded": doc.get("district_code"),
        "language": doc.get("locale"),
        "heard_of_the_panel_from": doc.get("heard_from") or None,
        "works_for_the_council": doc.get("works_for_council") or None,
        "signed_up": _text(doc.get("created_at")),
        "confirmed": _text(doc.get("confirmed_at")),
        "paused_until": doc.get("paused_until") or None,
        "connection_to_the_council": doc.get("connection") or None,
        "topics_followed": ", ".join(doc.get("topics") or ()) or None,
    }
    return PersonalData(
        service="recruitment",
        sections={
            "membership": [membership],
            "consent": [
                {
                    "version": _text(consent.get("version")),
                    "given": _text(consent.get("given_at")),
                    "source": _text(consent.get("source")),
                    "imported": _text(consent.get("imported_at")),
                    "import_id": _text(consent.get("import_id")),
                }
            ],
        },
        note="The links in the mails sent to you are kept only as one-way hashes.",
    )
