"""Member self-service: sign-in by a mailed link (by an SMS code: ``sign_in_codes``), the
member's own details, the pause, and erasure on the member's own request.

Identity and sessions stay here. A sign-in link is a document of its own keyed by the hash of
its token (``sign_in_links``: single use, ``LINK_MINUTES`` valid); a session is keyed by the
hash of the cookie's token (``member_sessions``), which only the portal and the browser hold.
Each self-service command carries the session's token and is refused (``no_session``) unless
it names a live session of the same council. A change of the member record moves its
``revision`` and carries its event for rounds in the same guarded update (the outbox); a
redelivered command finds its recorded outcome and changes nothing.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.dispatch import SendMessage
from contracts.envelope import Envelope
from contracts.membership import (
    ChangeMyDetails,
    ChangeMyEmail,
    CloseMemberSession,
    ConfirmEmailChange,
    EraseMyMembership,
    GetMyMembership,
    MemberBackgroundChanged,
    MemberPaused,
    MemberResumed,
    MyMembership,
    OpenMemberSession,
    PauseMembership,
    RequestSignIn,
    ResumeMembership,
)
from infra import outcomes
from infra.service import Runtime
from infra.store import Document, epoch_ms, with_outbox
from infra.tokens import new_token, token_hash
from services.recruitment import domain, erasure, handlers, panels

LINK_MINUTES = 30
"""How long a sign-in link works (once)."""
SESSION_HOURS = 2
"""How long a member session lasts."""
EMAIL_CHANGE_HOURS = 24
"""How long the link sent to a new address works."""
PAUSE_DAYS = 366
"""The longest pause: about a year."""
MAIL_INTERVAL = timedelta(minutes=1)
"""At most one sign-in mail per member in this long, however often it is asked for."""

COLLECTIONS = (
    "sign_in_links",
    "member_sessions",
    "email_changes",
    "sign_in_codes",
    "phone_changes",
)
"""What self-service keeps per member; erasure deletes all of it (``forget``). (Sign-in codes
are ``sign_in_codes``'s, one per number, replaced rather than expired.)"""


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """Erasure finds a member's links and sessions by member id; expired ones go by TTL."""
    for name in COLLECTIONS:
        await db[name].create_index("member_id")
        # Inserted (never $set), so the datetime stays one in the embedded store too.
        await db[name].create_index("expires_at", expireAfterSeconds=0)


def _expiring(cause: Envelope, lifetime: timedelta, **fields: object) -> Document:
    expires = cause.occurred_at + lifetime
    return {
        "tenant": cause.tenant,
        **fields,
        "expires_at": expires,
        "expires_ms": epoch_ms(expires),
    }


def sign_in_link(portal_url: str, tenant: str, token: str) -> str:
    """The link in the sign-in mail."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/me/sign-in/{token}"


def email_change_link(portal_url: str, tenant: str, token: str) -> str:
    """The link sent to a new address."""
    return f"{portal_url.rstrip('/')}/t/{tenant}/me/email/{token}"


async def _handled_before(rt: Runtime, cmd: Envelope) -> bool:
    """A redelivery of a command already settled: tell its waiter the recorded outcome."""
    prior = await outcomes.read(rt.db, cmd.message_id, cmd.tenant)
    if prior.status == "pending":
        return False
    await rt.settle(cmd, prior.status, prior.reason)
    return True


async def member_acting(rt: Runtime, cmd: Envelope, session: str) -> Document | None:
    """The member a self-service command acts for (its session's), or None when there is
    nothing to do: a redelivery of a command already settled (its outcome is told again), or
    no live session of the council (settled ``no_session``)."""
    if await _handled_before(rt, cmd):
        return None
    member = await _session_member(rt, cmd.tenant, session)
    if member is None:
        await rt.settle(cmd, "refused", "no_session")
    return member


async def _session_member(rt: Runtime, tenant: str, session: str) -> Document | None:
    """The active member whose live session of this council ``session`` is, or None."""
    found = await rt.db.member_sessions.find_one({"_id": token_hash(session), "tenant": tenant})
    if found is None or int(found["expires_ms"]) <= epoch_ms():
        return None
    return await rt.db.members.find_one(
        {"_id": found["member_id"], "tenant": tenant, "state": "active"}
    )


# --- signing in and out ------------------------------------------------------------------


async def request_sign_in(rt: Runtime, cmd: RequestSignIn) -> None:
    """Mail a sign-in link to an active member with this address; do nothing otherwise (the
    outcome is ``done`` either way, so the answer tells no one who is a member)."""
    if await _handled_before(rt, cmd):
        return
    try:
        email = domain.normalise_email(cmd.email)
    except domain.InvalidEmail:
        await rt.settle(cmd, "done")
        return
    member = await rt.db.members.find_one({"tenant": cmd.tenant, "email": email, "state": "active"})
    last = int((member or {}).get("sign_in_mailed_ms") or 0)
    if member is None or epoch_ms(cmd.occurred_at) - last < epoch_ms(MAIL_INTERVAL):
        await rt.settle(cmd, "done")
        return
    token = new_token()
    # The link works before the mail that carries it can go out.
    await rt.db.sign_in_links.insert_one(
        {
            "_id": token_hash(token),
            **_expiring(
                cmd, timedelta(minutes=LINK_MINUTES), member_id=member["_id"], state="unused"
            ),
        }
    )
    council = str((await handlers._council(rt, cmd.tenant))["display_name"])
    mail = SendMessage.follow(
        cmd,
        member_id=member["_id"],
        template="member_sign_in",
        params={"council": council, "minutes": str(LINK_MINUTES)},
        keep_channel=True,  # to the address typed, whatever the member prefers
        sealed=rt.sealer.seal_params(
            {"link": sign_in_link(rt.settings.portal_url, cmd.tenant, token)}
        ),
    )
    # Guarded by the last mail's time: of concurrent requests (or redeliveries), one mails.
    await rt.db.members.update_one(
        {
            "_id": member["_id"],
            "tenant": cmd.tenant,
            "sign_in_mailed_ms": member.get("sign_in_mailed_ms"),
        },
        with_outbox({"$set": {"sign_in_mailed_ms": epoch_ms(cmd.occurred_at)}}, mail),
    )
    await rt.flush("members", [member["_id"]])
    await rt.settle(cmd, "done")


async def open_member_session(rt: Runtime, cmd: OpenMemberSession) -> None:
    """Use up a sign-in link and open the session the portal named by its token's hash.

    Refused: ``unknown_token``, ``expired`` (older than ``LINK_MINUTES``), ``already_used``.
    """
    if await _handled_before(rt, cmd):
        return
    hashed = token_hash(cmd.token)
    link = await rt.db.sign_in_links.find_one({"_id": hashed, "tenant": cmd.tenant})
    if link is None:
        await rt.settle(cmd, "refused", "unknown_token")
        return
    if int(link["expires_ms"]) <= epoch_ms():
        await rt.settle(cmd, "refused", "expired")
        return
    used = await rt.db.sign_in_links.update_one(
        {"_id": hashed, "state": "unused"}, {"$set": {"state": "used", "used_by": cmd.message_id}}
    )
    if not used.matched_count and link.get("used_by") != cmd.message_id:
        again = await rt.db.sign_in_links.find_one({"_id": hashed})
        if again is None or again.get("used_by") != cmd.message_id:
            await rt.settle(cmd, "refused", "already_used")
            return
    await open_session_of(rt, cmd, str(link["member_id"]), cmd.session_hash, "unknown_token")


async def open_session_of(
    rt: Runtime, cmd: Envelope, member_id: str, session_hash: str, refusal: str
) -> None:
    """Open the session ``session_hash`` for the active member ``member_id`` (a link or code
    of theirs was used up for ``cmd``) and settle ``cmd`` done; refused with ``refusal`` if
    the member is no longer active. A redelivery after the session was written finds it."""
    member = await rt.db.members.find_one(
        {"_id": member_id, "tenant": cmd.tenant, "state": "active"}
    )
    if member is None:
        await rt.settle(cmd, "refused", refusal)
        return
    with contextlib.suppress(DuplicateKeyError):
        await rt.db.member_sessions.insert_one(
            {
                "_id": session_hash,
                **_expiring(cmd, timedelta(hours=SESSION_HOURS), member_id=member["_id"]),
            }
        )
    await rt.settle(cmd, "done")


async def close_member_session(rt: Runtime, cmd: CloseMemberSession) -> None:
    """Sign out: delete the session (an unknown one is already gone)."""
    await rt.db.member_sessions.delete_one({"_id": token_hash(cmd.session), "tenant": cmd.tenant})


# --- the member's own details -------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def _pause_shown(member: Document) -> str | None:
    until = member.get("paused_until")
    return str(until) if until and str(until) > _today().isoformat() else None


async def get_my_membership(rt: Runtime, q: GetMyMembership) -> MyMembership | None:
    """The signed-in member's details, or None for no live session of this council."""
    member = await _session_member(rt, q.tenant, q.session)
    if member is None:
        return None
    change = await rt.db.email_changes.find_one(
        {"member_id": member["_id"], "tenant": q.tenant, "expires_ms": {"$gt": epoch_ms()}},
        sort=[("expires_ms", -1)],
    )
    works = member.get("works_for_council") or ""
    topics_offered, channels_offered = await panels.offered_to(rt, member)
    return MyMembership(
        member_id=member["_id"],
        email=domain.email_of(member["email"]) or "",
        birth_year=member["birth_year"],
        gender=member["gender"],
        district=member["district"],
        locale=member.get("locale") or "sv",
        heard_from=member.get("heard_from") or "",
        works_for_council={"yes": True, "no": False}.get(works),
        paused_until=_pause_shown(member),
        email_change_to=change["email"] if change else None,
        topics=tuple(str(t) for t in member.get("topics") or ()),
        topics_offered=tuple(topics_offered),
        phone=str(member.get("phone") or ""),
        channel=domain.channel_of(member),
        channels_offered=tuple(channels_offered),
    )


def _next_revision(member: Document) -> int:
    """The revision a change of ``member`` makes (its events carry it)."""
    return int(member.get("revision") or 0) + 1


async def _revise(
    rt: Runtime, cmd: Envelope, member: Document, fields: Document, *events: Envelope
) -> None:
    """Set ``fields`` on the member and move its revision to ``_next_revision(member)``, with
    the events that change causes, in one update guarded by the revision read. If the member
    changed meanwhile, ``MemberChangedMeanwhile``: the command is retried with back-off."""
    revision = _next_revision(member) - 1
    guard: Document = {"_id": member["_id"], "tenant": cmd.tenant, "state": "active"}
    guard["revision"] = revision if revision else {"$exists": False}
    result = await rt.db.members.update_one(
        guard, with_outbox({"$set": {**fields, "revision": revision + 1}}, *events)
    )
    if not result.matched_count:
        raise MemberChangedMeanwhile(member["_id"])
    await rt.flush("members", [member["_id"]])


class MemberChangedMeanwhile(Exception):
    """Two changes of one member crossed; the later one is retried with back-off."""


def check_channel(member: Document, chosen: str, offered: tuple[str, ...]) -> str | None:
    """Why ``member`` cannot have panel messages on ``chosen`` (a reason code), or None."""
    if chosen == "sms" and not member.get("phone"):
        return "no_phone"
    if chosen == "sms" and "sms" not in offered:
        return "sms_not_offered"
    if chosen == "email" and not domain.email_of(member.get("email")):
        return "no_email"
    return None


async def change_my_details(rt: Runtime, cmd: ChangeMyDetails) -> None:
    """Change the member's details; the background variables reach rounds, the language and
    the preferred channel the contact book. Refused: ``no_session``, ``district_not_listed``,
    ``topic_not_offered``, and for the channel ``no_phone``, ``sms_not_offered``,
    ``no_email``."""
    member = await member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    council = await handlers._council(rt, cmd.tenant)
    district = " ".join(cmd.district.split())
    code = domain.district_code(handlers._districts(council), district)
    if code is None:
        await rt.settle(cmd, "refused", "district_not_listed")
        return
    if code:
        district = code  # the list's own spelling
    fields: Document = {
        "birth_year": cmd.birth_year,
        "gender": cmd.gender,
        "district": district,
        "district_code": code,
        "locale": cmd.locale,
        "heard_from": cmd.heard_from,
        "works_for_council": handlers._yes_no(cmd.works_for_council),
    }
    topics_offered, channels_offered = await panels.offered_to(rt, member)
    if cmd.topics is not None:
        if not set(cmd.topics) <= set(topics_offered):
            await rt.settle(cmd, "refused", "topic_not_offered")
            return
        fields["topics"] = list(cmd.topics)
    channel = domain.channel_of(member)
    if cmd.channel is not None and cmd.channel != channel:
        reason = check_channel(member, cmd.channel, tuple(channels_offered))
        if reason is not None:
            await rt.settle(cmd, "refused", reason)
            return
        fields["channel"] = channel = cmd.channel
    background = (cmd.birth_year, cmd.gender, code) != (
        member.get("birth_year"),
        member.get("gender"),
        member.get("district_code", ""),
    )
    topics_changed = cmd.topics is not None and list(cmd.topics) != list(member.get("topics") or ())
    events: list[Envelope] = []
    if background or topics_changed:
        # Rounds targets by background and by the topics followed.
        events.append(
            MemberBackgroundChanged.follow(
                cmd,
                member_id=member["_id"],
                revision=_next_revision(member),
                birth_year=cmd.birth_year,
                gender=cmd.gender,
                district=code,
                topics=tuple(cmd.topics) if cmd.topics is not None else None,
            )
        )
    # The contact book renders mails in this language, and sends on this channel.
    if cmd.locale != member.get("locale") or channel != domain.channel_of(member):
        contact, leave = handlers._contact(
            rt,
            cmd,
            member["_id"],
            member["email"],
            cmd.locale,
            str(council["display_name"]),
            str(member.get("phone") or ""),  # the contact book keeps the number too
            channel,
        )
        await rt.db.leave_links.insert_one(leave)  # before the contact that carries it
        events.append(contact)
    await _revise(rt, cmd, member, fields, *events)
    await rt.settle(cmd, "done")


async def change_my_email(rt: Runtime, cmd: ChangeMyEmail) -> None:
    """Send a link to the new address; nothing changes until it is followed.
    Refused: ``no_session``, ``invalid_email``, ``same_email``."""
    member = await member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    try:
        email = domain.normalise_email(cmd.email)
    except domain.InvalidEmail:
        await rt.settle(cmd, "refused", "invalid_email")
        return
    if email == member["email"]:
        await rt.settle(cmd, "refused", "same_email")
        return
    token = new_token()
    await rt.db.email_changes.insert_one(
        {
            "_id": token_hash(token),
            **_expiring(
                cmd,
                timedelta(hours=EMAIL_CHANGE_HOURS),
                member_id=member["_id"],
                email=email,
                state="sent",
            ),
        }
    )
    council = str((await handlers._council(rt, cmd.tenant))["display_name"])
    mail = SendMessage.follow(
        cmd,
        member_id=member["_id"],
        template="confirm_email_change",
        params={"council": council},
        keep_channel=True,
        # The new address travels sealed with the link: dispatch sends there, not to the
        # contact book's address.
        sealed=rt.sealer.seal_params(
            {
                "link": email_change_link(rt.settings.portal_url, cmd.tenant, token),
                "recipient": email,
            }
        ),
    )
    # A redelivery (no outcome recorded yet) sends one mail: its id is in the outbox already.
    await rt.db.members.update_one(
        {
            "_id": member["_id"],
            "tenant": cmd.tenant,
            "$or": [
                {"email_change_by": {"$exists": False}},
                {"email_change_by": {"$ne": cmd.message_id}},
            ],
        },
        with_outbox({"$set": {"email_change_by": cmd.message_id}}, mail),
    )
    await rt.flush("members", [member["_id"]])
    await rt.settle(cmd, "done")


async def confirm_email_change(rt: Runtime, cmd: ConfirmEmailChange) -> None:
    """The new address's owner followed the link: it becomes the member's address, and the
    contact book learns it. Refused: ``unknown_token``, ``expired``, ``already_used``,
    ``email_taken`` (the address became another member's meanwhile)."""
    if await _handled_before(rt, cmd):
        return
    hashed = token_hash(cmd.token)
    change = await rt.db.email_changes.find_one({"_id": hashed, "tenant": cmd.tenant})
    if change is None:
        await rt.settle(cmd, "refused", "unknown_token")
        return
    if change.get("state") == "used" and change.get("used_by") != cmd.message_id:
        await rt.settle(cmd, "refused", "already_used")
        return
    if int(change["expires_ms"]) <= epoch_ms():
        await rt.settle(cmd, "refused", "expired")
        return
    member = await rt.db.members.find_one(
        {"_id": change["member_id"], "tenant": cmd.tenant, "state": "active"}
    )
    if member is None:
        await rt.settle(cmd, "refused", "unknown_token")
        return
    email = str(change["email"])
    if member["email"] != email:
        council = str((await handlers._council(rt, cmd.tenant))["display_name"])
        contact, leave = handlers._contact(
            rt,
            cmd,
            member["_id"],
            email,
            member.get("locale") or "sv",
            council,
            str(member.get("phone") or ""),  # the contact book keeps the number too
            domain.channel_of(member),
        )
        await rt.db.leave_links.insert_one(leave)
        try:
            # The channel stays what it was (a member who joined by SMS keeps it).
            fields = {"email": email, "channel": domain.channel_of(member)}
            await _revise(rt, cmd, member, fields, contact)
        except DuplicateKeyError:
            await rt.db.leave_links.delete_one({"_id": leave["_id"]})
            await rt.settle(cmd, "refused", "email_taken")
            return
    await rt.db.email_changes.update_one(
        {"_id": hashed}, {"$set": {"state": "used", "used_by": cmd.message_id}}
    )
    await rt.settle(cmd, "done")


# --- the pause ---------------------------------------------------------------------------


def check_pause_day(until: str, today: date) -> str | None:
    """Why a pause cannot end on ``until`` (a reason code), or None if it can."""
    try:
        day = date.fromisoformat(until)
    except ValueError:
        return "invalid_day"
    if day <= today:
        return "day_passed"
    if day > today + timedelta(days=PAUSE_DAYS):
        return "too_long"
    return None


async def pause_membership(rt: Runtime, cmd: PauseMembership) -> None:
    """Pause until a day; rounds opened meanwhile leave the member out.
    Refused: ``no_session``, ``invalid_day``, ``day_passed``, ``too_long``."""
    member = await member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    reason = check_pause_day(cmd.until, cmd.occurred_at.date())
    if reason is not None:
        await rt.settle(cmd, "refused", reason)
        return

    paused = MemberPaused.follow(
        cmd, member_id=member["_id"], revision=_next_revision(member), until=cmd.until
    )
    await _revise(rt, cmd, member, {"paused_until": cmd.until}, paused)
    await rt.settle(cmd, "done")


async def resume_membership(rt: Runtime, cmd: ResumeMembership) -> None:
    """End the pause now. Refused: ``no_session``."""
    member = await member_acting(rt, cmd, cmd.session)
    if member is None:
        return

    resumed = MemberResumed.follow(cmd, member_id=member["_id"], revision=_next_revision(member))
    await _revise(rt, cmd, member, {"paused_until": ""}, resumed)
    await rt.settle(cmd, "done")


# --- erasure on the member's own request -----------------------------------------------------


async def erase_my_membership(rt: Runtime, cmd: EraseMyMembership) -> None:
    """Erase the signed-in member everywhere, asked by "member"; their sessions end with the
    rest (``forget``). Refused: ``no_session``."""
    member = await member_acting(rt, cmd, cmd.session)
    if member is None:
        return
    await erasure.erase(rt, cmd, member["_id"], "member")
    await rt.settle(cmd, "done")


async def forget(rt: Runtime, tenant: str, member_id: str) -> None:
    """Delete the member's sign-in links, sessions and address changes (on erasure)."""
    for name in COLLECTIONS:
        await rt.db[name].delete_many({"member_id": member_id, "tenant": tenant})
