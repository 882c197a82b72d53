"""recruitment's use cases: one function per message."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import structlog
from pymongo.errors import DuplicateKeyError

from contracts.addresses import InvalidPhone, normalise_phone
from contracts.bands import age_band
from contracts.dispatch import SendMessage
from contracts.envelope import Envelope
from contracts.panels import GENERAL
from contracts.recruitment import (
    ConfirmMembership,
    ContactRecorded,
    EnrolMember,
    GetRepresentativeness,
    GetSignUp,
    ImportMember,
    ListTenants,
    MemberEnrolled,
    MembershipOutcome,
    Outcome,
    RegisterTenant,
    Representativeness,
    RowRejection,
    SetPopulation,
    SignUpView,
    TenantList,
    TenantView,
)
from infra import outcomes
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, epoch_ms, new_document, with_outbox
from infra.tokens import new_token, token_hash
from services.recruitment import (
    counts,
    domain,
    expiry,
    open_campaigns,
    panels,
    population,
    representativeness,
)

log = structlog.get_logger()


async def register_tenant(rt: Runtime, cmd: RegisterTenant) -> None:
    """Create or rename a council."""
    await rt.db.tenants.update_one(
        {"_id": cmd.tenant},
        {
            "$set": {
                "display_name": cmd.display_name,
                "districts": list(cmd.districts),
                "country": cmd.country,
            },
            "$setOnInsert": {
                "created_at": cmd.occurred_at,
                counts.COUNTERS["active"]: 0,
                counts.COUNTERS["pending"]: 0,
            },
        },
        upsert=True,
    )


async def _council(rt: Runtime, tenant: str) -> Document:
    doc = await rt.db.tenants.find_one({"_id": tenant})
    if doc is None:
        raise Rejected(f"unknown tenant {tenant}")
    return doc


def _districts(council: Document) -> list[str]:
    return [str(d) for d in council.get("districts") or ()]


def _confirmation(
    rt: Runtime, cmd: EnrolMember, member_id: str, council: str, token: str
) -> SendMessage:
    return SendMessage.follow(
        cmd,
        member_id=member_id,
        template="confirm_membership",
        params={"council": council},
        keep_channel=True,  # it confirms the address itself
        # The working link is sealed: no copy of the outbox or the queue can confirm.
        sealed=rt.sealer.seal_params(
            {"link": domain.confirm_link(rt.settings.portal_url, cmd.tenant, token)}
        ),
    )


def _yes_no(answer: bool | None) -> str:
    """An optional yes/no as stored: text, as the embedded store keeps a ``$set`` boolean as
    a number (see ``../shared/notes/embedded-store.md``)."""
    return {True: "yes", False: "no", None: ""}[answer]


def _checked_email(raw: str) -> str:
    try:
        return domain.normalise_email(raw)
    except domain.InvalidEmail as exc:
        raise Rejected("invalid e-mail address") from exc


def country_of(council: Document) -> str:
    """The council's country, by which its residents' mobile numbers are read."""
    return str(council.get("country") or "SE")


def checked_phone(raw: str, council: Document) -> str:
    """A mobile number of the council's country in E.164, or ``Rejected``."""
    try:
        return normalise_phone(raw, country_of(council))
    except InvalidPhone as exc:
        raise Rejected("invalid mobile number") from exc


def _details(cmd: EnrolMember | ImportMember, council: Document) -> domain.MemberDetails:
    """The member a single sign-up or import command describes, its e-mail, mobile number and
    district checked (the district against the council's list, if it keeps one)."""
    district = cmd.district.strip()
    code = domain.district_code(_districts(council), district)
    if code is None:
        raise Rejected("district not on the council's list")
    phone = getattr(cmd, "phone", "")
    if not cmd.email and not phone:
        raise Rejected("neither an e-mail address nor a mobile number")
    return domain.MemberDetails(
        member_id=cmd.member_id,
        email=_checked_email(cmd.email) if cmd.email else "",
        phone=checked_phone(phone, council) if phone else "",
        birth_year=cmd.birth_year,
        gender=cmd.gender,
        district=district,
        locale=cmd.locale,
        district_code=code,
    )


