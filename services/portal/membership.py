"""Member self-service, whichever door it comes through (pages or the JSON API).

The portal stores nothing about members: recruitment keeps the sessions (a hash of each
session's token) and the portal passes the token from the member's cookie in every query and
command. The cookie's token is made here, and only its hash goes on the bus when the session
is opened. Forms of a signed-in member carry a CSRF token derived from the session's token
under the installation's key, so it needs no storage either.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, cast

from fastapi import Request, Response

from contracts.dispatch import GetMemberData as DispatchMemberData
from contracts.membership import (
    ChangeMyDetails,
    ChangeMyEmail,
    CloseMemberSession,
    ConfirmEmailChange,
    EraseMyMembership,
    GetMyMembership,
    MyMembership,
    OpenMemberSession,
    OpenMemberSessionByCode,
    PauseMembership,
    RequestSignIn,
    RequestSignInCode,
    ResumeMembership,
)
from contracts.personal_data import PersonalData
from contracts.recruitment import GetMemberData as RecruitmentMemberData
from contracts.recruitment import Outcome, PreferredChannel, TenantView
from contracts.rounds import GetMemberData as RoundsMemberData
from infra.queries import QueryFailed
from infra.tokens import new_token, token_hash
from services.portal.domain import Errors, SignUp, check_sign_up, is_link_token
from services.portal.handlers import Portal, Settled
from services.portal.i18n import N_

MEMBER_COOKIE = "radslag_member"
"""The member session cookie: the session's token, which recruitment knows only hashed."""
SESSION_SECONDS = 2 * 3600
"""The cookie's lifetime, as long as recruitment keeps the session."""
PAUSE_DAYS = 366
"""The longest pause the form offers (recruitment checks it too)."""
LANGUAGES = ("sv", "en")
Language = Literal["sv", "en"]


@dataclass(frozen=True)
class Member:
    """A signed-in member: the session's token (from the cookie) and what recruitment says."""

    session: str
    me: MyMembership


def csrf_token(portal: Portal, session: str) -> str:
    """The CSRF token of a member session's forms (derived, so nothing is stored)."""
    digest = hmac.new(portal.login_form_key, f"member:{session}".encode(), hashlib.sha256)
    return digest.hexdigest()


def csrf_matches(portal: Portal, session: str, candidate: str | None) -> bool:
    """Whether a form or header carries this session's CSRF token (constant time)."""
    return hmac.compare_digest(csrf_token(portal, session).encode(), (candidate or "").encode())


def session_of(request: Request) -> str | None:
    """The member session token of the request's cookie, if well formed."""
    token = request.cookies.get(MEMBER_COOKIE)
    return token if token is not None and is_link_token(token) else None


def set_cookie(response: Response, request: Request, session: str) -> None:
    """Give the browser its member session (HttpOnly, SameSite=Lax, Secure over https)."""
    response.set_cookie(
        MEMBER_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookies_secure,
    )


def clear_cookie(response: Response, request: Request) -> None:
    """Forget the member session in the browser."""
    response.delete_cookie(
        MEMBER_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookies_secure,
    )


async def member(portal: Portal, tenant: str, session: str | None) -> Member | None:
    """The member whose live session of this council ``session`` is, or None."""
    if session is None:
        return None
    query = GetMyMembership(**portal._envelope(tenant), session=session)
    me = await portal._ask(query, portal.gateway.get_my_membership)
    return None if me is None else Member(session, me)


async def request_sign_in(portal: Portal, tenant: str, email: str) -> None:
    """Ask recruitment to mail a sign-in link; the same whether or not it is a member."""
    command = RequestSignIn(**portal._envelope(tenant), email=email)
    await portal._send(command, portal.gateway.request_sign_in)


async def open_session(portal: Portal, tenant: str, link: str) -> tuple[str | None, Outcome]:
    """Exchange a sign-in link for a session: the new session's token (None unless done)
    and how it went (refused: ``unknown_token``, ``expired``, ``already_used``)."""
    if not is_link_token(link):
        return None, Outcome(status="refused", reason="unknown_token")
    session = new_token()
    command = OpenMemberSession(
        **portal._envelope(tenant), token=link, session_hash=token_hash(session)
    )
    settled = await portal._follow(command, portal.gateway.open_member_session)
    return (session if settled.outcome.status == "done" else None), settled.outcome


async def request_sign_in_code(portal: Portal, tenant: str, phone: str) -> None:
    """Ask recruitment to text a sign-in code to ``phone`` (E.164, checked); the same whether
    or not it is a member's number."""
    command = RequestSignInCode(**portal._envelope(tenant), phone=phone)
    await portal._send(command, portal.gateway.request_sign_in_code)


async def open_session_by_code(
    portal: Portal, tenant: str, phone: str, code: str
) -> tuple[str | None, Outcome]:
    """Exchange a sign-in code from an SMS for a session, as ``open_session`` does a link
    (refused: ``invalid_code``, ``expired``, ``already_used``)."""
    session = new_token()
    command = OpenMemberSessionByCode(
        **portal._envelope(tenant), phone=phone, code=code, session_hash=token_hash(session)
    )
    settled = await portal._follow(command, portal.gateway.open_member_session_by_code)
    return (session if settled.outcome.status == "done" else None), settled.outcome


