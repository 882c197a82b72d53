"""The JSON API of member self-service under ``/api/t/<tenant>/me``: the same use cases as
the member's pages (``member_pages``).

``POST …/me/sign-in`` asks for a mailed link (the answer is the same for any address);
``POST …/me/session`` exchanges the link's token for the member session cookie and returns
the session's CSRF token, which every later change sends in the ``X-CSRF-Token`` header.
A member with a mobile number may instead ask for a code by SMS (``POST …/me/sign-in/sms``)
and exchange it for the session the same way (``POST …/me/session/code``).
The session is recruitment's: the portal passes the cookie's token on, and keeps nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from contracts.addresses import InvalidEmail, normalise_email
from contracts.membership import MyMembership
from contracts.recruitment import Gender, HeardFrom, Outcome, PreferredChannel
from services.portal import domain, membership
from services.portal.api import (
    PROBLEMS,
    Accepted,
    ApiError,
    MemberData,
    OutcomeReply,
    Problem,
    _Model,
)
from services.portal.dependencies import CSRF_HEADER, CouncilDep, PortalDep, client_address
from services.portal.domain import TrimmedText

router = APIRouter(prefix="/api", tags=["member self-service"])

MEMBER_PROBLEMS: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    401: {"model": OutcomeReply, "description": "No member session for this council."},
    403: {"model": OutcomeReply, "description": "CSRF token missing or wrong."},
}


class SignInRequest(_Model):
    """The address to send a sign-in link to."""

    email: TrimmedText = Field(min_length=1, max_length=254, description="E-mail address.")


class SignInCodeRequest(_Model):
    """The mobile number to text a sign-in code to."""

    phone: TrimmedText = Field(
        min_length=1,
        max_length=32,
        description="Mobile number, E.164 or as the council's country writes it.",
    )


class CodeSignInRequest(_Model):
    """The mobile number and the code the sign-in SMS carried."""

    phone: TrimmedText = Field(max_length=32, description="The mobile number the code went to.")
    code: TrimmedText = Field(max_length=10, description="The 6-digit code from the SMS.")


class LinkRequest(_Model):
    """The token from a mailed link."""

    token: TrimmedText = Field(max_length=200, description="Token from the link.")


class MemberSessionReply(_Model):
    """A member session was opened; the cookie is set."""

    csrf_token: str = Field(description="Send in the X-CSRF-Token header on every change.")


class MembershipReply(_Model):
    """The signed-in member's details, and the session's CSRF token."""

    membership: MyMembership = Field(description="The member's details.")
    csrf_token: str = Field(description="Send in the X-CSRF-Token header on every change.")


class DetailsRequest(_Model):
    """The member's details (all of them: what is left out is cleared)."""

    birth_year: int = Field(description="Year of birth.")
    gender: Gender = Field(description="Gender, or undisclosed.")
    district: TrimmedText = Field(min_length=1, max_length=200, description="District.")
    locale: Literal["sv", "en"] = Field(description="Language of the panel's mail.")
    heard_from: HeardFrom = Field(default="", description="Where they heard of the panel.")
    works_for_council: bool | None = Field(default=None, description="Works for the council.")
    channel: PreferredChannel | None = Field(
        default=None,
        description=(
            "How panel messages reach the member: email, or sms for a member with a mobile "
            "number where the panel offers SMS (see ``channels_offered``); null: unchanged."
        ),
    )


class EmailRequest(_Model):
    """A new address; a link goes there and must be followed."""

    email: TrimmedText = Field(min_length=1, max_length=254, description="New address.")


class PauseRequest(_Model):
    """The day a pause ends."""

    until: TrimmedText = Field(max_length=10, description="YYYY-MM-DD, after today, ≤ a year.")


async def _member(request: Request, council: CouncilDep, portal: PortalDep) -> membership.Member:
    found = await membership.member(portal, council.tenant, membership.session_of(request))
    if found is None:
        raise ApiError(401, "not signed in as a member of this council")
    return found


MemberDep = Annotated[membership.Member, Depends(_member)]


async def _member_change(
    request: Request, portal: PortalDep, found: MemberDep
) -> membership.Member:
    if not membership.csrf_matches(portal, found.session, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "CSRF token missing or wrong")
    return found


MemberChangeDep = Annotated[membership.Member, Depends(_member_change)]


def _accepted(response: Response, message_id: str, outcome: Outcome) -> Accepted:
    if outcome.status == "pending":
        response.status_code = 202
    elif outcome.status == "refused":
        response.status_code = 401 if outcome.reason == "no_session" else 400
    return Accepted(message_id=message_id, status=outcome.status, reason=outcome.reason)


