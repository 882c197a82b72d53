"""The staff page of the panel's make-up: how representative it is of the population (the
index, the gaps by age band, gender and district, and whom to recruit next, as tables and
charts), its size month by month, and the form that loads the population figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from contracts.bands import BAND_NAMES
from contracts.recruitment import Share
from contracts.text import clean_line
from services.portal import audit, domain
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.i18n import N_
from services.portal.panel_scope import (
    council_wide,
    figures_panel,
    panel_filter,
    trimmed,
    visible,
)
from services.portal.rendering import render

log = structlog.get_logger()
router = APIRouter(include_in_schema=False)

POPULATION_MAX_BYTES = 2 * 1024 * 1024
"""A population file: at most 5 000 rows of a few dozen bytes."""
CHART_ROW = 26
"""Height of one group's row in a chart (SVG user units)."""


def chart(shares: tuple[Share, ...]) -> dict[str, Any]:
    """What the template needs to draw a group's panel share against its population share:
    bar lengths on a 0-100 scale of the largest share shown, one row per group."""
    top = max([1.0, *(max(s.panel_share, s.population_share) for s in shares)])
    return {
        "height": CHART_ROW * len(shares) + 10,
        "rows": [
            {
                "share": s,
                "y": CHART_ROW * i,
                "panel": round(100 * s.panel_share / top, 1),
                "population": round(100 * s.population_share / top, 1),
            }
            for i, s in enumerate(shares)
        ],
    }


async def _page(
    request: Request, council: Any, staff: Any, portal: Any, status: int = 200, **context: Any
) -> Response:
    chosen = figures_panel(staff, request.query_params.get("panel"))
    view = await portal.representativeness(council.tenant, chosen)
    panels = visible(staff, await portal.panels(council.tenant)).panels
    # The council's monthly figures are for accounts that see every panel.
    whole = not staff.account.panels
    history = (await portal.panel_history(council.tenant, 12)).months if whole else ()
    index_points = (await portal.index_history(council.tenant)).points if whole else ()
    charts = (
        {
            "age": chart(view.by_age_band),
            "gender": chart(view.by_gender),
            "district": chart(view.by_district),
        }
        if view is not None
        else {}
    )
    return render(
        request,
        "staff_panel.html",
        status,
        council=council,
        staff=staff,
        view=view,
        charts=charts,
        history=history,
        index_points=index_points,
        panels=panels,
        chosen=chosen,
        **context,
    )


@router.get("/t/{tenant}/staff/panel", response_class=HTMLResponse)
async def panel(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """How representative the panel is, and its size over the last year."""
    notice = request.query_params.get("notice")
    return await _page(
        request, council, staff, portal, notice=notice if notice in ("population",) else None
    )


@router.post(
    "/t/{tenant}/staff/panel/population",
    response_class=HTMLResponse,
    max_body_size=POPULATION_MAX_BYTES,
)
async def population(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Load the population figures from a CSV file of official statistics."""
    council_wide(staff)
    form = await request.form()
    upload = form.get("population")
    source_value = form.get("source")
    source = clean_line(source_value if isinstance(source_value, str) else "")
    errors: dict[str, str] = {}
    text = ""
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["population"] = N_("Choose the file with the population figures.")
    else:
        try:
            text = (await upload.read()).decode("utf-8")
        except UnicodeDecodeError:
            errors["population"] = N_("The file must be UTF-8 text.")
    if not 1 <= len(source) <= 120:
        errors["source"] = N_("Name where the figures come from, for example SCB 2025.")
    rows: list[Any] = []
    if not errors:
        rows, problems = domain.parse_population_csv(text)
        if problems:
            first = next(iter(problems.items()))
            errors["population"] = f"{first[0]}: {first[1]}"
    if errors:
        return await _page(
            request, council, staff, portal, 400, errors=errors, values={"source": source}
        )
    await portal.set_population(council.tenant, source, rows)
    log.info("population figures set", username=staff.account.username, rows=len(rows))
    return RedirectResponse(f"/t/{council.tenant}/staff/panel?notice=population", 303)


@router.get("/t/{tenant}/staff/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """Who of the council's staff did what, newest first."""
    council_wide(staff)
    entries = await audit.recent(portal.db, council.tenant, 200)
    for entry in entries:
        entry["at"] = datetime.fromtimestamp(entry["at_ms"] / 1000, UTC)
    return render(request, "staff_audit.html", council=council, staff=staff, entries=entries)


@router.get("/t/{tenant}/staff/members", response_class=HTMLResponse)
async def members(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The council's members, filtered, without contact details."""
    params = request.query_params
    values = {
        k: params.get(k, "") for k in ("state", "district", "age_band", "gender", "after", "panel")
    }
    chosen = panel_filter(staff, values["panel"])
    if values["state"] not in ("active", "pending", "paused", "any"):
        values["state"] = "active"
    if values["gender"] not in ("", "female", "male", "other", "undisclosed"):
        values["gender"] = ""
    if values["age_band"] not in BAND_NAMES:
        values["age_band"] = ""
    if values["district"] not in council.districts:
        values["district"] = ""
    after = values["after"] if len(values["after"]) <= 36 else ""
    listing = await portal.search_members(
        council.tenant,
        state=values["state"],
        district=values["district"],
        age_band=values["age_band"],
        gender=values["gender"],
        after=after,
        panels=chosen,
    )
    next_query = (
        str(request.url.include_query_params(after=listing.next_after).query)
        if listing.next_after
        else None
    )
    return render(
        request,
        "staff_members.html",
        council=council,
        staff=staff,
        members=trimmed(staff, listing).members,
        values=values,
        panels=visible(staff, await portal.panels(council.tenant)).panels,
        bands=BAND_NAMES,
        next_query=next_query,
    )
