"""Members whose contact failed for good, for staff: the JSON API and the page.

dispatch keeps the list (``ListInvalidContacts``): member ids, the channel, a reason code and
since when, never the address; a member leaves it when their contact changes. Any staff role
may read it: it holds no contact details.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from contracts.contacts import InvalidContacts, ListInvalidContacts
from services.portal.api import STAFF_PROBLEMS
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep
from services.portal.handlers import Portal, current_correlation_id
from services.portal.i18n import N_
from services.portal.panel_scope import council_wide
from services.portal.rendering import render

router = APIRouter()

REASONS = {
    "smtp_550": N_("The mail server says the address does not exist."),
    "smtp_551": N_("The mail server says the address has moved."),
    "smtp_552": N_("The mailbox is full or over its limit."),
    "smtp_553": N_("The mail server says the address is not valid."),
}
"""What the common reason codes mean, for staff (others are shown as their code)."""


async def invalid_contacts(
    portal: Portal, tenant: str, after: str = "", limit: int = 100
) -> InvalidContacts:
    """A page of the council's members whose contact failed for good."""
    query = ListInvalidContacts(
        tenant=tenant, correlation_id=current_correlation_id(), after=after, limit=limit
    )
    return await portal._ask(query, portal.gateway.list_invalid_contacts)


@router.get(
    "/api/t/{tenant}/contacts/invalid",
    response_model=InvalidContacts,
    responses=STAFF_PROBLEMS,
    tags=["api"],
)
async def list_invalid(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    after: Annotated[
        str, Query(max_length=80, description="``next_after`` of the page before.")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=500, description="Most entries.")] = 100,
) -> InvalidContacts:
    """The council's members whose contact failed for good (the mail server refused the
    address), by member id: the channel, a reason code (e.g. ``smtp_550``) and since when,
    never the address. A member leaves the list when their contact changes. Not for an account
    limited to panels (the list is the council's)."""
    council_wide(staff)
    return await invalid_contacts(portal, council.tenant, after, limit)


@router.get("/t/{tenant}/staff/contacts", response_class=HTMLResponse, include_in_schema=False)
async def page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The list, a page at a time."""
    council_wide(staff)
    after = request.query_params.get("after", "")
    listing = await invalid_contacts(portal, council.tenant, after if len(after) <= 80 else "")
    return render(
        request,
        "staff_contacts.html",
        council=council,
        staff=staff,
        contacts=listing.contacts,
        reasons=REASONS,
        next_after=listing.next_after,
    )