@router.post("/t/{tenant}/me/sign-in", status_code=202, responses=PROBLEMS)
async def request_sign_in(
    body: SignInRequest, request: Request, council: CouncilDep, portal: PortalDep
) -> None:
    """Ask for a sign-in link by mail (single use, 30 minutes). 202 whether or not the address
    is a member; rate limited per client and per address."""
    await portal.check_rate("member_sign_in", client_address(request))
    try:
        email = normalise_email(body.email)
    except InvalidEmail:
        raise ApiError(400, "invalid e-mail address", {"email": "invalid"}) from None
    await portal.check_rate("member_sign_in_address", f"{council.tenant}:{email}")
    await membership.request_sign_in(portal, council.tenant, email)


@router.post(
    "/t/{tenant}/me/session",
    response_model=MemberSessionReply,
    responses={
        **PROBLEMS,
        409: {"model": OutcomeReply, "description": "The link was already used."},
        410: {"model": OutcomeReply, "description": "The link has expired."},
    },
)
async def open_session(
    body: LinkRequest, request: Request, response: Response, council: CouncilDep, portal: PortalDep
) -> MemberSessionReply:
    """Exchange a sign-in link's token for the member session cookie (HttpOnly, SameSite=Lax,
    Secure over https)."""
    await portal.check_rate("confirm", client_address(request))
    session, outcome = await membership.open_session(portal, council.tenant, body.token)
    if session is None:
        status = {"expired": 410, "already_used": 409}.get(outcome.reason or "", 404)
        raise ApiError(202 if outcome.status == "pending" else status, outcome.reason or "pending")
    membership.set_cookie(response, request, session)
    return MemberSessionReply(csrf_token=membership.csrf_token(portal, session))


@router.post("/t/{tenant}/me/sign-in/sms", status_code=202, responses=PROBLEMS)
async def request_sign_in_code(
    body: SignInCodeRequest, request: Request, council: CouncilDep, portal: PortalDep
) -> None:
    """Ask for a sign-in code by SMS (6 digits, single use, 10 minutes, 5 tries). 202 whether
    or not the number is a member's; rate limited per client and per number."""
    await portal.check_rate("member_sign_in", client_address(request))
    phone, error = domain.check_phone(body.phone, council.country)
    if error:
        raise ApiError(400, "invalid mobile number", {"phone": "invalid"})
    await portal.check_rate("member_sign_in_address", f"{council.tenant}:{phone}")
    await membership.request_sign_in_code(portal, council.tenant, phone)


@router.post(
    "/t/{tenant}/me/session/code",
    response_model=MemberSessionReply,
    responses={
        **PROBLEMS,
        202: {"model": Problem, "description": "pending: still being processed."},
        404: {
            "model": Problem,
            "description": "invalid_code: wrong, void after 5 wrong tries, or no code.",
        },
        409: {"model": Problem, "description": "already_used: the code was already used."},
        410: {"model": Problem, "description": "expired: the code has expired."},
    },
)
async def open_session_by_code(
    body: CodeSignInRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
) -> MemberSessionReply:
    """Exchange the code from a sign-in SMS for the member session cookie, as ``…/session``
    does a link's token; 400 for a number or code that cannot be one."""
    await portal.check_rate("confirm", client_address(request))
    checked, errors = domain.check_code(body.phone, body.code, council.country)
    if checked is None:
        raise ApiError(400, "invalid code request", errors)
    phone, code = checked
    await portal.check_rate("number", phone)
    session, outcome = await membership.open_session_by_code(portal, council.tenant, phone, code)
    if session is None:
        status = {"expired": 410, "already_used": 409}.get(outcome.reason or "", 404)
        raise ApiError(202 if outcome.status == "pending" else status, outcome.reason or "pending")
    membership.set_cookie(response, request, session)
    return MemberSessionReply(csrf_token=membership.csrf_token(portal, session))


@router.delete("/t/{tenant}/me/session", status_code=204, responses=MEMBER_PROBLEMS)
async def close_session(
    request: Request, council: CouncilDep, portal: PortalDep, found: MemberChangeDep
) -> Response:
    """Sign out: the session ends and the cookie is cleared."""
    await membership.close_session(portal, council.tenant, found.session)
    response = Response(status_code=204)
    membership.clear_cookie(response, request)
    return response


