"""A council's own team: its staff accounts, their roles and the panels each works with
(``/t/<tenant>/staff/team`` and ``/api/t/<tenant>/team``), and every account's own password
(``/t/<tenant>/staff/password``).

Only accounts that see contact details and every panel (``panel_manager``, ``staff``, a
region admin) manage the team: a council that wants a panel's owner to see only its panels
gives that owner's accounts the list here. A new account's password is made by the portal and
shown once, to hand over; its holder changes it on the password page. Every change is in the
audit trail (the edge records each staff POST, PUT and DELETE)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import Field

from services.portal import accounts
from services.portal.api import CONTACT_ROLES, STAFF_PROBLEMS, ApiError, _Model
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.handlers import Portal
from services.portal.i18n import N_
from services.portal.rendering import render

router = APIRouter()

ROLES = {
    "panel_manager": N_("Panel manager: everything, and the team"),
    "staff": N_("Staff: everything, and the team"),
    "analyst": N_("Analyst: rounds, results and figures, no contact details"),
    "steering_group": N_(
        "Steering group: reads rounds and results, approves or returns submitted rounds"
    ),
}


def _manages(staff: accounts.Session) -> None:
    if staff.account.role not in CONTACT_ROLES or staff.account.panels:
        raise HTTPException(status_code=403, detail="your role does not manage the team")


async def _panel_names(portal: Portal, tenant: str) -> dict[str, str]:
    return {p.panel: p.name for p in (await portal.panels(tenant)).panels}


def _form(form: Any) -> tuple[str, str, tuple[str, ...]]:
    username = str(form.get("username") or "")
    role = str(form.get("role") or "")
    panels = tuple(str(p) for p in form.getlist("panels") if isinstance(p, str))
    return username, role, panels


async def _page(
    request: Request,
    council: Any,
    staff: accounts.Session,
    portal: Portal,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        "staff_team.html",
        status,
        council=council,
        staff=staff,
        team=await accounts.council_accounts(portal.db, council.tenant),
        panel_names=await _panel_names(portal, council.tenant),
        roles=ROLES,
        values=context.pop("values", {"role": "staff", "panels": []}),
        **context,
    )


@router.get("/t/{tenant}/staff/team", response_class=HTMLResponse, include_in_schema=False)
async def team_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The council's accounts, and the form to add one or change one's role and panels."""
    _manages(staff)
    notice = request.query_params.get("notice")
    return await _page(
        request, council, staff, portal, notice=notice if notice in ("saved", "removed") else None
    )


