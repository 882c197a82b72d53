"""The member's own pages under ``/t/<tenant>/me``: sign in by a mailed link or a code sent by
SMS, see and change one's details, pause, copy one's data, ask for erasure, sign out.

Links from mail open a page with a button (a POST), so a mail scanner that follows links
uses nothing up. Every POST of a signed-in member carries the session's CSRF token, besides
the edge's Origin check; the session itself is recruitment's, asked for on every request.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from contracts.addresses import InvalidEmail, normalise_email
from contracts.recruitment import Outcome, PreferredChannel, TenantView
from services.portal import domain, membership
from services.portal.dependencies import CouncilDep, PortalDep, client_address
from services.portal.handlers import Portal
from services.portal.i18n import N_
from services.portal.rendering import render

log = structlog.get_logger()

router = APIRouter(include_in_schema=False)

NOTICES = frozenset(
    {"saved", "email_sent", "paused", "resumed", "signed_out", "pending", "no_session"}
)
"""Notices a redirect may ask the member's page to show."""

LINK_STATUS = {"unknown_token": 404, "expired": 410, "already_used": 409, "email_taken": 409}
"""HTTP status of a refused mailed link, by reason."""

REFUSALS = {
    "district_not_listed": ("district", N_("Choose your district from the list.")),
    "invalid_email": ("email", N_("Enter an e-mail address in the form name@example.se.")),
    "same_email": ("email", N_("This is already your e-mail address.")),
    "invalid_day": ("until", N_("Enter a date in the form 2027-03-31.")),
    "day_passed": ("until", N_("Choose a date after today and at most a year from now.")),
    "too_long": ("until", N_("Choose a date after today and at most a year from now.")),
    "no_phone": ("channel", N_("Give your mobile number to get the panel's messages by SMS.")),
    "sms_not_offered": ("channel", N_("This panel does not send its messages by SMS.")),
    "no_email": ("channel", N_("Add an e-mail address first to get the panel's messages by it.")),
}
"""What a refused self-service command means on the form, by reason."""

CODE_REFUSALS = {
    "expired": (410, N_("The code has expired. Ask for a new one.")),
    "already_used": (409, N_("The code has already been used. Ask for a new one to sign in.")),
}
"""What a refused sign-in code means on the code page, by reason (any other: wrong)."""
WRONG_CODE = N_("The code is wrong or no longer valid. Check the SMS, or ask for a new code.")


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _home(council: TenantView, notice: str | None = None) -> str:
    url = f"/t/{council.tenant}/me"
    return f"{url}?notice={notice}" if notice else url


async def signed_in(
    request: Request, council: TenantView, portal: Portal
) -> membership.Member | None:
    return await membership.member(portal, council.tenant, membership.session_of(request))


async def signed_in_post(
    request: Request, council: TenantView, portal: Portal
) -> tuple[membership.Member | None, FormData]:
    """The member of a POST whose form carries the session's CSRF token; 403 otherwise."""
    form = await request.form()
    found = await signed_in(request, council, portal)
    if found is not None and not membership.csrf_matches(
        portal, found.session, form_text(form, "csrf_token")
    ):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return found, form


def _my_page(
    request: Request,
    council: TenantView,
    portal: Portal,
    found: membership.Member,
    status_code: int = 200,
    **context: Any,
) -> Response:
    me = found.me
    works = {True: "yes", False: "no", None: ""}[me.works_for_council]
    values = {
        "birth_year": str(me.birth_year),
        "gender": me.gender,
        "district": me.district,
        "locale": me.locale,
        "heard_from": me.heard_from,
        "works_for_council": works,
        "channel": me.channel,
        "email": "",
        "until": "",
    }
    values.update(context.pop("values", {}))
    notice = request.query_params.get("notice", "")
    return render(
        request,
        "me.html",
        status_code,
        council=council,
        me=me,
        member_csrf=membership.csrf_token(portal, found.session),
        channel_choice=membership.channel_choice(me),
        friend_link=f"{portal.settings.portal_url.rstrip('/')}/t/{council.tenant}/join?via=friend",
        values=values,
        notice=notice if notice in NOTICES else None,
        **context,
    )


# -- signing in ----------------------------------------------------------------------------