def _member_document(
    cmd: Envelope,
    member: domain.MemberDetails,
    *,
    consent_version: str,
    state: str,
    source: str,
    panel: str | None = None,
) -> Document:
    """A member as stored, with where and when consent was given, in ``panel`` (the
    command's, or the general panel)."""
    return {
        "_id": member.member_id,
        "tenant": cmd.tenant,
        "email": member.email or domain.no_email(member.member_id),
        "birth_year": member.birth_year,
        "gender": member.gender,
        "district": member.district,
        "district_code": member.district_code,
        "locale": member.locale,
        "consent": {"version": consent_version, "given_at": cmd.occurred_at, "source": source},
        **({"phone": member.phone} if member.phone else {}),
        "state": state,
        "enrolled_by": cmd.message_id,
        "created_at": cmd.occurred_at,
        # Its term (rotation) runs from here; a confirmation starts it again.
        "term_started_ms": epoch_ms(cmd.occurred_at),
        "connection": str(getattr(cmd, "connection", "resident")),
        "via": str(getattr(cmd, "via", "")),
        "topics": [str(t) for t in getattr(cmd, "topics", ())],
        "panels": [panel or str(getattr(cmd, "panel", GENERAL))],
    }


def _contact(
    rt: Runtime,
    cmd: Envelope,
    member_id: str,
    email: str,
    locale: str,
    council: str,
    phone: str = "",
    channel: str = "email",
) -> tuple[ContactRecorded, Document]:
    """The contact for dispatch, with the member's own link to leave the panel (sealed), and
    that link's record here (its token's hash), to store before the contact goes out;
    ``channel``: how the member wants panel messages (``domain.preferred_channel``)."""
    token = new_token()
    contact = ContactRecorded.follow(
        cmd,
        member_id=member_id,
        email=domain.email_of(email),
        phone=phone or None,
        locale=locale,
        council=council,
        sealed=rt.sealer.seal_params(
            {"leave_link": domain.leave_link(rt.settings.portal_url, cmd.tenant, token)}
        ),
        channel=channel,
    )
    return contact, {"_id": token_hash(token), "tenant": cmd.tenant, "member_id": member_id}


def _member_events(
    rt: Runtime,
    cmd: Envelope,
    member: domain.MemberDetails,
    council: str,
    panel: str = GENERAL,
) -> tuple[ContactRecorded, MemberEnrolled, Document]:
    """What an imported member's document carries in its outbox: contacts, then enrolment;
    and the record of the member's link to leave."""
    contact, leave = _contact(
        rt, cmd, member.member_id, member.email, member.locale, council, member.phone
    )
    enrolled = MemberEnrolled.follow(
        cmd,
        member_id=member.member_id,
        birth_year=member.birth_year,
        gender=member.gender,
        district=member.district_code,
        panels=(panel,),
    )
    return contact, enrolled, leave


async def check_against_panel(
    rt: Runtime, cmd: EnrolMember, member: domain.MemberDetails | None = None
) -> None:
    """A sign-up fits the panel it is for: the panel exists, takes the resident (age,
    connection, district, channel), offers the topics, and the resident agrees to a version
    of its consent text (the portal checks these first; this is the rules' home)."""
    doc = await panels.panel_document(rt, cmd.tenant, cmd.panel)
    if doc is None and cmd.panel != GENERAL:
        raise Rejected(f"no panel {cmd.panel} in this council")
    settings = panels.settings_of(doc)
    if not cmd.email and "sms" not in settings.channels:
        raise Rejected("the panel does not offer SMS")
    if cmd.email and "email" not in settings.channels:
        raise Rejected("the panel does not offer e-mail")
    problem = panels.eligibility_problem(
        settings,
        age=cmd.occurred_at.year - cmd.birth_year,
        connection=cmd.connection,
        district_code=member.district_code if member else cmd.district,
        email=bool(cmd.email),
        phone=bool(cmd.phone),
    )
    if problem:
        raise Rejected(problem)
    if cmd.consent_version not in await panels.consent_versions(rt, cmd.tenant, cmd.panel):
        raise Rejected("unknown version of the consent text")
    if not set(cmd.topics) <= set(settings.topics):
        raise Rejected("a topic the panel does not offer")
    if cmd.channel == "sms" and "sms" not in settings.channels:
        raise Rejected("SMS chosen, and the panel does not offer it")


async def claim_phone(rt: Runtime, tenant: str, phone: str, member_id: str) -> bool:
    """Make ``phone`` this member's in the council (one member per number, as per address):
    a document keyed by a hash of council and number. False if it is another member's."""
    key = domain.phone_key(tenant, phone)
    try:
        await rt.db.member_phones.insert_one({"_id": key, "tenant": tenant, "member_id": member_id})
    except DuplicateKeyError:
        claim = await rt.db.member_phones.find_one({"_id": key})
        return claim is not None and claim["member_id"] == member_id
    return True


