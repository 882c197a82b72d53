"""The member's panels (``/t/<tenant>/me/panels``): which of the council's panels they
belong to, which others take them, and a form to join or leave them (at least one stays)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from contracts.panels import ChangeMyPanels, GetMyPanels, MyPanels
from contracts.recruitment import TenantView
from services.portal import membership
from services.portal.dependencies import CouncilDep, PortalDep
from services.portal.handlers import Portal, Settled
from services.portal.i18n import N_
from services.portal.rendering import render

router = APIRouter(include_in_schema=False)

REFUSALS = {
    "not_eligible": N_("One of the panels you chose does not take you (age or district)."),
    "unknown_panel": N_("One of the panels you chose no longer exists."),
}


async def my_panels(portal: Portal, tenant: str, session: str) -> MyPanels | None:
    """The member's panels and the council's others; None for no live session."""
    query = GetMyPanels(**portal._envelope(tenant), session=session)
    return await portal._ask(query, portal.gateway.get_my_panels)


async def change_my_panels(
    portal: Portal, tenant: str, session: str, panels: tuple[str, ...]
) -> Settled:
    """Join and leave panels; wait briefly for the outcome."""
    command = ChangeMyPanels(**portal._envelope(tenant), session=session, panels=panels)
    return await portal._follow(command, portal.gateway.change_my_panels)


def _page(
    request: Request,
    council: TenantView,
    portal: Portal,
    session: str,
    mine: MyPanels,
    status: int = 200,
    **context: Any,
) -> Response:
    notice = request.query_params.get("notice")
    return render(
        request,
        "me_panels.html",
        status,
        council=council,
        mine=mine,
        member_csrf=membership.csrf_token(portal, session),
        notice=notice if notice in ("saved", "pending") else None,
        **context,
    )


def _sign_in(council: TenantView) -> RedirectResponse:
    return RedirectResponse(f"/t/{council.tenant}/me?notice=no_session", 303)


@router.get("/t/{tenant}/me/panels", response_class=HTMLResponse)
async def panels_page(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The council's panels, the member's ticked."""
    session = membership.session_of(request)
    mine = await my_panels(portal, council.tenant, session) if session else None
    if session is None or mine is None:
        return _sign_in(council)
    return _page(request, council, portal, session, mine)


@router.post("/t/{tenant}/me/panels", response_class=HTMLResponse)
async def choose_panels(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Save the panels ticked (the ones that take the member, and those they are in)."""
    session = membership.session_of(request)
    form = await request.form()
    mine = await my_panels(portal, council.tenant, session) if session else None
    if session is None or mine is None:
        return _sign_in(council)
    token = form.get("csrf_token")
    if not membership.csrf_matches(portal, session, token if isinstance(token, str) else None):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    known = {p.panel for p in mine.panels}
    chosen = tuple(v for v in form.getlist("panels") if isinstance(v, str) and v in known)
    if not chosen:
        errors = {"panels": N_("Keep at least one panel, or leave altogether from your page.")}
        return _page(request, council, portal, session, mine, 400, errors=errors)
    settled = await change_my_panels(portal, council.tenant, session, chosen)
    if settled.outcome.status == "refused":
        reason = settled.outcome.reason or ""
        if reason == "no_session":
            return _sign_in(council)
        message = REFUSALS.get(reason, N_("Something went wrong."))
        return _page(request, council, portal, session, mine, 400, errors={"panels": message})
    notice = "saved" if settled.outcome.status == "done" else "pending"
    return RedirectResponse(f"/t/{council.tenant}/me/panels?notice={notice}", 303)
