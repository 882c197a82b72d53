"""The HTML pages of member imports: staff upload a previous vendor's file of members (with
their consent evidence), watch a progress bar until recruitment has handled every batch, then
see the counts and download the rejected rows."""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from contracts.recruitment import IMPORT_ID_PATTERN
from services.portal import member_import
from services.portal.api import CONTACT_ROLES
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.i18n import N_
from services.portal.member_import_api import MEMBERS_MAX_BYTES
from services.portal.panel_scope import visible
from services.portal.register_file import RegisterFileError
from services.portal.rendering import render

log = structlog.get_logger()
router = APIRouter(include_in_schema=False)

IMPORT_ID = re.compile(IMPORT_ID_PATTERN)


def _page(
    request: Request, council: Any, staff: Any, status_code: int = 200, **context: Any
) -> Response:
    if staff.account.role not in CONTACT_ROLES:
        raise HTTPException(status_code=403)
    return render(
        request,
        "staff_import.html",
        status_code,
        council=council,
        staff=staff,
        max_mib=MEMBERS_MAX_BYTES // (1024 * 1024),
        **context,
    )


@router.get("/t/{tenant}/staff/import", response_class=HTMLResponse)
async def import_form(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The form to upload a file of members (and, with several panels, which they join)."""
    panels = visible(staff, await portal.panels(council.tenant)).panels
    return _page(request, council, staff, values={}, errors={}, panels=panels)


@router.post(
    "/t/{tenant}/staff/import", response_class=HTMLResponse, max_body_size=MEMBERS_MAX_BYTES
)
async def upload(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """The file, uploaded (spooled to disk by the form parser), sent on in batches."""
    if staff.account.role not in CONTACT_ROLES:
        raise HTTPException(status_code=403)
    form = await request.form()
    raw_source = form.get("source")
    source = " ".join(raw_source.split()) if isinstance(raw_source, str) else ""
    upload = form.get("members")
    errors: dict[str, str] = {}
    if not 2 <= len(source) <= 120:
        errors["source"] = N_("Say where the file comes from, in 2 to 120 characters.")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["members"] = N_("Choose the file of members to upload.")
    panels = visible(staff, await portal.panels(council.tenant)).panels
    panel = str(form.get("panel") or "general")
    if panel not in {p.panel for p in panels}:
        errors["panel"] = N_("Choose one of your panels.")
    values = {"source": source, "panel": panel}
    if errors or not isinstance(upload, UploadFile):
        return _page(request, council, staff, 400, values=values, errors=errors, panels=panels)
    try:
        sent = await member_import.send_members(portal, council.tenant, upload.file, source, panel)
    except RegisterFileError as exc:
        errors = {"members": str(exc)}
        return _page(request, council, staff, 400, values=values, errors=errors, panels=panels)
    log.info("member file received", username=staff.account.username, rows=sent.rows)
    return RedirectResponse(f"/t/{council.tenant}/staff/import/{sent.import_id}", status_code=303)


@router.get("/t/{tenant}/staff/import/{import_id}", response_class=HTMLResponse)
async def progress(
    request: Request, import_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """An import's progress (the page refreshes until it is done), then its counts."""
    if not IMPORT_ID.fullmatch(import_id):
        raise HTTPException(status_code=404)
    if staff.account.role not in CONTACT_ROLES:
        raise HTTPException(status_code=403)
    view = await member_import.progress(portal, council.tenant, import_id)
    return _page(
        request,
        council,
        staff,
        import_id=import_id,
        view=view,
        done=member_import.done(view),
        values={},
        errors={},
    )