async def release_phone(rt: Runtime, tenant: str, phone: str, member_id: str) -> None:
    """Give up a claim on ``phone`` made for a sign-up that did not become a member."""
    await rt.db.member_phones.delete_one(
        {"_id": domain.phone_key(tenant, phone), "member_id": member_id}
    )


MAIL_INTERVAL = timedelta(hours=3)
"""At most one opt-in mail per address in this long, however often (and from wherever) the
address is signed up: the sign-up form cannot be used to flood someone's inbox."""


async def enrol_member(rt: Runtime, cmd: EnrolMember) -> None:
    """Record a sign-up as pending and send the double opt-in mail.

    Signing up again before confirming sends a new mail only if the last one went out more
    than ``MAIL_INTERVAL`` ago, and never makes an earlier link stop working: every link sent
    is a document of its own (``signup_tokens``, keyed by the token's hash) until it expires.
    """
    council_doc = await _council(rt, cmd.tenant)
    council = str(council_doc["display_name"])
    member = _details(cmd, council_doc)
    await check_against_panel(rt, cmd, member)
    if member.phone and not await claim_phone(rt, cmd.tenant, member.phone, cmd.member_id):
        # The number is another member's: this sign-up is confirmed by mail, without it.
        member = dataclasses.replace(member, phone="")
    email = member.email
    token = new_token()
    hashed = token_hash(token)
    # The link exists before the mail that carries it can go out.
    await rt.db.signup_tokens.update_one(
        {"_id": hashed},
        {
            "$setOnInsert": {
                "tenant": cmd.tenant,
                "member_id": cmd.member_id,
                "created_at": cmd.occurred_at,
                "created_at_ms": epoch_ms(cmd.occurred_at),
            }
        },
        upsert=True,
    )
    channel = domain.preferred_channel(email, member.phone, cmd.channel)
    contact, leave = _contact(
        rt, cmd, cmd.member_id, email, cmd.locale, council, member.phone, channel
    )
    await rt.db.leave_links.insert_one(leave)
    document = {
        **_member_document(
            cmd, member, consent_version=cmd.consent_version, state="pending", source="web"
        ),
        "channel": channel,
        "heard_from": cmd.heard_from,
        "works_for_council": _yes_no(cmd.works_for_council),
        "mailed_at_ms": epoch_ms(cmd.occurred_at),
        "signed_up_at_ms": epoch_ms(cmd.occurred_at),
    }
    try:
        await rt.db.members.insert_one(
            new_document(document, contact, _confirmation(rt, cmd, cmd.member_id, council, token))
        )
    except DuplicateKeyError:
        await rt.db.leave_links.delete_one({"_id": leave["_id"]})  # never sent
        if member.phone:
            await release_phone(rt, cmd.tenant, member.phone, cmd.member_id)
        await _signed_up_again(rt, cmd, member, council, token)
        return
    await counts.move(rt, cmd.tenant, pending=1)
    await open_campaigns.signed_up(rt, cmd.tenant, cmd.via)
    await rt.flush("members", [cmd.member_id])


async def _signed_up_again(
    rt: Runtime, cmd: EnrolMember, member: domain.MemberDetails, council: str, token: str
) -> None:
    """A sign-up for an address already here: a new mail only if the last is old enough.

    While the address is pending, the newest sign-up's details and consent win (whoever made
    the first one), and the opt-in page shows them: only the mailbox's owner confirms, and
    knows what."""
    hashed = token_hash(token)
    existing = await rt.db.members.find_one({"tenant": cmd.tenant, "email": member.email})
    if existing is None or existing.get("enrolled_by") == cmd.message_id:
        return  # a redelivery of a sign-up already recorded
    if existing["state"] == "pending":
        await take_newest_details(rt, cmd, member, existing)
    elif existing["state"] == "active":
        await panels.signed_up_for_another(rt, cmd, existing, epoch_ms(MAIL_INTERVAL))
    # Numbers, not datetimes: see ``infra.store.epoch_ms``.
    last = existing.get("mailed_at_ms") or epoch_ms(existing["created_at"])
    if existing["state"] != "pending" or epoch_ms(cmd.occurred_at) - last < epoch_ms(MAIL_INTERVAL):
        # Already a member (say nothing that would tell a stranger so), or mailed recently:
        # the link in that mail stays the one to use.
        await rt.db.signup_tokens.delete_one({"_id": hashed, "member_id": cmd.member_id})
        return
    await rt.db.signup_tokens.update_one({"_id": hashed}, {"$set": {"member_id": existing["_id"]}})
    result = await rt.db.members.update_one(
        # Guarded by the last mail's time: of concurrent sign-ups, one sends.
        {"_id": existing["_id"], "state": "pending", "mailed_at_ms": existing.get("mailed_at_ms")},
        with_outbox(
            {"$set": {"mailed_at_ms": epoch_ms(cmd.occurred_at), "enrolled_by": cmd.message_id}},
            _confirmation(rt, cmd, existing["_id"], council, token),
        ),
    )
    if result.matched_count:
        await rt.flush("members", [existing["_id"]])
    else:
        await rt.db.signup_tokens.delete_one({"_id": hashed})


