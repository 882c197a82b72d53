"""The HTML pages of invited recruitment: campaigns for staff (create, upload the register
extract, follow the import, draw, print the letters, close), and the joining page of a person
invited (type the code from the letter, or follow its QR code)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from contracts.campaigns import FRIEND, OPEN_CAMPAIGN_PATTERN, CampaignView, InvitedView
from contracts.panels import GENERAL
from infra.queries import QueryFailed
from services.portal.accounts import Session
from services.portal.api import ApiError
from services.portal.campaign_api import REGISTER_MAX_BYTES, send_register, visible_campaigns
from services.portal.dependencies import (
    CouncilDep,
    LanguageDep,
    PortalDep,
    StaffDep,
    StaffPostDep,
    client_address,
)
from services.portal.handlers import Portal
from services.portal.i18n import N_
from services.portal.panel_scope import visible
from services.portal.rendering import render

log = structlog.get_logger()
router = APIRouter(include_in_schema=False)

NOTICES = frozenset({"created", "sent", "drawn", "closed", "pending"})
REFUSALS = {
    "import_incomplete": N_("The register extract is not fully imported yet."),
    "already_drawn": N_("This campaign has drawn its sample already."),
    "campaign_closed": N_("This campaign is closed."),
    "unknown_campaign": N_("There is no such campaign."),
}
STATES = {
    "importing": N_("Importing"),
    "drawn": N_("Drawn"),
    "closed": N_("Closed"),
}


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _notice(request: Request) -> str | None:
    notice = request.query_params.get("notice")
    return notice if notice in NOTICES else None


async def _campaign_or_404(
    portal: Portal, tenant: str, campaign_id: str, staff: Session
) -> CampaignView:
    view = await portal.campaign(tenant, campaign_id) if len(campaign_id) <= 64 else None
    if view is None or not staff.account.sees_panel(view.panel):
        raise HTTPException(status_code=404)
    return view


def _check_new_campaign(
    title: str, closes_on: str, exclude_drawn_months: str
) -> tuple[Any, dict[str, str]]:
    errors: dict[str, str] = {}
    clean = " ".join(title.split())
    if not 2 <= len(clean) <= 120:
        errors["title"] = N_("Give the campaign a title of 2 to 120 characters.")
    try:
        closes = date.fromisoformat(closes_on)
        if closes < datetime.now(UTC).date():
            errors["closes_on"] = N_("The last day must be today or later.")
    except ValueError:
        errors["closes_on"] = N_("Give the last day as a date (YYYY-MM-DD).")
    months = exclude_drawn_months
    if not (months.isdigit() and 0 <= int(months) <= 120):
        errors["exclude_drawn_months"] = N_("Give a whole number of months from 0 to 120.")
    if errors:
        return None, errors
    return (clean, closes_on, int(months)), {}


@router.get("/t/{tenant}/staff/campaigns", response_class=HTMLResponse)
async def campaigns(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The council's campaigns and the form to start one."""
    listing = visible_campaigns(staff, await portal.campaigns(council.tenant))
    return render(
        request,
        "staff_campaigns.html",
        council=council,
        staff=staff,
        campaigns=listing.campaigns,
        open_campaigns=(await portal.open_campaigns(council.tenant)).campaigns,
        join_url=_join_url(portal, council.tenant),
        states=STATES,
        panels=visible(staff, await portal.panels(council.tenant)).panels,
        values={"exclude_drawn_months": "24"},
        notice=_notice(request),
    )


def _join_url(portal: Any, tenant: str) -> str:
    return f"{portal.settings.portal_url.rstrip('/')}/t/{tenant}/join"


