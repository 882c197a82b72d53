"""What routes need from each request: the portal, the council, the signed-in staff member."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from contracts.recruitment import TenantView
from services.portal.accounts import SESSION_COOKIE, Session
from services.portal.handlers import Portal

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class NotSignedIn(Exception):
    """No valid staff session for this council (or for the region pages when tenant is None).

    Pages redirect to the login page; the API answers 401.
    """

    def __init__(self, tenant: str | None, next_path: str) -> None:
        super().__init__("not signed in")
        self.tenant = tenant
        self.next_path = next_path

    @property
    def login_url(self) -> str:
        """The login page to send the visitor to, coming back here afterwards."""
        base = "/region/login" if self.tenant is None else f"/t/{self.tenant}/staff/login"
        return f"{base}?next={quote(self.next_path, safe='/')}"


# Dependencies are ``async`` even when they do not await: FastAPI runs plain functions in a
# worker thread, a hand-off that cost 7 % of the portal's CPU under load.


async def get_portal(request: Request) -> Portal:
    """The portal application of this app instance."""
    portal: Portal = request.app.state.portal
    return portal


PortalDep = Annotated[Portal, Depends(get_portal)]


async def language(request: Request) -> str:
    """The visitor's language (chosen by the edge middleware)."""
    return str(getattr(request.state, "lang", "sv"))


LanguageDep = Annotated[str, Depends(language)]


def client_address(request: Request) -> str:
    """The client's address, the key of the rate limits."""
    return request.client.host if request.client else "unknown"


async def get_council(tenant: str, portal: PortalDep) -> TenantView:
    """The council named in the path; 404 when there is no such council."""
    view = await portal.tenant(tenant)
    if view is None:
        raise HTTPException(status_code=404, detail="unknown council")
    return view


CouncilDep = Annotated[TenantView, Depends(get_council)]


async def get_staff(request: Request, council: CouncilDep, portal: PortalDep) -> Session:
    """The staff session valid for this council; another council's session is not."""
    session = await portal.session(request.cookies.get(SESSION_COOKIE))
    if session is None or not session.may_act_for(council.tenant):
        raise NotSignedIn(council.tenant, request.url.path)
    request.state.staff = session  # for the audit trail (``audit``)
    return session


StaffDep = Annotated[Session, Depends(get_staff)]


async def _check_csrf(request: Request, session: Session) -> None:
    candidate = request.headers.get(CSRF_HEADER)
    if candidate is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        candidate = value if isinstance(value, str) else None
    if not session.csrf_matches(candidate):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")


async def get_staff_post(request: Request, session: StaffDep) -> Session:
    """The staff session, for a POST that must also carry the session's CSRF token."""
    await _check_csrf(request, session)
    return session


StaffPostDep = Annotated[Session, Depends(get_staff_post)]


async def get_region_admin(request: Request, portal: PortalDep) -> Session:
    """A region admin's session, for the region pages."""
    session = await portal.session(request.cookies.get(SESSION_COOKIE))
    if session is None or not session.account.is_region_admin:
        raise NotSignedIn(None, request.url.path)
    return session


RegionAdminDep = Annotated[Session, Depends(get_region_admin)]


async def get_region_admin_post(request: Request, session: RegionAdminDep) -> Session:
    """A region admin's session, for a POST carrying its CSRF token."""
    await _check_csrf(request, session)
    return session


RegionAdminPostDep = Annotated[Session, Depends(get_region_admin_post)]