async def take_newest_details(
    rt: Runtime, cmd: EnrolMember, member: domain.MemberDetails, existing: Document
) -> None:
    """A pending member takes a newer sign-up's details and consent (an older one, delivered
    late, changes nothing); the contact book learns the language."""
    member_id = existing["_id"]
    signed_up = epoch_ms(cmd.occurred_at)
    council = str((await _council(rt, cmd.tenant))["display_name"])
    phone = str(existing.get("phone") or "")
    channel = domain.preferred_channel(domain.email_of(existing["email"]), phone, cmd.channel)
    contact, leave = _contact(
        rt, cmd, member_id, existing["email"], cmd.locale, council, phone, channel
    )
    await rt.db.leave_links.insert_one(leave)
    result = await rt.db.members.update_one(
        {
            "_id": member_id,
            "state": "pending",
            "$or": [
                {"signed_up_at_ms": {"$lt": signed_up}},
                {"signed_up_at_ms": {"$exists": False}},
            ],
        },
        with_outbox(
            {
                "$set": {
                    "birth_year": member.birth_year,
                    "gender": member.gender,
                    "district": member.district,
                    "district_code": member.district_code,
                    "locale": member.locale,
                    "channel": channel,
                    "heard_from": cmd.heard_from,
                    "works_for_council": _yes_no(cmd.works_for_council),
                    "consent": {
                        "version": cmd.consent_version,
                        "given_at": cmd.occurred_at,
                        "source": "web",
                    },
                    "panels": [cmd.panel],
                    "signed_up_at_ms": signed_up,
                }
            },
            contact,
        ),
    )
    if result.matched_count:
        await rt.flush("members", [member_id])


async def _member_of_link(rt: Runtime, tenant: str, hashed: str) -> Document | None:
    """The member an opt-in link belongs to (links made before ``signup_tokens`` sit on the
    member document itself)."""
    link = await rt.db.signup_tokens.find_one({"_id": hashed, "tenant": tenant})
    if link is not None:
        valid_from = epoch_ms() - epoch_ms(timedelta(days=expiry.PENDING_DAYS))
        if link.get("created_at_ms", valid_from) < valid_from:
            return None  # expired; the sweep deletes it soon
        return await rt.db.members.find_one({"_id": link["member_id"], "tenant": tenant})
    return await rt.db.members.find_one({"tenant": tenant, "token_hash": hashed})


async def confirm_membership(rt: Runtime, cmd: ConfirmMembership) -> None:
    """Activate the member whose link this is; the outcome is kept for the portal."""
    member = await _member_of_link(rt, cmd.tenant, token_hash(cmd.token))
    if member is None:
        await rt.settle(cmd, "refused", "unknown_token")
        return
    status, reason = await activate(rt, cmd, member)
    await rt.settle(cmd, status, reason)


async def activate(rt: Runtime, cmd: Envelope, member: Document) -> tuple[str, str | None]:
    """Make a pending member active, once, for ``cmd`` (a confirmation by link or code):
    ("done", None), or ("refused", "already_used") if another confirmation came first."""
    status, reason = "done", None
    if member["state"] == "pending":
        event = MemberEnrolled.follow(
            cmd,
            member_id=member["_id"],
            birth_year=member["birth_year"],
            gender=member["gender"],
            # Members recorded before districts were coded have no code: none goes out.
            district=member.get("district_code", ""),
            panels=tuple(panels.panels_of(member)),
            topics=tuple(str(t) for t in member.get("topics") or ()),
        )
        result = await rt.db.members.update_one(
            {"_id": member["_id"], "tenant": cmd.tenant, "state": "pending"},
            with_outbox(
                {
                    "$set": {
                        "state": "active",
                        "confirmed_by": cmd.message_id,
                        "confirmed_at": datetime.now(UTC),
                        "term_started_ms": epoch_ms(),
                    }
                },
                event,
            ),
        )
        # The enrolment goes out first (rounds invites the member from it); the counters,
        # staff figures, follow.
        await rt.flush("members", [member["_id"]])
        if result.matched_count == 0:
            status, reason = "refused", "already_used"
        else:
            await counts.move(rt, cmd.tenant, active=1, pending=-1)
            await open_campaigns.joined(rt, cmd.tenant, str(member.get("via") or ""))
    elif member.get("confirmed_by") != cmd.message_id:
        status, reason = "refused", "already_used"
    return status, reason