@router.post("/t/{tenant}/staff/open-campaigns", response_class=HTMLResponse)
async def new_open_campaign(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Start an open campaign: a sign-up link of its own, for a time, towards a target."""
    form = await request.form()
    values = {k: _field(form, k) for k in ("slug", "open_title", "starts_on", "ends_on", "target")}
    errors: dict[str, str] = {}
    slug = values["slug"].lower()
    if not re.fullmatch(OPEN_CAMPAIGN_PATTERN, slug) or slug == FRIEND:
        errors["slug"] = N_("Use 2 to 40 small letters, digits and dashes, for example var-2027.")
    title = " ".join(values["open_title"].split())
    if not 2 <= len(title) <= 120:
        errors["open_title"] = N_("Give the campaign a title of 2 to 120 characters.")
    try:
        if date.fromisoformat(values["ends_on"]) < date.fromisoformat(values["starts_on"]):
            errors["ends_on"] = N_("The last day cannot come before the first.")
    except ValueError:
        errors["starts_on"] = N_("Give the first and last day as dates (YYYY-MM-DD).")
    target = values["target"]
    if not (target.isdigit() and 1 <= int(target) <= 1_000_000):
        errors["target"] = N_("Give the target as a whole number of members.")
    if errors:
        listing = visible_campaigns(staff, await portal.campaigns(council.tenant))
        return render(
            request,
            "staff_campaigns.html",
            400,
            council=council,
            staff=staff,
            campaigns=listing.campaigns,
            open_campaigns=(await portal.open_campaigns(council.tenant)).campaigns,
            join_url=_join_url(portal, council.tenant),
            states=STATES,
            panels=visible(staff, await portal.panels(council.tenant)).panels,
            values={**values, "exclude_drawn_months": "24"},
            errors=errors,
        )
    settled = await portal.start_open_campaign(
        council.tenant, slug, title, values["starts_on"], values["ends_on"], int(target)
    )
    notice = "created" if settled.outcome.status == "done" else "pending"
    return _see_other(f"/t/{council.tenant}/staff/campaigns?notice={notice}#open-heading")


@router.post("/t/{tenant}/staff/campaigns", response_class=HTMLResponse)
async def new_campaign(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Start a campaign, then show it."""
    form = await request.form()
    values = {k: _field(form, k) for k in ("title", "closes_on", "exclude_drawn_months")}
    checked, errors = _check_new_campaign(**values)
    if checked is None:
        listing = visible_campaigns(staff, await portal.campaigns(council.tenant))
        return render(
            request,
            "staff_campaigns.html",
            400,
            council=council,
            staff=staff,
            campaigns=listing.campaigns,
            states=STATES,
            panels=visible(staff, await portal.panels(council.tenant)).panels,
            values=values,
            errors=errors,
        )
    title, closes_on, months = checked
    panel = _field(form, "panel") or GENERAL
    if not staff.account.sees_panel(panel) or panel not in {
        p.panel for p in (await portal.panels(council.tenant)).panels
    }:
        raise HTTPException(status_code=404, detail="no such panel")
    campaign_id, settled = await portal.create_campaign(
        council.tenant, title, closes_on, months, panel
    )
    notice = "created" if settled.outcome.status == "done" else "pending"
    return _see_other(f"/t/{council.tenant}/staff/campaigns/{campaign_id}?notice={notice}")


async def _campaign_page(
    request: Request,
    council: Any,
    staff: Any,
    view: CampaignView,
    status_code: int = 200,
    **context: Any,
) -> Response:
    importing = view.state == "importing"
    waiting = importing and (
        (view.batches_expected is None and _notice(request) == "sent")
        or (view.batches_expected is not None and view.batches_done < view.batches_expected)
    )
    return render(
        request,
        "staff_campaign.html",
        status_code,
        council=council,
        staff=staff,
        campaign=view,
        states=STATES,
        waiting=waiting,
        can_upload=importing and view.batches_expected is None and not waiting,
        can_draw=importing
        and view.batches_expected is not None
        and view.batches_done >= view.batches_expected,
        notice=_notice(request),
        max_mib=REGISTER_MAX_BYTES // (1024 * 1024),
        **context,
    )


@router.get("/t/{tenant}/staff/campaigns/{campaign_id}", response_class=HTMLResponse)
async def campaign(
    request: Request, campaign_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """One campaign: the import's progress, the draw, the strata and their conversion."""
    view = await _campaign_or_404(portal, council.tenant, campaign_id, staff)
    return await _campaign_page(request, council, staff, view, values={"size": "1000"})


@router.post(
    "/t/{tenant}/staff/campaigns/{campaign_id}/register",
    response_class=HTMLResponse,
    max_body_size=REGISTER_MAX_BYTES,
)
async def upload_register(
    request: Request, campaign_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """The extract, uploaded as a file (spooled to disk by the form parser), sent on."""
    view = await _campaign_or_404(portal, council.tenant, campaign_id, staff)
    form = await request.form()
    upload = form.get("register")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors = {"register": N_("Choose the register file to upload.")}
        return await _campaign_page(request, council, staff, view, 400, errors=errors)
    try:
        await send_register(portal, council.tenant, view, upload.file)
    except ApiError as exc:
        message = exc.errors.get("file") or N_("This campaign has its extract already.")
        return await _campaign_page(
            request, council, staff, view, 400, errors={"register": message}
        )
    return _see_other(f"/t/{council.tenant}/staff/campaigns/{campaign_id}?notice=sent")


@router.post("/t/{tenant}/staff/campaigns/{campaign_id}/draw", response_class=HTMLResponse)
async def draw(
    request: Request, campaign_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Draw the sample."""
    view = await _campaign_or_404(portal, council.tenant, campaign_id, staff)
    form = await request.form()
    values = {k: _field(form, k) for k in ("size", "method", "expected_response_pct", "seed")}
    errors: dict[str, str] = {}
    size = values["size"]
    if not (size.isdigit() and 1 <= int(size) <= min(100_000, max(view.eligible, 1))):
        errors["size"] = N_("Give how many to invite: at least 1, at most those who can be drawn.")
    method = values["method"] if values["method"] in ("proportional", "boost") else "proportional"
    pct = values["expected_response_pct"] or "15"
    if not (pct.isdigit() and 1 <= int(pct) <= 100):
        errors["expected_response_pct"] = N_("Give a whole per cent from 1 to 100.")
    seed = values["seed"]
    if seed and not (seed.isdigit() and int(seed) <= 2**53):
        errors["seed"] = N_("A seed is a whole number (leave it empty for a new draw).")
    if errors:
        return await _campaign_page(
            request, council, staff, view, 400, values=values, errors=errors
        )
    settled = await portal.draw_sample(
        council.tenant,
        campaign_id,
        int(size),
        "boost" if method == "boost" else "proportional",
        int(pct),
        int(seed) if seed else None,
    )
    if settled.outcome.status == "refused":
        message = REFUSALS.get(settled.outcome.reason or "", N_("The draw was refused."))
        return await _campaign_page(
            request, council, staff, view, 409, values=values, errors={"_form": message}
        )
    notice = "drawn" if settled.outcome.status == "done" else "pending"
    log.info("sample drawn", username=staff.account.username, campaign=campaign_id)
    return _see_other(f"/t/{council.tenant}/staff/campaigns/{campaign_id}?notice={notice}")


@router.post("/t/{tenant}/staff/campaigns/{campaign_id}/close", response_class=HTMLResponse)
async def close(
    request: Request, campaign_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Close the campaign now."""
    await _campaign_or_404(portal, council.tenant, campaign_id, staff)
    settled = await portal.close_campaign(council.tenant, campaign_id)
    notice = "closed" if settled.outcome.status == "done" else "pending"
    log.info("campaign closed", username=staff.account.username, campaign=campaign_id)
    return _see_other(f"/t/{council.tenant}/staff/campaigns/{campaign_id}?notice={notice}")


# -- the person invited ----------------------------------------------------------------------


@router.get("/t/{tenant}/invited", response_class=HTMLResponse)
async def code_form(request: Request, council: CouncilDep) -> Response:
    """Where the letter sends people who type their code."""
    return render(request, "invited_code.html", council=council)


@router.post("/t/{tenant}/invited", response_class=HTMLResponse)
async def code_typed(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """A typed code: to its joining page, if it is one."""
    await portal.check_rate("invited", client_address(request))
    form = await request.form()
    typed = "".join(_field(form, "code").split()).replace("-", "").upper()
    view = await portal.invited(council.tenant, typed) if 8 <= len(typed) <= 20 else None
    if view is None:
        errors = {"code": N_("We do not know that code. Check it against your letter.")}
        return render(
            request,
            "invited_code.html",
            400,
            council=council,
            errors=errors,
            values={"code": typed},
        )
    return _see_other(f"/t/{council.tenant}/invited/{typed}")


async def _invitation_page(
    request: Request,
    council: Any,
    portal: Any,
    view: InvitedView | None,
    code: str,
    status: int,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
) -> Response:
    name = view.panel if view is not None else GENERAL
    try:
        panel = await portal.panel_for_residents(council.tenant, name)
    except QueryFailed:
        panel = await portal.panel_for_residents(council.tenant)
    return render(
        request,
        "invited.html",
        status,
        council=council,
        invited=view,
        code=code,
        values=values,
        errors=errors or {},
        consent_version=panel.consent_version,
    )


@router.get("/t/{tenant}/invited/{code}", response_class=HTMLResponse)
async def invitation(
    request: Request, code: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """The joining page of a person invited, with what the register says about them."""
    await portal.check_rate("invited", client_address(request))
    view = await portal.invited(council.tenant, code)
    status = 200 if view is not None and view.state == "invited" else 404
    values = {"email": view.email} if view is not None else {}
    return await _invitation_page(request, council, portal, view, code, status, values)


@router.post("/t/{tenant}/invited/{code}", response_class=HTMLResponse)
async def join_invited(
    request: Request, code: str, council: CouncilDep, portal: PortalDep, lang: LanguageDep
) -> Response:
    """Join with the invitation."""
    await portal.check_rate("invited", client_address(request))
    view = await portal.invited(council.tenant, code)
    form = await request.form()
    values = {"email": _field(form, "email"), "consent": _field(form, "consent")}
    errors: dict[str, str] = {}
    if not values["email"] or len(values["email"]) > 254:
        errors["email"] = N_("Enter your e-mail address, like name@example.se.")
    if values["consent"] != "yes":
        errors["consent"] = N_("You must give your consent to join the panel.")
    if view is None or view.state != "invited" or errors:
        status = 400 if view is not None and view.state == "invited" else 404
        return await _invitation_page(request, council, portal, view, code, status, values, errors)
    settled = await portal.redeem(council.tenant, code, values["email"], lang)
    if settled.outcome.reason == "invalid_email":
        errors["email"] = N_("Enter your e-mail address, like name@example.se.")
        return await _invitation_page(request, council, portal, view, code, 400, values, errors)
    return render(request, "invited_done.html", council=council, outcome=settled.outcome)
