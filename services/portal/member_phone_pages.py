"""A member adds or changes their mobile number (``/t/<tenant>/me/phone``, and
``POST /api/t/<tenant>/me/phone`` and ``/me/phone/confirm``): a code goes to the new number
by SMS, and the number is the member's once the code is typed. Rate limited per client and
per number, like the other codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import Field

from contracts.addresses import InvalidPhone, normalise_phone
from contracts.membership import ChangeMyPhone, ConfirmPhoneChange
from contracts.recruitment import TenantView
from contracts.text import TrimmedText
from services.portal import member_pages, membership
from services.portal.api import ApiError, OutcomeReply, _Model
from services.portal.dependencies import CouncilDep, PortalDep, client_address
from services.portal.handlers import Portal, Settled
from services.portal.i18n import N_
from services.portal.member_api import MEMBER_PROBLEMS, MemberChangeDep
from services.portal.rendering import render

router = APIRouter()

REFUSALS = {
    "invalid_phone": ("phone", N_("Enter a mobile number, for example 070-123 45 67.")),
    "same_phone": ("phone", N_("This is already your mobile number.")),
    "phone_taken": ("phone", N_("This number belongs to another member of the panel.")),
    "invalid_code": ("code", N_("The code is wrong, or no longer valid. Ask for a new one.")),
    "expired": ("code", N_("The code has expired. Ask for a new one.")),
}
STATUS = {"no_session": 401, "phone_taken": 409, "expired": 410}


async def ask_for_code(portal: Portal, tenant: str, session: str, phone: str) -> Settled:
    """Text a code to the new number; wait briefly for the outcome."""
    command = ChangeMyPhone(**portal._envelope(tenant), session=session, phone=phone)
    return await portal._follow(command, portal.gateway.change_my_phone)


async def confirm(portal: Portal, tenant: str, session: str, code: str) -> Settled:
    """Type the code; wait briefly for the outcome."""
    command = ConfirmPhoneChange(**portal._envelope(tenant), session=session, code=code)
    return await portal._follow(command, portal.gateway.confirm_phone_change)


def _normalised(raw: str, council: TenantView) -> str | None:
    try:
        return normalise_phone(raw, council.country)
    except InvalidPhone:
        return None


def _page(
    request: Request,
    council: TenantView,
    portal: Portal,
    found: membership.Member,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        "me_phone.html",
        status,
        council=council,
        me=found.me,
        member_csrf=membership.csrf_token(portal, found.session),
        values=context.pop("values", {}),
        errors=context.pop("errors", {}),
        **context,
    )


def _home(council: TenantView, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/t/{council.tenant}/me?notice={notice}", 303)


@router.get("/t/{tenant}/me/phone", response_class=HTMLResponse, include_in_schema=False)
async def phone_page(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The form for a new number (and, once a code was sent, the form for the code)."""
    found = await member_pages.signed_in(request, council, portal)
    if found is None:
        return _home(council, "no_session")
    sent = request.query_params.get("sent") == "1"
    return _page(request, council, portal, found, sent=sent)


@router.post("/t/{tenant}/me/phone", response_class=HTMLResponse, include_in_schema=False)
async def new_number(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Send a code to the new number."""
    await portal.check_rate("member_sign_in", client_address(request))
    found, form = await member_pages.signed_in_post(request, council, portal)
    if found is None:
        return _home(council, "no_session")
    typed = member_pages.form_text(form, "phone")
    phone = _normalised(typed, council)
    if phone is None:
        field, message = REFUSALS["invalid_phone"]
        values = {"phone": typed}
        return _page(request, council, portal, found, 400, values=values, errors={field: message})
    await portal.check_rate("number", phone)
    settled = await ask_for_code(portal, council.tenant, found.session, phone)
    return _after(request, council, portal, found, settled, {"phone": phone}, sent_next=True)


@router.post("/t/{tenant}/me/phone/code", response_class=HTMLResponse, include_in_schema=False)
async def type_code(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The code typed: the new number is the member's."""
    await portal.check_rate("confirm", client_address(request))
    found, form = await member_pages.signed_in_post(request, council, portal)
    if found is None:
        return _home(council, "no_session")
    code = "".join(member_pages.form_text(form, "code").split())
    if not code.isdigit() or len(code) != 6:
        field, message = REFUSALS["invalid_code"]
        return _page(request, council, portal, found, 400, sent=True, errors={field: message})
    settled = await confirm(portal, council.tenant, found.session, code)
    return _after(request, council, portal, found, settled, {}, sent_next=False)


def _after(
    request: Request,
    council: TenantView,
    portal: Portal,
    found: membership.Member,
    settled: Settled,
    values: dict[str, str],
    *,
    sent_next: bool,
) -> Response:
    outcome = settled.outcome
    if outcome.status == "pending":
        return _home(council, "pending")
    if outcome.status == "done":
        if sent_next:
            return RedirectResponse(f"/t/{council.tenant}/me/phone?sent=1", 303)
        return _home(council, "saved")
    if outcome.reason == "no_session":
        return _home(council, "no_session")
    field, message = REFUSALS.get(outcome.reason or "", ("_form", N_("Something went wrong.")))
    sent = not sent_next
    return _page(
        request, council, portal, found, 400, sent=sent, values=values, errors={field: message}
    )


# -- the API -----------------------------------------------------------------------------------


class PhoneRequest(_Model):
    """A new mobile number; a code goes to it by SMS."""

    phone: TrimmedText = Field(min_length=1, max_length=32, description="The new number.")


class PhoneCodeRequest(_Model):
    """The code sent to the new number."""

    code: TrimmedText = Field(min_length=6, max_length=12, description="The 6-digit code.")


def _reply(response: Response, settled: Settled) -> OutcomeReply:
    outcome = settled.outcome
    if outcome.status == "pending":
        response.status_code = 202
    elif outcome.status == "refused":
        response.status_code = STATUS.get(outcome.reason or "", 400)
    return OutcomeReply(
        message_id=settled.message_id or None, status=outcome.status, reason=outcome.reason
    )


@router.post("/api/t/{tenant}/me/phone", response_model=OutcomeReply, responses=MEMBER_PROBLEMS)
async def api_new_number(
    body: PhoneRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    found: MemberChangeDep,
) -> OutcomeReply:
    """Add or change the member's mobile number: a 6-digit code goes to the new number (10
    minutes, 5 tries); refused: ``invalid_phone``, ``same_phone``, ``phone_taken`` (409)."""
    await portal.check_rate("member_sign_in", client_address(request))
    phone = _normalised(body.phone, council)
    if phone is None:
        raise ApiError(400, "invalid mobile number", {"phone": "invalid"})
    await portal.check_rate("number", phone)
    return _reply(response, await ask_for_code(portal, council.tenant, found.session, phone))


@router.post(
    "/api/t/{tenant}/me/phone/confirm", response_model=OutcomeReply, responses=MEMBER_PROBLEMS
)
async def api_confirm(
    body: PhoneCodeRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    found: MemberChangeDep,
) -> OutcomeReply:
    """Type the code: the new number becomes the member's. Refused: ``invalid_code`` (400),
    ``expired`` (410), ``phone_taken`` (409)."""
    await portal.check_rate("confirm", client_address(request))
    return _reply(response, await confirm(portal, council.tenant, found.session, body.code))