@router.post("/t/{tenant}/staff/team", response_class=HTMLResponse, include_in_schema=False)
async def save_member(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Add an account (its password is shown once) or change one's role and panels."""
    _manages(staff)
    username, role, panels = _form(await request.form())
    known = await _panel_names(portal, council.tenant)
    errors: dict[str, str] = {}
    if role not in ROLES:
        errors["role"] = N_("Choose a role.")
    if not set(panels) <= set(known):
        errors["panels"] = N_("Choose among the council's panels.")
    if accounts.normalise_username(username) == staff.account.username:
        errors["username"] = N_("Your own access is changed by another manager.")
    created: str | None = None
    if not errors:
        try:
            account, created = await accounts.set_access(
                portal.db, username, council.tenant, role, panels
            )
        except accounts.AccountTaken:
            errors["username"] = N_("This username is taken.")
        except accounts.InvalidAccount:
            errors["username"] = N_("Use 2 to 64 letters, digits and . _ @ - for the username.")
    if errors:
        values = {"username": username, "role": role, "panels": list(panels)}
        return await _page(request, council, staff, portal, 400, values=values, errors=errors)
    if created is None:
        return RedirectResponse(f"/t/{council.tenant}/staff/team?notice=saved", 303)
    # Shown once, on this page only: not in a redirect, not stored anywhere in clear.
    return await _page(request, council, staff, portal, new_account=account, password=created)


@router.post("/t/{tenant}/staff/team/remove", response_class=HTMLResponse, include_in_schema=False)
async def remove_member(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Remove one of the council's accounts (not one's own)."""
    _manages(staff)
    username = accounts.normalise_username(str((await request.form()).get("username") or ""))
    if username == staff.account.username:
        raise HTTPException(status_code=400, detail="you cannot remove your own account")
    if not await accounts.remove_account(portal.db, username, council.tenant):
        raise HTTPException(status_code=404, detail="no such account")
    return RedirectResponse(f"/t/{council.tenant}/staff/team?notice=removed", 303)


# -- one's own password ----------------------------------------------------------------------


@router.get("/t/{tenant}/staff/password", response_class=HTMLResponse, include_in_schema=False)
async def password_page(request: Request, council: CouncilDep, staff: StaffDep) -> Response:
    """The form to change one's own password."""
    notice = "saved" if request.query_params.get("notice") == "saved" else None
    return render(request, "staff_password.html", council=council, staff=staff, notice=notice)


@router.post("/t/{tenant}/staff/password", response_class=HTMLResponse, include_in_schema=False)
async def change_password(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Change one's own password; the account's other sessions end."""
    form = await request.form()
    current, new = str(form.get("current") or ""), str(form.get("new") or "")
    errors: dict[str, str] = {}
    if new != str(form.get("repeat") or ""):
        errors["repeat"] = N_("The two new passwords differ.")
    elif len(new) < accounts.MIN_PASSWORD_LENGTH:
        errors["new"] = N_("Use at least 8 characters.")
    else:
        try:
            token = request.cookies.get(accounts.SESSION_COOKIE)
            if not await accounts.change_password(portal.db, staff.account, current, new, token):
                errors["current"] = N_("This is not your current password.")
        except accounts.AccountLocked:
            errors["current"] = N_("Too many wrong passwords. Try again later.")
    if errors:
        return render(
            request, "staff_password.html", 400, council=council, staff=staff, errors=errors
        )
    return RedirectResponse(f"/t/{council.tenant}/staff/password?notice=saved", 303)


# -- the API -----------------------------------------------------------------------------------


class TeamAccount(_Model):
    """One of the council's accounts."""

    username: str = Field(description="The username.")
    role: str = Field(description="panel_manager, staff, analyst or steering_group.")
    panels: list[str] = Field(description="The panels it works with; [] every one.")


class Team(_Model):
    """The council's accounts."""

    accounts: list[TeamAccount] = Field(description="By username.")


class AccessRequest(_Model):
    """An account's role and panels."""

    role: Literal["panel_manager", "staff", "analyst", "steering_group"] = Field(
        description="Its role."
    )
    panels: list[str] = Field(
        default_factory=list, max_length=20, description="The panels it works with; [] all."
    )


class AccessSet(TeamAccount):
    """The account as it now is; a new one's password, once."""

    password: str | None = Field(description="A new account's password (only now); else null.")


def _api_manages(staff: accounts.Session) -> None:
    if staff.account.role not in CONTACT_ROLES or staff.account.panels:
        raise ApiError(403, "your role does not manage the team")


@router.get("/api/t/{tenant}/team", response_model=Team, responses=STAFF_PROBLEMS, tags=["api"])
async def get_team(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> Team:
    """The council's staff accounts with their roles and panels."""
    _api_manages(staff)
    team = await accounts.council_accounts(portal.db, council.tenant)
    return Team(
        accounts=[
            TeamAccount(username=a.username, role=a.role, panels=list(a.panels)) for a in team
        ]
    )


@router.put(
    "/api/t/{tenant}/team/{username}",
    response_model=AccessSet,
    responses=STAFF_PROBLEMS,
    tags=["api"],
)
async def put_access(
    username: str,
    body: AccessRequest,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> AccessSet:
    """Give an account of the council its role and panels, creating it if new: a new
    account's password is in this reply only. Its sessions end."""
    _api_manages(staff)
    if accounts.normalise_username(username) == staff.account.username:
        raise ApiError(400, "your own access is changed by another manager")
    known = await _panel_names(portal, council.tenant)
    if not set(body.panels) <= set(known):
        raise ApiError(400, "invalid access", {"panels": "The council's panels only."})
    try:
        account, password = await accounts.set_access(
            portal.db, username, council.tenant, body.role, tuple(body.panels)
        )
    except accounts.AccountTaken:
        raise ApiError(409, "this username is taken") from None
    except accounts.InvalidAccount as exc:
        raise ApiError(400, "invalid access", {"username": str(exc)}) from None
    return AccessSet(
        username=account.username, role=account.role, panels=list(account.panels), password=password
    )


@router.delete(
    "/api/t/{tenant}/team/{username}", status_code=204, responses=STAFF_PROBLEMS, tags=["api"]
)
async def delete_account(
    username: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Remove one of the council's accounts (not one's own); its sessions end."""
    _api_manages(staff)
    if accounts.normalise_username(username) == staff.account.username:
        raise ApiError(400, "you cannot remove your own account")
    if not await accounts.remove_account(portal.db, username, council.tenant):
        raise ApiError(404, "no such account")
    return Response(status_code=204)