async def get_sign_up(rt: Runtime, q: GetSignUp) -> SignUpView | None:
    """What a pending sign-up's link would confirm, or None (unknown, used, expired)."""
    member = await _member_of_link(rt, q.tenant, token_hash(q.token))
    if member is None or member["state"] != "pending":
        return None
    return SignUpView(
        email=domain.email_of(member["email"]) or "",
        birth_year=member["birth_year"],
        gender=member["gender"],
        district=member["district"],
        consent_version=member["consent"]["version"],
    )


async def membership_outcome(rt: Runtime, q: MembershipOutcome) -> Outcome:
    """How a confirmation went, or pending if it has not been handled yet."""
    return await outcomes.read(rt.db, q.command_id, q.tenant)


async def list_tenants(rt: Runtime, _: ListTenants) -> TenantList:
    """Every council with its member counts (its counters: the portal asks every few seconds)."""
    views = []
    async for doc in rt.db.tenants.find({}).sort("_id", 1):
        active, pending = counts.read(doc)
        views.append(
            TenantView(
                tenant=doc["_id"],
                display_name=doc["display_name"],
                districts=tuple(doc.get("districts") or ()),
                country=country_of(doc),
                members_active=active,
                members_pending=pending,
            )
        )
    return TenantList(tenants=tuple(views))


async def set_population(rt: Runtime, cmd: SetPopulation) -> None:
    """Replace the council's population figures; rows that do not fit are kept as refusals.
    The same write carries the ``PopulationChanged`` that tells rounds. A command older than
    the figures in place (a late redelivery) changes nothing."""
    council = await _council(rt, cmd.tenant)
    checked = representativeness.check_population(cmd.rows, _districts(council))
    set_at = epoch_ms(cmd.occurred_at)
    document = {
        "_id": cmd.tenant,  # named here too: the embedded store does not take it from the filter
        "tenant": cmd.tenant,
        "source": cmd.source,
        "set_at_ms": set_at,
        "cells": [
            {"district": d, "age_band": b, "gender": g, "population": p}
            for (d, b, g), p in checked.cells.items()
        ],
        "rejected": [{"row": n, "reason": r} for n, r in checked.rejected],
        population.ANNOUNCED: set_at,
    }
    try:
        await rt.db.populations.replace_one(
            {"_id": cmd.tenant, "set_at_ms": {"$lte": set_at}},
            new_document(document, population.changed(cmd, checked.cells)),
            upsert=True,
        )
    except DuplicateKeyError:  # newer figures are in place
        return
    await rt.flush("populations", [cmd.tenant])


async def get_representativeness(
    rt: Runtime, q: GetRepresentativeness
) -> Representativeness | None:
    """The active panel against the population, or None while no figures are set."""
    doc = await rt.db.populations.find_one({"_id": q.tenant})
    if doc is None:
        return None
    population = {
        (c["district"], c["age_band"], c["gender"]): c["population"] for c in doc["cells"]
    }
    query: Document = {"tenant": q.tenant, "state": "active"}
    if q.panel:
        panel_doc = await panels.panel_document(rt, q.tenant, q.panel)
        if panel_doc is None and q.panel != GENERAL:
            return None
        population = panels.population_of(panels.settings_of(panel_doc), population)
        query |= panels.members_of(q.panel)
    by_district = any(district for district, _, _ in population)
    year = datetime.now(UTC).year
    members = [
        (
            m.get("district_code", "") if by_district else "",
            age_band(m["birth_year"], year),
            m["gender"],
        )
        async for m in rt.db.members.find(query, {"birth_year": 1, "gender": 1, "district_code": 1})
    ]
    found = representativeness.compare(population, members)
    return Representativeness(
        source=doc["source"],
        index=found.index,
        members_compared=found.compared,
        members_not_compared=found.not_compared,
        by_age_band=found.by_age_band,
        by_gender=found.by_gender,
        by_district=found.by_district,
        recruit_next=found.recruit_next,
        by_cell=found.by_cell,
        rejected_rows=tuple(
            RowRejection(row=r["row"], reason=r["reason"]) for r in doc["rejected"]
        ),
    )