async def close_session(portal: Portal, tenant: str, session: str) -> None:
    """Sign out (recruitment forgets the session)."""
    command = CloseMemberSession(**portal._envelope(tenant), session=session)
    await portal._send(command, portal.gateway.close_member_session)


def check_details(
    values: dict[str, str], council: TenantView, me: MyMembership
) -> tuple[SignUp | None, Language, Errors]:
    """Validate the details form as the sign-up form is validated (the address is not part
    of it); the details, the language, and a message per wrong field."""
    details, errors = check_sign_up(
        email=me.email,
        phone=me.phone,
        country=council.country,
        birth_year=values.get("birth_year", ""),
        gender=values.get("gender", ""),
        district=values.get("district", ""),
        consent=True,
        this_year=datetime.now(UTC).year,
        districts=council.districts,
        heard_from=values.get("heard_from", ""),
        works_for_council=values.get("works_for_council", ""),
    )
    locale = values.get("locale", "")
    if locale not in LANGUAGES:
        errors["locale"] = N_("Choose one of the options.")
    if values.get("channel") not in (None, "email", "sms"):
        errors["channel"] = N_("Choose one of the options.")
    return (None if errors else details), cast(Language, locale or "sv"), errors


def channel_choice(me: MyMembership) -> bool:
    """Whether the member may choose how panel messages reach them: they have an address and
    a number, and the panel offers SMS."""
    return bool(me.email and me.phone and "sms" in me.channels_offered)


async def change_details(
    portal: Portal,
    tenant: str,
    member: Member,
    details: SignUp,
    locale: Language,
    topics: tuple[str, ...] | None = None,
    channel: PreferredChannel | None = None,
) -> Settled:
    """Send the member's new details (and topics and channel, when the form showed them) and
    wait briefly for the outcome."""
    command = ChangeMyDetails(
        **portal._envelope(tenant),
        session=member.session,
        birth_year=details.birth_year,
        gender=details.gender,
        district=details.district,
        locale=locale,
        heard_from=details.heard_from,
        works_for_council=details.works_for_council,
        topics=topics,
        channel=channel,
    )
    return await portal._follow(command, portal.gateway.change_my_details)


async def change_email(portal: Portal, tenant: str, member: Member, email: str) -> Settled:
    """Ask for a link to the new address; the change waits for it."""
    command = ChangeMyEmail(**portal._envelope(tenant), session=member.session, email=email)
    return await portal._follow(command, portal.gateway.change_my_email)


async def confirm_email(portal: Portal, tenant: str, token: str) -> Settled:
    """The button on the page the link to a new address opens."""
    if not is_link_token(token):
        return Settled("", Outcome(status="refused", reason="unknown_token"))
    command = ConfirmEmailChange(**portal._envelope(tenant), token=token)
    return await portal._follow(command, portal.gateway.confirm_email_change)


def check_pause(until: str, today: date) -> tuple[str | None, Errors]:
    """The pause's last day as text, or a message: after today, at most about a year on."""
    try:
        day = date.fromisoformat(until.strip())
    except ValueError:
        return None, {"until": N_("Enter a date in the form 2027-03-31.")}
    if day <= today or day > today + timedelta(days=PAUSE_DAYS):
        return None, {"until": N_("Choose a date after today and at most a year from now.")}
    return day.isoformat(), {}


async def pause(portal: Portal, tenant: str, member: Member, until: str) -> Settled:
    """Pause until a day."""
    command = PauseMembership(**portal._envelope(tenant), session=member.session, until=until)
    return await portal._follow(command, portal.gateway.pause_membership)


async def resume(portal: Portal, tenant: str, member: Member) -> Settled:
    """End the pause now."""
    command = ResumeMembership(**portal._envelope(tenant), session=member.session)
    return await portal._follow(command, portal.gateway.resume_membership)


async def erase(portal: Portal, tenant: str, member: Member) -> Settled:
    """Erase the member everywhere, asked by the member; the session ends with it."""
    command = EraseMyMembership(**portal._envelope(tenant), session=member.session)
    return await portal._follow(command, portal.gateway.erase_my_membership)


async def data(portal: Portal, tenant: str, member: Member) -> list[PersonalData]:
    """Every service's records about the member, asked together (as the staff copy is); a
    service that does not answer fails the copy rather than leaving its part out."""
    envelope = portal._envelope(tenant)
    member_id = member.me.member_id
    records, rounds, dispatch = await asyncio.gather(
        portal._ask(
            RecruitmentMemberData(**envelope, member_id=member_id),
            portal.gateway.recruitment_member_data,
        ),
        portal._ask(
            RoundsMemberData(**envelope, member_id=member_id), portal.gateway.rounds_member_data
        ),
        portal._ask(
            DispatchMemberData(**envelope, member_id=member_id),
            portal.gateway.dispatch_member_data,
        ),
    )
    if records is None or rounds is None or dispatch is None:
        raise QueryFailed("a service did not give its part of the member's data")
    return [records, rounds, dispatch]