@router.get("/t/{tenant}/me", response_model=MembershipReply, responses=MEMBER_PROBLEMS)
async def my_membership(portal: PortalDep, found: MemberDep) -> MembershipReply:
    """The signed-in member's details."""
    return MembershipReply(
        membership=found.me, csrf_token=membership.csrf_token(portal, found.session)
    )


@router.put("/t/{tenant}/me", response_model=Accepted, responses=MEMBER_PROBLEMS)
async def change_details(
    body: DetailsRequest,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    found: MemberChangeDep,
) -> Accepted:
    """Change the member's details; background variables reach later rounds."""
    works = {True: "yes", False: "no", None: ""}[body.works_for_council]
    values = {
        "birth_year": str(body.birth_year),
        "gender": body.gender,
        "district": body.district,
        "locale": body.locale,
        "heard_from": body.heard_from,
        "works_for_council": works,
    }
    details, locale, errors = membership.check_details(values, council, found.me)
    if details is None:
        raise ApiError(400, "invalid details", errors)
    settled = await membership.change_details(
        portal, council.tenant, found, details, locale, channel=body.channel
    )
    return _accepted(response, settled.message_id, settled.outcome)


@router.post("/t/{tenant}/me/email", response_model=Accepted, responses=MEMBER_PROBLEMS)
async def change_email(
    body: EmailRequest,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    found: MemberChangeDep,
) -> Accepted:
    """Ask to change the address: a link goes to the new one; the change waits for it."""
    try:
        email = normalise_email(body.email)
    except InvalidEmail:
        raise ApiError(400, "invalid e-mail address", {"email": "invalid"}) from None
    await portal.check_rate("member_sign_in_address", f"{council.tenant}:{email}")
    settled = await membership.change_email(portal, council.tenant, found, email)
    return _accepted(response, settled.message_id, settled.outcome)


@router.post(
    "/t/{tenant}/me/email/confirm",
    response_model=OutcomeReply,
    responses={**PROBLEMS, 409: {"model": OutcomeReply, "description": "Used, or taken."}},
)
async def confirm_email(
    body: LinkRequest, request: Request, response: Response, council: CouncilDep, portal: PortalDep
) -> OutcomeReply:
    """Confirm a new address with the token from the link sent to it (no session needed)."""
    await portal.check_rate("confirm", client_address(request))
    settled = await membership.confirm_email(portal, council.tenant, body.token)
    outcome = settled.outcome
    response.status_code = {"done": 200, "pending": 202}.get(outcome.status) or {
        "expired": 410,
        "already_used": 409,
        "email_taken": 409,
    }.get(outcome.reason or "", 404)
    return OutcomeReply(
        message_id=settled.message_id or None, status=outcome.status, reason=outcome.reason
    )


@router.put("/t/{tenant}/me/pause", response_model=Accepted, responses=MEMBER_PROBLEMS)
async def pause(
    body: PauseRequest,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    found: MemberChangeDep,
) -> Accepted:
    """Pause until a day: rounds opened before it do not invite the member."""
    until, errors = membership.check_pause(body.until, datetime.now(UTC).date())
    if until is None:
        raise ApiError(400, "invalid day", errors)
    settled = await membership.pause(portal, council.tenant, found, until)
    return _accepted(response, settled.message_id, settled.outcome)


@router.delete("/t/{tenant}/me/pause", response_model=Accepted, responses=MEMBER_PROBLEMS)
async def resume(
    response: Response, council: CouncilDep, portal: PortalDep, found: MemberChangeDep
) -> Accepted:
    """End the pause now."""
    settled = await membership.resume(portal, council.tenant, found)
    return _accepted(response, settled.message_id, settled.outcome)


@router.get("/t/{tenant}/me/data", response_model=MemberData, responses=MEMBER_PROBLEMS)
async def my_data(
    response: Response, council: CouncilDep, portal: PortalDep, found: MemberDep
) -> MemberData:
    """Everything every service holds about the member, as one JSON file."""
    services = await membership.data(portal, council.tenant, found)
    response.headers["content-disposition"] = (
        f'attachment; filename="radslag-{council.tenant}.json"'
    )
    return MemberData(
        member_id=found.me.member_id,
        exported_on=datetime.now(UTC).date().isoformat(),
        services=services,
    )


@router.post("/t/{tenant}/me/erasure", response_model=Accepted, responses=MEMBER_PROBLEMS)
async def erase(
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    found: MemberChangeDep,
) -> Accepted:
    """Erase the member everywhere (asked by the member); the session ends."""
    settled = await membership.erase(portal, council.tenant, found)
    membership.clear_cookie(response, request)
    return _accepted(response, settled.message_id, settled.outcome)
