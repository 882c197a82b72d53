"""The page a member reaches from the notice that their term ends: renew for another term."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.portal.dependencies import CouncilDep, PortalDep, client_address
from services.portal.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/t/{tenant}/renew/{token}", response_class=HTMLResponse)
async def renew_form(request: Request, token: str, council: CouncilDep) -> Response:
    """A button, so that a program checking the links in a mail cannot renew for anyone."""
    return render(request, "renew.html", council=council, token=token, outcome=None)


@router.post("/t/{tenant}/renew/{token}", response_class=HTMLResponse)
async def renew(request: Request, token: str, council: CouncilDep, portal: PortalDep) -> Response:
    """Renew the term."""
    await portal.check_rate("confirm", client_address(request))
    settled = await portal.renew(council.tenant, token)
    status = 200 if settled.outcome.status != "refused" else 404
    return render(
        request, "renew.html", status, council=council, token=token, outcome=settled.outcome
    )
