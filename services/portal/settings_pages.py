"""The panel's settings for staff: who may join, channels, pacing, term, topics and the
consent text (each change of which is a new version), as a page and in the JSON API."""

from __future__ import annotations

from typing import Any, get_args

import structlog
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from contracts.panels import ChannelOffered, Connection, PanelSettings, PanelView
from contracts.text import clean_line, clean_text
from services.portal.api import (
    CONTACT_ROLES,
    STAFF_PROBLEMS,
    ApiError,
    OutcomeReply,
    _Model,
    _outcome,
)
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.i18n import N_
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


def _form_values(view: PanelView) -> dict[str, Any]:
    s = view.settings
    return {
        "name": s.name,
        "remit": s.remit,
        "min_age": str(s.min_age),
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


@router.get("/t/{tenant}/staff/settings", response_class=HTMLResponse, include_in_schema=False)
async def settings_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The panel's settings and the versions of its consent text."""
    view = await portal.panel(council.tenant)
    notice = request.query_params.get("notice")
    return _page(
        request, council, staff, view, notice=notice if notice in ("saved", "pending") else None
    )


@router.post("/t/{tenant}/staff/settings", response_class=HTMLResponse, include_in_schema=False)
async def save_settings(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Save the settings (a changed consent text becomes a new version)."""
    if staff.account.role not in CONTACT_ROLES:
        raise HTTPException(status_code=403, detail="your role does not change the settings")
    view = await portal.panel(council.tenant)
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    values: dict[str, Any] = {
        "name": clean_line(text("name")),
        "remit": clean_text(text("remit")),
        "min_age": text("min_age").strip(),
        "connections": [v for v in form.getlist("connections") if v in get_args(Connection)],
        "channels": [v for v in form.getlist("channels") if v in get_args(ChannelOffered)],
        "max_rounds_per_half_year": text("max_rounds_per_half_year").strip(),
        "term_years": text("term_years").strip(),
        "topics": clean_text(text("topics")),
        "consent_text": clean_text(text("consent_text")),
    }
    errors: dict[str, str] = {}
    number = {"min_age": (13, 25), "max_rounds_per_half_year": (1, 26), "term_years": (1, 10)}
    for field, (low, high) in number.items():
        raw = values[field]
        if field == "term_years" and raw == "":
            continue
        if not (raw.isdigit() and low <= int(raw) <= high):
            errors[field] = N_("Give a whole number in the range shown.")
    if not 2 <= len(values["name"]) <= 80:
        errors["name"] = N_("Give the panel a name of 2 to 80 characters.")
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
                remit=values["remit"],
                min_age=int(values["min_age"]),
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
    settled = await portal.configure_panel(council.tenant, settings, values["consent_text"])
    notice = "saved" if settled.outcome.status == "done" else "pending"
    return RedirectResponse(f"/t/{council.tenant}/staff/settings?notice={notice}", 303)


@router.get(
    "/api/t/{tenant}/panel", response_model=PanelView, responses=STAFF_PROBLEMS, tags=["api"]
)
async def get_panel(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> PanelView:
    """The council's general panel: its settings, its consent text ('' while it is the
    built-in one) and every version of that text with the active members who agreed to it."""
    return await portal.panel(council.tenant)


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
    """Set the general panel's settings and consent text; a consent text that differs from
    the current one becomes a new version (members keep the version they agreed to)."""
    if staff.account.role not in CONTACT_ROLES:
        raise ApiError(403, "your role does not change the panel's settings")
    text = clean_text(body.consent_text)
    if not 20 <= len(text) <= 5000:
        raise ApiError(400, "invalid consent text", {"consent_text": "20 to 5000 characters."})
    settled = await portal.configure_panel(council.tenant, body.settings, text)
    return _outcome(response, settled.message_id, settled.outcome)
