"""The council's panels for staff: the list (with a form to add one) and each panel's
settings (owner, who may join, ages, districts, channels, pacing, term, topics and the
consent text, each change of which is a new version), as pages and in the JSON API.

An account limited to some panels (``Account.panels``) sees and changes only those, and
cannot add panels; every other panel is "not found" to it."""

from __future__ import annotations

from typing import Any, get_args

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from contracts.panels import (
    GENERAL,
    ChannelOffered,
    Connection,
    PanelList,
    PanelSettings,
    PanelView,
)
from contracts.text import clean_line, clean_text
from infra.queries import QueryFailed
from services.portal.accounts import Session
from services.portal.api import (
    CONTACT_ROLES,
    STAFF_PROBLEMS,
    ApiError,
    OutcomeReply,
    _Model,
    _outcome,
)
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.handlers import Portal
from services.portal.i18n import N_
from services.portal.panel_scope import PANEL_RE as _PANEL_RE
from services.portal.panel_scope import visible
from services.portal.rendering import render

log = structlog.get_logger()
router = APIRouter()

DEFAULT_CONSENT_TEXT = (
    "Kommunen driver medborgarpanelen på regionens plattform Rådslag.\n\n"
    "Syfte: vi använder din e-postadress eller ditt mobilnummer för att skicka frågeomgångar, "
    "påminnelser och resultat. Vi använder ditt födelseår, kön och distrikt för att se att "
    "panelen speglar befolkningen och för att redovisa resultat per grupp.\n\n"
    "Känsliga svar: dina svar kan visa dina politiska åsikter eller andra känsliga "
    "uppfattningar. De sparas utan ditt namn eller din adress, och resultat visas bara för "
    "grupper som är så stora att ingen kan kännas igen.\n\n"
    "Varje omgång säger varför: varje frågeomgång anger vad svaren ska användas till. Du "
    "behöver aldrig svara på en fråga.\n\n"
    "Du kan lämna när du vill: du kan lämna panelen och ta tillbaka ditt samtycke när du vill, "
    "med länken i varje meddelande. Dina uppgifter raderas då."
)
"""The built-in consent text as plain text: what staff start from when they change it."""

CONNECTIONS = {
    "resident": N_("Lives in the council"),
    "second_home": N_("Owns a second home there"),
    "pupil": N_("Goes to one of its schools"),
    "business_owner": N_("Runs a business there"),
    "moved_away": N_("Has moved away from it"),
}
CHANNELS = {"email": N_("E-mail"), "sms": N_("SMS"), "paper": N_("Paper")}


class PanelUpdate(_Model):
    """A panel's new settings and consent text."""

    settings: PanelSettings
    consent_text: str


async def staff_panel(portal: Portal, tenant: str, staff: Session, panel: str) -> PanelView:
    """One of the council's panels that this account works with; 404 otherwise."""
    if not _PANEL_RE.fullmatch(panel) or not staff.account.sees_panel(panel):
        raise HTTPException(status_code=404, detail="no such panel")
    try:
        return await portal.panel(tenant, panel)
    except QueryFailed:
        if panel == GENERAL:
            raise
        raise HTTPException(status_code=404, detail="no such panel") from None


def _may_change(staff: Session) -> None:
    if staff.account.role not in CONTACT_ROLES:
        raise HTTPException(status_code=403, detail="your role does not change the settings")


def _form_values(view: PanelView) -> dict[str, Any]:
    s = view.settings
    return {
        "name": s.name,
        "owner": s.owner,
        "remit": s.remit,
        "min_age": str(s.min_age),
        "max_age": "" if s.max_age is None else str(s.max_age),
        "districts": list(s.districts),
        "connections": list(s.connections),
        "channels": list(s.channels),
        "max_rounds_per_half_year": str(s.max_rounds_per_half_year),
        "term_years": "" if s.term_years is None else str(s.term_years),
        "topics": "\n".join(s.topics),
        "consent_text": view.consent_text or DEFAULT_CONSENT_TEXT,
    }


def _page(
    request: Request, council: Any, staff: Any, view: PanelView, status: int = 200, **context: Any
) -> Response:
    return render(
        request,
        "staff_settings.html",
        status,
        council=council,
        staff=staff,
        view=view,
        connections=CONNECTIONS,
        channels=CHANNELS,
        **{"values": _form_values(view), **context},
    )