@router.get("/t/{tenant}/me", response_class=HTMLResponse)
async def my_page(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The member's own page when signed in; else the sign-in form."""
    found = await signed_in(request, council, portal)
    if found is None:
        notice = request.query_params.get("notice", "")
        return render(
            request,
            "me_sign_in.html",
            council=council,
            notice=notice if notice in NOTICES else None,
        )
    return _my_page(request, council, portal, found)


@router.post("/t/{tenant}/me/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Ask for a sign-in link by e-mail, or a code by SMS (the field takes either). The
    answer is the same whether or not the address or number is a member's; requests are
    limited per client and per address or number."""
    await portal.check_rate("member_sign_in", client_address(request))
    form = await request.form()
    raw = form_text(form, "contact").strip()
    checked, errors = domain.check_sign_in(raw, council.country)
    if checked is None:
        return render(
            request,
            "me_sign_in.html",
            400,
            council=council,
            values={"contact": raw},
            errors=errors,
        )
    by, address = checked
    await portal.check_rate("member_sign_in_address", f"{council.tenant}:{address}")
    if by == "phone":
        await membership.request_sign_in_code(portal, council.tenant, address)
        return render(
            request, "me_sign_in_code.html", council=council, values={"phone": address}, sent=True
        )
    await membership.request_sign_in(portal, council.tenant, address)
    return render(request, "me_sign_in_sent.html", council=council)


@router.get("/t/{tenant}/me/code", response_class=HTMLResponse)
async def code_form(request: Request, council: CouncilDep) -> Response:
    """Where the code from a sign-in SMS is typed."""
    return render(request, "me_sign_in_code.html", council=council, values={})


@router.post("/t/{tenant}/me/code", response_class=HTMLResponse)
async def use_code(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The code is used up for a session cookie, as a mailed link is; a code that does not
    open one is refused on the form, with why where the right code was typed."""
    await portal.check_rate("confirm", client_address(request))
    form = await request.form()
    values = {"phone": form_text(form, "phone"), "code": form_text(form, "code")}
    checked, errors = domain.check_code(values["phone"], values["code"], council.country)
    if checked is None:
        return render(
            request, "me_sign_in_code.html", 400, council=council, values=values, errors=errors
        )
    phone, code = checked
    await portal.check_rate("number", phone)
    session, outcome = await membership.open_session_by_code(portal, council.tenant, phone, code)
    if session is not None:
        response = _see_other(_home(council))
        membership.set_cookie(response, request, session)
        return response
    if outcome.status == "pending":
        return render(
            request, "me_link.html", 202, council=council, outcome=outcome, kind="sign_in"
        )
    status, message = CODE_REFUSALS.get(outcome.reason or "", (400, WRONG_CODE))
    values["code"] = ""
    return render(
        request,
        "me_sign_in_code.html",
        status,
        council=council,
        values=values,
        errors={"code": message},
    )


@router.get("/t/{tenant}/me/sign-in/{token}", response_class=HTMLResponse)
async def sign_in_link(request: Request, token: str, council: CouncilDep) -> Response:
    """The link in the sign-in mail: a page with a button, so that opening it uses nothing."""
    if not domain.is_link_token(token):
        unknown = Outcome(status="refused", reason="unknown_token")
        return render(
            request, "me_link.html", 404, council=council, outcome=unknown, kind="sign_in"
        )
    return render(request, "me_sign_in_ask.html", council=council, token=token)


@router.post("/t/{tenant}/me/sign-in/{token}", response_class=HTMLResponse)
async def use_sign_in_link(
    request: Request, token: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """The button: the link is used up for a session cookie."""
    await portal.check_rate("confirm", client_address(request))
    session, outcome = await membership.open_session(portal, council.tenant, token)
    if session is None:
        status = 202 if outcome.status == "pending" else LINK_STATUS.get(outcome.reason or "", 404)
        return render(
            request, "me_link.html", status, council=council, outcome=outcome, kind="sign_in"
        )
    response = _see_other(_home(council))
    membership.set_cookie(response, request, session)
    return response


@router.post("/t/{tenant}/me/sign-out")
async def sign_out(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """End the session, here and in recruitment."""
    found, _ = await signed_in_post(request, council, portal)
    if found is not None:
        await membership.close_session(portal, council.tenant, found.session)
    response = _see_other(_home(council, "signed_out"))
    membership.clear_cookie(response, request)
    return response


# -- the member's details ------------------------------------------------------------------


def _after(
    request: Request,
    council: TenantView,
    portal: Portal,
    found: membership.Member,
    outcome: Outcome,
    notice: str,
    values: dict[str, str],
) -> Response:
    """Where a change leads: the page with a notice, or the form with the refusal."""
    if outcome.status == "pending":
        return _see_other(_home(council, "pending"))
    if outcome.status == "done":
        return _see_other(_home(council, notice))
    if outcome.reason == "no_session":
        return _see_other(_home(council, "no_session"))
    field, message = REFUSALS.get(outcome.reason or "", ("_form", N_("Something went wrong.")))
    return _my_page(request, council, portal, found, 400, values=values, errors={field: message})


@router.post("/t/{tenant}/me/details", response_class=HTMLResponse)
async def change_details(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Change one's details (background variables reach later rounds' breakdowns)."""
    found, form = await signed_in_post(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    fields = ("birth_year", "gender", "district", "locale", "heard_from", "works_for_council")
    values = {name: form_text(form, name) for name in fields}
    values["channel"] = form_text(form, "channel") or found.me.channel
    details, locale, errors = membership.check_details(values, council, found.me)
    if details is None:
        return _my_page(request, council, portal, found, 400, values=values, errors=errors)
    topics = None
    if form_text(form, "topics_shown") == "yes":
        offered = set(found.me.topics_offered)
        topics = tuple(t for t in form.getlist("topics") if isinstance(t, str) and t in offered)
    # The channel only when the form offered the choice (a member without it keeps theirs).
    chosen = values["channel"] if membership.channel_choice(found.me) else None
    channel = cast(PreferredChannel | None, chosen)  # checked by check_details
    settled = await membership.change_details(
        portal, council.tenant, found, details, locale, topics, channel
    )
    return _after(request, council, portal, found, settled.outcome, "saved", values)


@router.post("/t/{tenant}/me/email", response_class=HTMLResponse)
async def change_email(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Ask to change one's address: a link goes to the new one, which must be followed."""
    found, form = await signed_in_post(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    raw = form_text(form, "email").strip()
    try:
        email = normalise_email(raw)
    except InvalidEmail:
        errors = {"email": N_("Enter an e-mail address in the form name@example.se.")}
        return _my_page(request, council, portal, found, 400, values={"email": raw}, errors=errors)
    await portal.check_rate("member_sign_in_address", f"{council.tenant}:{email}")
    settled = await membership.change_email(portal, council.tenant, found, email)
    return _after(request, council, portal, found, settled.outcome, "email_sent", {"email": raw})


@router.get("/t/{tenant}/me/email/{token}", response_class=HTMLResponse)
async def email_link(request: Request, token: str, council: CouncilDep) -> Response:
    """The link sent to a new address: a page with a button."""
    if not domain.is_link_token(token):
        unknown = Outcome(status="refused", reason="unknown_token")
        return render(request, "me_link.html", 404, council=council, outcome=unknown, kind="email")
    return render(request, "me_email_ask.html", council=council, token=token)


@router.post("/t/{tenant}/me/email/{token}", response_class=HTMLResponse)
async def confirm_email(
    request: Request, token: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """The button: the new address takes effect."""
    await portal.check_rate("confirm", client_address(request))
    outcome = (await membership.confirm_email(portal, council.tenant, token)).outcome
    status = {"done": 200, "pending": 202}.get(outcome.status) or LINK_STATUS.get(
        outcome.reason or "", 404
    )
    return render(request, "me_link.html", status, council=council, outcome=outcome, kind="email")


# -- pause ------------------------------------------------------------------------------


@router.post("/t/{tenant}/me/pause", response_class=HTMLResponse)
async def pause(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Pause until a day: no invitations to rounds opened before it."""
    found, form = await signed_in_post(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    raw = form_text(form, "until")
    until, errors = membership.check_pause(raw, datetime.now(UTC).date())
    if until is None:
        return _my_page(request, council, portal, found, 400, values={"until": raw}, errors=errors)
    settled = await membership.pause(portal, council.tenant, found, until)
    return _after(request, council, portal, found, settled.outcome, "paused", {"until": raw})


@router.post("/t/{tenant}/me/resume", response_class=HTMLResponse)
async def resume(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """End the pause now."""
    found, _ = await signed_in_post(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    settled = await membership.resume(portal, council.tenant, found)
    return _after(request, council, portal, found, settled.outcome, "resumed", {})


# -- copy and erasure ------------------------------------------------------------------------


@router.get("/t/{tenant}/me/data")
async def my_data(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Everything every service holds about the member, as one JSON file."""
    found = await signed_in(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    services = await membership.data(portal, council.tenant, found)
    body = {
        "member_id": found.me.member_id,
        "exported_on": datetime.now(UTC).date().isoformat(),
        "services": [part.model_dump(mode="json") for part in services],
    }
    log.info("member data copied by the member", tenant=council.tenant)
    return Response(
        json.dumps(body, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="radslag-{council.tenant}.json"'},
    )


@router.get("/t/{tenant}/me/erase", response_class=HTMLResponse)
async def erase_form(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Ask before erasing: a page with a button."""
    found = await signed_in(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    return render(
        request,
        "me_erase.html",
        council=council,
        member_csrf=membership.csrf_token(portal, found.session),
        outcome=None,
    )


@router.post("/t/{tenant}/me/erase", response_class=HTMLResponse)
async def erase(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Erase the member everywhere; the session ends."""
    found, _ = await signed_in_post(request, council, portal)
    if found is None:
        return _see_other(_home(council, "no_session"))
    outcome = (await membership.erase(portal, council.tenant, found)).outcome
    if outcome.status == "refused":
        return _see_other(_home(council, "no_session"))
    status = 202 if outcome.status == "pending" else 200
    response = render(request, "me_erase.html", status, council=council, outcome=outcome)
    membership.clear_cookie(response, request)
    return response
