"""Confirming a sign-up by mobile number: the page and the API call that take the SMS's code.

Both are rate limited per client (``confirm``) and per number (``number``); recruitment
limits the wrong codes per number further (5, then the code is void). Every code that does not
confirm gets the same answer, so nobody learns whether a number signed up.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import Field

from contracts.recruitment import Outcome
from services.portal import api, domain
from services.portal.dependencies import CouncilDep, PortalDep, client_address
from services.portal.domain import TrimmedText
from services.portal.i18n import N_
from services.portal.pages import _field
from services.portal.rendering import render

pages = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api", tags=["api"])

INVALID_CODE = N_(
    "The code is wrong or no longer valid. Check the SMS, or sign up again for a new code."
)


@pages.get("/t/{tenant}/join/code", response_class=HTMLResponse)
async def code_form(request: Request, council: CouncilDep) -> Response:
    """Where the code from the SMS is typed (the page a sign-up by mobile number lands on)."""
    return render(request, "join_code.html", council=council)


@pages.post("/t/{tenant}/join/code", response_class=HTMLResponse)
async def confirm_code(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Confirm the sign-up with the code, and say how it went."""
    await portal.check_rate("confirm", client_address(request))
    form = await request.form()
    values = {"phone": _field(form, "phone"), "code": _field(form, "code")}
    checked, errors = domain.check_code(values["phone"], values["code"], council.country)
    if checked is None:
        return render(request, "join_code.html", 400, council=council, values=values, errors=errors)
    phone, code = checked
    await portal.check_rate("number", phone)
    outcome = (await portal.confirm_by_code(council.tenant, phone, code)).outcome
    if outcome.status == "refused" and outcome.reason != "already_used":
        errors = {"code": INVALID_CODE}
        values["code"] = ""
        return render(request, "join_code.html", 400, council=council, values=values, errors=errors)
    status = {"done": 200, "pending": 202}.get(outcome.status, 409)
    return render(request, "confirm.html", status, council=council, outcome=outcome)


class CodeRequest(api._Model):
    """The mobile number signed up with and the code the SMS carried."""

    phone: TrimmedText = Field(max_length=32, description="The mobile number signed up with.")
    code: TrimmedText = Field(max_length=10, description="The 6-digit code from the SMS.")


@router.post(
    "/t/{tenant}/members/confirm-code",
    response_model=api.OutcomeReply,
    responses={
        **api.PROBLEMS,
        202: {"model": api.OutcomeReply, "description": "Still being processed."},
        404: {
            "model": api.OutcomeReply,
            "description": "invalid_code: wrong, expired, void after 5 wrong tries, or no code.",
        },
        409: {"model": api.OutcomeReply, "description": "The code was already used."},
    },
)
async def confirm_membership_by_code(
    body: CodeRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
) -> api.OutcomeReply:
    """Confirm a sign-up by mobile number with the SMS's code; 200 done, 404 invalid_code,
    409 already used, 400 a number or code that cannot be one."""
    await portal.check_rate("confirm", client_address(request))
    checked, errors = domain.check_code(body.phone, body.code, council.country)
    if checked is None:
        raise api.ApiError(400, "invalid code request", errors)
    phone, code = checked
    await portal.check_rate("number", phone)
    settled = await portal.confirm_by_code(council.tenant, phone, code)
    outcome: Outcome = settled.outcome
    return api._outcome(response, settled.message_id, outcome)