@router.get("/t/{tenant}/staff/panels", response_class=HTMLResponse, include_in_schema=False)
async def panels_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The council's panels this account works with, and a form to add one."""
    return _panels_page(request, council, staff, await portal.panels(council.tenant))


def _panels_page(
    request: Request,
    council: Any,
    staff: Session,
    panels: PanelList,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        "staff_panels.html",
        status,
        council=council,
        staff=staff,
        panels=visible(staff, panels).panels,
        may_add=staff.account.role in CONTACT_ROLES and not staff.account.panels,
        values=context.pop("values", {}),
        **context,
    )


@router.post("/t/{tenant}/staff/panels", response_class=HTMLResponse, include_in_schema=False)
async def add_panel(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Add a panel (a youth panel, a district's, a committee's) with the built-in consent
    text; its settings page follows."""
    _may_change(staff)
    if staff.account.panels:
        raise HTTPException(status_code=403, detail="an account limited to panels adds none")
    form = await request.form()
    slug = str(form.get("panel") or "").strip().lower()
    name = clean_line(str(form.get("name") or ""))
    errors: dict[str, str] = {}
    panels = await portal.panels(council.tenant)
    if not _PANEL_RE.fullmatch(slug):
        errors["panel"] = N_("Use lower-case letters, digits and hyphens, at most 40.")
    elif slug in {p.panel for p in panels.panels}:
        errors["panel"] = N_("The council already has a panel of this name.")
    if not 2 <= len(name) <= 80:
        errors["name"] = N_("Give the panel a name of 2 to 80 characters.")
    if errors:
        values = {"panel": slug, "name": name}
        return _panels_page(request, council, staff, panels, 400, values=values, errors=errors)
    settled = await portal.configure_panel(
        council.tenant, PanelSettings(name=name), DEFAULT_CONSENT_TEXT, slug
    )
    notice = "saved" if settled.outcome.status == "done" else "pending"
    return RedirectResponse(f"/t/{council.tenant}/staff/settings?panel={slug}&notice={notice}", 303)


@router.get("/t/{tenant}/staff/settings", response_class=HTMLResponse, include_in_schema=False)
async def settings_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """A panel's settings (``?panel=``, the general one by default) and the versions of its
    consent text."""
    name = request.query_params.get("panel") or GENERAL
    view = await staff_panel(portal, council.tenant, staff, name)
    notice = request.query_params.get("notice")
    return _page(
        request, council, staff, view, notice=notice if notice in ("saved", "pending") else None
    )


@router.post("/t/{tenant}/staff/settings", response_class=HTMLResponse, include_in_schema=False)
async def save_settings(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Save a panel's settings (a changed consent text becomes a new version)."""
    _may_change(staff)
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    view = await staff_panel(portal, council.tenant, staff, text("panel") or GENERAL)
    values: dict[str, Any] = {
        "name": clean_line(text("name")),
        "owner": clean_line(text("owner")),
        "remit": clean_text(text("remit")),
        "min_age": text("min_age").strip(),
        "max_age": text("max_age").strip(),
        "districts": [d for d in form.getlist("districts") if d in council.districts],
        "connections": [v for v in form.getlist("connections") if v in get_args(Connection)],
        "channels": [v for v in form.getlist("channels") if v in get_args(ChannelOffered)],
        "max_rounds_per_half_year": text("max_rounds_per_half_year").strip(),
        "term_years": text("term_years").strip(),
        "topics": clean_text(text("topics")),
        "consent_text": clean_text(text("consent_text")),
    }
    errors: dict[str, str] = {}
    number = {
        "min_age": (13, 25),
        "max_age": (13, 120),
        "max_rounds_per_half_year": (1, 26),
        "term_years": (1, 10),
    }
    for field, (low, high) in number.items():
        raw = values[field]
        if field in ("term_years", "max_age") and raw == "":
            continue
        if not (raw.isdigit() and low <= int(raw) <= high):
            errors[field] = N_("Give a whole number in the range shown.")
    if not 2 <= len(values["name"]) <= 80:
        errors["name"] = N_("Give the panel a name of 2 to 80 characters.")
    if len(values["owner"]) > 120:
        errors["owner"] = N_("At most 120 characters.")
    low, high = values["min_age"], values["max_age"]
    if low.isdigit() and high.isdigit() and int(high) < int(low) and "max_age" not in errors:
        errors["max_age"] = N_("The oldest age must not be below the youngest.")
    if not values["connections"]:
        errors["connections"] = N_("Choose who may join.")
    if not values["channels"]:
        errors["channels"] = N_("Choose at least one channel.")
    if not 20 <= len(values["consent_text"]) <= 5000:
        errors["consent_text"] = N_("The consent text must be 20 to 5000 characters.")
    topics = [clean_line(t) for t in values["topics"].split("\n") if clean_line(t)]
    if len(topics) > 30 or any(len(t) > 80 for t in topics):
        errors["topics"] = N_("At most 30 topics, one per line, each at most 80 characters.")
    settings: PanelSettings | None = None
    if not errors:
        try:
            settings = PanelSettings(
                name=values["name"],
                owner=values["owner"],
                remit=values["remit"],
                min_age=int(values["min_age"]),
                max_age=int(values["max_age"]) if values["max_age"] else None,
                districts=tuple(values["districts"]),
                connections=tuple(values["connections"]),
                channels=tuple(values["channels"]),
                max_rounds_per_half_year=int(values["max_rounds_per_half_year"]),
                term_years=int(values["term_years"]) if values["term_years"] else None,
                topics=tuple(topics),
            )
        except ValidationError:
            errors["_form"] = N_("Some settings are not valid.")
    if settings is None:
        return _page(request, council, staff, view, 400, values=values, errors=errors)
    settled = await portal.configure_panel(
        council.tenant, settings, values["consent_text"], view.panel
    )
    notice = "saved" if settled.outcome.status == "done" else "pending"
    return RedirectResponse(
        f"/t/{council.tenant}/staff/settings?panel={view.panel}&notice={notice}", 303
    )


@router.get(
    "/api/t/{tenant}/panels", response_model=PanelList, responses=STAFF_PROBLEMS, tags=["api"]
)
async def list_panels(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> PanelList:
    """The council's panels this account works with (the general one first), each with its
    owner, remit and active members."""
    return visible(staff, await portal.panels(council.tenant))


@router.get(
    "/api/t/{tenant}/panels/{panel}",
    response_model=PanelView,
    responses=STAFF_PROBLEMS,
    tags=["api"],
)
async def get_one_panel(
    panel: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> PanelView:
    """One panel: its settings, its consent text ('' while the general panel's is the
    built-in one) and every version of that text with the active members who agreed to it."""
    return await staff_panel(portal, council.tenant, staff, panel)


@router.put(
    "/api/t/{tenant}/panels/{panel}",
    response_model=OutcomeReply,
    responses=STAFF_PROBLEMS,
    tags=["api"],
)
async def put_one_panel(
    panel: str,
    body: PanelUpdate,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> OutcomeReply:
    """Set a panel's settings and consent text; a panel of a new name is added (by accounts
    not limited to panels). A consent text that differs from the current one becomes a new
    version (members keep the version they agreed to)."""
    if staff.account.role not in CONTACT_ROLES:
        raise ApiError(403, "your role does not change the panel's settings")
    if not _PANEL_RE.fullmatch(panel) or not staff.account.sees_panel(panel):
        raise ApiError(404, "no such panel")
    text = clean_text(body.consent_text)
    if not 20 <= len(text) <= 5000:
        raise ApiError(400, "invalid consent text", {"consent_text": "20 to 5000 characters."})
    unknown = set(body.settings.districts) - set(council.districts)
    if unknown:
        raise ApiError(400, "invalid settings", {"districts": "Districts of the council only."})
    settled = await portal.configure_panel(council.tenant, body.settings, text, panel)
    return _outcome(response, settled.message_id, settled.outcome)


@router.get(
    "/api/t/{tenant}/panel", response_model=PanelView, responses=STAFF_PROBLEMS, tags=["api"]
)
async def get_panel(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> PanelView:
    """The council's general panel (as ``GET .../panels/general``)."""
    return await staff_panel(portal, council.tenant, staff, GENERAL)


@router.put(
    "/api/t/{tenant}/panel", response_model=OutcomeReply, responses=STAFF_PROBLEMS, tags=["api"]
)
async def put_panel(
    body: PanelUpdate,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> OutcomeReply:
    """Set the general panel's settings and consent text (as ``PUT .../panels/general``)."""
    return await put_one_panel(GENERAL, body, response, council, portal, staff)
