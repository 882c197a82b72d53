"""recruitment's use cases: one function per message."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from contracts.dispatch import SendMessage
from contracts.recruitment import (
    ConfirmMembership,
    ContactRecorded,
    EnrolMember,
    ImportMember,
    ListTenants,
    MemberEnrolled,
    MembershipOutcome,
    Outcome,
    RegisterTenant,
    TenantList,
    TenantView,
)
from infra import outcomes
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, new_document, with_outbox
from infra.tokens import new_token, token_hash
from services.recruitment import domain


async def register_tenant(rt: Runtime, cmd: RegisterTenant) -> None:
    """Create or rename a council."""
    await rt.db.tenants.update_one(
        {"_id": cmd.tenant},
        {
            "$set": {"display_name": cmd.display_name},
            "$setOnInsert": {"created_at": cmd.occurred_at},
        },
        upsert=True,
    )


async def _council_name(rt: Runtime, tenant: str) -> str:
    doc = await rt.db.tenants.find_one({"_id": tenant})
    if doc is None:
        raise Rejected(f"unknown tenant {tenant}")
    return str(doc["display_name"])


def _confirmation(
    rt: Runtime, cmd: EnrolMember, member_id: str, council: str, token: str
) -> SendMessage:
    return SendMessage.follow(
        cmd,
        member_id=member_id,
        template="confirm_membership",
        params={
            "link": domain.confirm_link(rt.settings.portal_url, cmd.tenant, token),
            "council": council,
        },
    )


def _checked_email(raw: str) -> str:
    try:
        return domain.normalise_email(raw)
    except domain.InvalidEmail as exc:
        raise Rejected("invalid e-mail address") from exc


def _member_document(
    cmd: EnrolMember | ImportMember, email: str, *, state: str, source: str
) -> Document:
    """A member as stored, with where and when consent was given."""
    return {
        "_id": cmd.member_id,
        "tenant": cmd.tenant,
        "email": email,
        "birth_year": cmd.birth_year,
        "gender": cmd.gender,
        "district": cmd.district.strip(),
        "locale": cmd.locale,
        "consent": {"version": cmd.consent_version, "given_at": cmd.occurred_at, "source": source},
        "state": state,
        "enrolled_by": cmd.message_id,
        "created_at": cmd.occurred_at,
    }


async def enrol_member(rt: Runtime, cmd: EnrolMember) -> None:
    """Record a sign-up as pending and send the double opt-in mail."""
    council = await _council_name(rt, cmd.tenant)
    email = _checked_email(cmd.email)
    token = new_token()
    contact = ContactRecorded.follow(cmd, member_id=cmd.member_id, email=email, locale=cmd.locale)
    document = {
        **_member_document(cmd, email, state="pending", source="web"),
        "token_hash": token_hash(token),
    }
    try:
        await rt.db.members.insert_one(
            new_document(document, contact, _confirmation(rt, cmd, cmd.member_id, council, token))
        )
    except DuplicateKeyError:
        existing = await rt.db.members.find_one({"tenant": cmd.tenant, "email": email})
        if existing is None or existing.get("enrolled_by") == cmd.message_id:
            return  # a redelivery of a sign-up already recorded
        if existing["state"] == "pending":
            # Signed up again before confirming: a new link replaces the old one.
            await rt.db.members.update_one(
                {"_id": existing["_id"], "state": "pending"},
                with_outbox(
                    {"$set": {"token_hash": token_hash(token), "enrolled_by": cmd.message_id}},
                    _confirmation(rt, cmd, existing["_id"], council, token),
                ),
            )
            await rt.flush("members", [existing["_id"]])
        return  # already active: say nothing that would reveal membership to a stranger
    await rt.flush("members", [cmd.member_id])


async def confirm_membership(rt: Runtime, cmd: ConfirmMembership) -> None:
    """Activate the member whose link this is; the outcome is kept for the portal."""
    hashed = token_hash(cmd.token)
    member = await rt.db.members.find_one({"tenant": cmd.tenant, "token_hash": hashed})
    status, reason = "done", None
    if member is None:
        status, reason = "refused", "unknown_token"
    elif member["state"] == "pending":
        event = MemberEnrolled.follow(
            cmd,
            member_id=member["_id"],
            birth_year=member["birth_year"],
            gender=member["gender"],
            district=member["district"],
        )
        result = await rt.db.members.update_one(
            {"_id": member["_id"], "state": "pending", "token_hash": hashed},
            with_outbox(
                {
                    "$set": {
                        "state": "active",
                        "confirmed_by": cmd.message_id,
                        "confirmed_at": datetime.now(UTC),
                    }
                },
                event,
            ),
        )
        if result.matched_count == 0:
            status, reason = "refused", "already_used"
        await rt.flush("members", [member["_id"]])
    elif member.get("confirmed_by") != cmd.message_id:
        status, reason = "refused", "already_used"
    await outcomes.record(rt.db, cmd, status, reason)


async def membership_outcome(rt: Runtime, q: MembershipOutcome) -> Outcome:
    """How a confirmation went, or pending if it has not been handled yet."""
    return await outcomes.read(rt.db, q.command_id, q.tenant)


async def list_tenants(rt: Runtime, _: ListTenants) -> TenantList:
    """Every council with its member counts."""
    views = []
    async for doc in rt.db.tenants.find({}).sort("_id", 1):
        views.append(
            TenantView(
                tenant=doc["_id"],
                display_name=doc["display_name"],
                members_active=await rt.db.members.count_documents(
                    {"tenant": doc["_id"], "state": "active"}
                ),
                members_pending=await rt.db.members.count_documents(
                    {"tenant": doc["_id"], "state": "pending"}
                ),
            )
        )
    return TenantList(tenants=tuple(views))


async def import_member(rt: Runtime, cmd: ImportMember) -> None:
    """Add an already-consented member as active; a duplicate e-mail changes nothing."""
    await _council_name(rt, cmd.tenant)
    email = _checked_email(cmd.email)
    document = {
        **_member_document(cmd, email, state="active", source=cmd.source),
        "confirmed_at": cmd.occurred_at,
    }
    contact = ContactRecorded.follow(cmd, member_id=cmd.member_id, email=email, locale=cmd.locale)
    enrolled = MemberEnrolled.follow(
        cmd,
        member_id=cmd.member_id,
        birth_year=cmd.birth_year,
        gender=cmd.gender,
        district=document["district"],
    )
    try:
        await rt.db.members.insert_one(new_document(document, contact, enrolled))
    except DuplicateKeyError:
        return
    await rt.flush("members", [cmd.member_id])
