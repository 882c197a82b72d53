"""The JSON API of invited recruitment: campaigns, their register extract, draw, letters and
refused rows for staff; the invitation code for the person invited.

The extract arrives as ``text/csv`` and is spooled to disk as it streams in, then read and sent
to recruitment in batches: a 1 000 000-row file is never in memory.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import date
from typing import IO, Annotated, Literal

import structlog
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from contracts.campaigns import (
    CAMPAIGN_ID_PATTERN,
    OPEN_CAMPAIGN_PATTERN,
    CampaignList,
    CampaignView,
    InvitedView,
    OpenCampaignList,
)
from services.portal.accounts import Session
from services.portal.api import (
    CONTACT_ROLES,
    PROBLEMS,
    STAFF_PROBLEMS,
    ApiError,
    OutcomeReply,
    _Model,
    _outcome,
)
from services.portal.dependencies import (
    CouncilDep,
    LanguageDep,
    PortalDep,
    StaffDep,
    StaffPostDep,
    client_address,
)
from services.portal.domain import OneLine
from services.portal.handlers import Portal
from services.portal.register_file import RegisterFileError

log = structlog.get_logger()
router = APIRouter(prefix="/api", tags=["api"])

REGISTER_MAX_BYTES = 512 * 1024 * 1024
"""Largest register extract taken (a 1 000 000-row file is about 90 MB)."""
SPOOL_IN_MEMORY = 1024 * 1024
"""An upload stays in memory up to this size, then goes to a temporary file."""

CAMPAIGN_ID = Path(pattern=CAMPAIGN_ID_PATTERN, description="The campaign's id.")
CampaignId = Annotated[str, CAMPAIGN_ID]
CODE = Path(min_length=8, max_length=100, description="The link's token, or the short code.")


class NewCampaign(_Model):
    """A campaign to start."""

    title: OneLine = Field(min_length=2, max_length=120, description="E.g. 'Spring letters'.")
    closes_on: date = Field(description="Last day the invitation codes work.")
    exclude_drawn_months: int = Field(
        default=24, ge=0, le=120, description="Leave out people drawn in this many months."
    )
    panel: str = Field(
        default="general",
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="The council's panel those who redeem their invitation join.",
    )


class CampaignCreated(_Model):
    """The campaign was created; its register extract is PUT next."""

    campaign_id: str = Field(description="The new campaign's id.")
    message_id: str = Field(description="message_id of the command.")
    status: Literal["pending", "done", "refused"] = Field(description="The outcome.")


class RegisterSent(_Model):
    """The extract was read and sent to recruitment; it imports the batches in the background
    (see the campaign's ``batches_done``)."""

    batches: int = Field(description="Batches sent.")
    rows: int = Field(description="Rows sent (empty lines are not rows).")


class DrawRequest(_Model):
    """How to draw."""

    size: int = Field(ge=1, le=100_000, description="How many people to invite.")
    method: Literal["proportional", "boost"] = Field(
        default="proportional",
        description="proportional to the extract, or boost the strata the panel lacks.",
    )
    expected_response_pct: int = Field(
        default=15, ge=1, le=100, description="Share of those invited expected to join."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**53, description="Seed of an earlier draw, to reproduce it."
    )


class RedeemRequest(_Model):
    """The person invited joins with their e-mail address."""

    email: str = Field(max_length=254, description="E-mail address for the panel's mail.")
    consent: bool = Field(description="Consent to the panel's terms (must be true).")


async def spool(request: Request) -> tempfile.SpooledTemporaryFile[bytes]:
    """The request body, streamed into a temporary file (in memory while it is small)."""
    spooled: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (the caller closes it)
        max_size=SPOOL_IN_MEMORY
    )
    async for chunk in request.stream():
        spooled.write(chunk)
    spooled.seek(0)
    return spooled


async def campaign_or_404(
    portal: Portal, tenant: str, campaign_id: str, staff: Session
) -> CampaignView:
    """The council's campaign, of a panel this account works with; 404 otherwise."""
    view = await portal.campaign(tenant, campaign_id)
    if view is None or not staff.account.sees_panel(view.panel):
        raise ApiError(404, "unknown campaign")
    return view


def visible_campaigns(staff: Session, listing: CampaignList) -> CampaignList:
    """The campaigns of the panels this account works with."""
    mine = tuple(c for c in listing.campaigns if staff.account.sees_panel(c.panel))
    return listing.model_copy(update={"campaigns": mine})


async def send_register(
    portal: Portal, tenant: str, view: CampaignView, stream: IO[bytes]
) -> tuple[int, int]:
    """Send an extract to a campaign that can take one; ApiError otherwise."""
    if view.state != "importing" or view.batches_expected is not None:
        raise ApiError(409, "this campaign has its extract already: start a new campaign")
    try:
        return await portal.import_register(tenant, view.campaign_id, stream)
    except RegisterFileError as exc:
        raise ApiError(400, "invalid register file", {"file": str(exc)}) from None


@router.post(
    "/t/{tenant}/campaigns",
    status_code=201,
    response_model=CampaignCreated,
    responses=STAFF_PROBLEMS,
)
async def create_campaign(
    body: NewCampaign, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> CampaignCreated:
    """Start an invited-recruitment campaign. Its register extract is PUT next, then a
    sample drawn; the codes work until ``closes_on``, after which the extract is deleted."""
    if body.closes_on < date.today():
        raise ApiError(400, "invalid campaign", {"closes_on": "The last day has passed."})
    if not staff.account.sees_panel(body.panel):
        raise ApiError(404, "no such panel")
    campaign_id, settled = await portal.create_campaign(
        council.tenant,
        body.title,
        body.closes_on.isoformat(),
        body.exclude_drawn_months,
        body.panel,
    )
    if settled.outcome.status == "refused":
        raise ApiError(409, f"campaign refused: {settled.outcome.reason}")
    log.info("campaign created", username=staff.account.username, campaign=campaign_id)
    return CampaignCreated(
        campaign_id=campaign_id, message_id=settled.message_id, status=settled.outcome.status
    )


@router.get("/t/{tenant}/campaigns", response_model=CampaignList, responses=STAFF_PROBLEMS)
async def list_campaigns(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> CampaignList:
    """The council's campaigns (of the panels this account works with), newest first
    (without their strata)."""
    return visible_campaigns(staff, await portal.campaigns(council.tenant))


@router.get(
    "/t/{tenant}/campaigns/{campaign_id}", response_model=CampaignView, responses=STAFF_PROBLEMS
)
async def get_campaign(
    campaign_id: CampaignId, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> CampaignView:
    """A campaign: its import's progress, its draw (seed, method) and, per stratum, how many
    could be drawn, were drawn and joined (conversion)."""
    return await campaign_or_404(portal, council.tenant, campaign_id, staff)


@router.put(
    "/t/{tenant}/campaigns/{campaign_id}/register",
    status_code=202,
    response_model=RegisterSent,
    responses={**STAFF_PROBLEMS, 409: {"description": "The campaign has its extract already."}},
    max_body_size=REGISTER_MAX_BYTES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": (
                        "name,address,postcode,town,birth_year,gender,district,email,mobile\n"
                        "Anna Berg,Storgatan 1,590 40,Kisa,1961,K,Kisa,,\n"
                    ),
                }
            },
        }
    },
)
async def put_register(
    request: Request,
    campaign_id: CampaignId,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> RegisterSent:
    """The campaign's population-register extract, as CSV (UTF-8; comma, semicolon or tab;
    a header naming the columns ``name, address, birth_year, gender, district`` and
    optionally ``postcode, town, email, mobile``; Swedish names such as ``namn``, ``adress``,
    ``födelseår``, ``kön`` work too). Every row is checked by recruitment: see the campaign
    for the progress and ``rejections.csv`` for the rows refused and why. One extract per
    campaign."""
    view = await campaign_or_404(portal, council.tenant, campaign_id, staff)
    with await spool(request) as stream:
        batches, rows = await send_register(portal, council.tenant, view, stream)
    log.info("register extract received", username=staff.account.username, rows=rows)
    return RegisterSent(batches=batches, rows=rows)


async def rejection_lines(portal: Portal, tenant: str, campaign_id: str) -> AsyncIterator[str]:
    """The refused rows as CSV lines (row, reason), page by page."""
    yield "row,reason\r\n"
    async for row, reason in portal.register_rejections(tenant, campaign_id):
        out = io.StringIO()
        csv.writer(out).writerow([row, reason])
        yield out.getvalue()


@router.get(
    "/t/{tenant}/campaigns/{campaign_id}/rejections.csv",
    response_class=StreamingResponse,
    responses={**STAFF_PROBLEMS, 200: {"content": {"text/csv": {}}}},
)
async def rejections(
    campaign_id: CampaignId, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> StreamingResponse:
    """The extract's refused rows and the ones left out (already members, drawn recently):
    row number and reason, never the values."""
    await campaign_or_404(portal, council.tenant, campaign_id, staff)
    return StreamingResponse(
        rejection_lines(portal, council.tenant, campaign_id),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="rejected-{campaign_id}.csv"'},
    )


@router.post(
    "/t/{tenant}/campaigns/{campaign_id}/draw",
    response_model=OutcomeReply,
    responses={**STAFF_PROBLEMS, 409: {"description": "Refused: see reason."}},
)
async def draw(
    body: DrawRequest,
    response: Response,
    campaign_id: CampaignId,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> OutcomeReply:
    """Draw the campaign's sample once its extract is in: stratified by district × age band
    × gender, proportional or boosting the strata the panel lacks. The seed is recorded (see
    the campaign); the same seed on the same extract draws the same people. Refused:
    ``import_incomplete``, ``already_drawn``, ``campaign_closed``."""
    await campaign_or_404(portal, council.tenant, campaign_id, staff)
    settled = await portal.draw_sample(
        council.tenant, campaign_id, body.size, body.method, body.expected_response_pct, body.seed
    )
    log.info("sample drawn", username=staff.account.username, campaign=campaign_id)
    return _outcome(response, settled.message_id, settled.outcome)


@router.post(
    "/t/{tenant}/campaigns/{campaign_id}/close",
    response_model=OutcomeReply,
    responses=STAFF_PROBLEMS,
)
async def close(
    response: Response,
    campaign_id: CampaignId,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> OutcomeReply:
    """Close the campaign now: its codes stop working and its extract is deleted."""
    await campaign_or_404(portal, council.tenant, campaign_id, staff)
    settled = await portal.close_campaign(council.tenant, campaign_id)
    log.info("campaign closed", username=staff.account.username, campaign=campaign_id)
    return _outcome(response, settled.message_id, settled.outcome)


@router.get(
    "/t/{tenant}/campaigns/{campaign_id}/letters.pdf",
    response_class=Response,
    responses={**STAFF_PROBLEMS, 200: {"content": {"application/pdf": {}}}},
)
async def letters_pdf(
    campaign_id: CampaignId,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    lang: Annotated[Literal["sv", "en"], Query(description="The letters' language.")] = "sv",
) -> Response:
    """Every invitation letter of a drawn campaign as one print-ready PDF (A4, address for a
    window envelope, personal code and QR code). Each download is logged. Roles without access
    to contact details are refused: the letters hold names and addresses."""
    if staff.account.role not in CONTACT_ROLES:
        raise ApiError(403, "your role does not see names and addresses")
    await campaign_or_404(portal, council.tenant, campaign_id, staff)
    pdf = await portal.letters_pdf(council.tenant, campaign_id, lang)
    if pdf is None:
        raise ApiError(404, "no letters: the campaign is not drawn, or closed")
    log.info("letters printed", username=staff.account.username, campaign=campaign_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="letters-{campaign_id}.pdf"'},
    )


# -- the person invited ----------------------------------------------------------------------


@router.get("/t/{tenant}/invited/{code}", response_model=InvitedView, responses=PROBLEMS)
async def invited(
    request: Request,
    council: CouncilDep,
    portal: PortalDep,
    code: Annotated[str, CODE],
) -> InvitedView:
    """What an invitation code stands for (the register's details, to pre-fill the joining
    form). Rate limited per client: short codes must not be guessed."""
    await portal.check_rate("invited", client_address(request))
    view = await portal.invited(council.tenant, code)
    if view is None:
        raise ApiError(404, "unknown code")
    return view


@router.post("/t/{tenant}/invited/{code}", response_model=OutcomeReply, responses=PROBLEMS)
async def redeem(
    request: Request,
    body: RedeemRequest,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    lang: LanguageDep,
    code: Annotated[str, CODE],
) -> OutcomeReply:
    """Join the panel with an invitation. Refused: ``unknown_code`` (404), ``already_used``,
    ``expired``, ``invalid_email``."""
    await portal.check_rate("invited", client_address(request))
    if not body.consent:
        raise ApiError(400, "consent needed", {"consent": "Consent is needed to join."})
    settled = await portal.redeem(council.tenant, code, body.email, lang)
    outcome = settled.outcome
    if outcome.reason == "unknown_code":
        response.status_code = 404
        return OutcomeReply(message_id=settled.message_id, status="refused", reason=outcome.reason)
    return _outcome(response, settled.message_id, outcome)


class NewOpenCampaign(_Model):
    """An open campaign: a sign-up link of its own, for a set time, towards a target."""

    slug: str = Field(pattern=OPEN_CAMPAIGN_PATTERN, description="Its link's name (not 'friend').")
    title: OneLine = Field(min_length=2, max_length=120, description="Its title.")
    starts_on: date = Field(description="First day.")
    ends_on: date = Field(description="Last day.")
    target: int = Field(ge=1, le=1_000_000, description="Members to gain through it.")


@router.get("/t/{tenant}/open-campaigns", response_model=OpenCampaignList, responses=STAFF_PROBLEMS)
async def open_campaigns(
    council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> OpenCampaignList:
    """The tell-a-friend link and the open campaigns, each with the sign-ups and joins that
    came through its link (``/t/<council>/join?via=<slug>``)."""
    return await portal.open_campaigns(council.tenant)


@router.put(
    "/t/{tenant}/open-campaigns",
    response_model=OutcomeReply,
    responses={**STAFF_PROBLEMS, 409: {"description": "Refused: see reason."}},
)
async def start_open_campaign(
    body: NewOpenCampaign,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> OutcomeReply:
    """Start an open campaign, or change its title, dates and target (its counts stay).
    Refused: ``reserved_slug`` (friend), ``ends_before_it_starts``."""
    settled = await portal.start_open_campaign(
        council.tenant,
        body.slug,
        body.title,
        body.starts_on.isoformat(),
        body.ends_on.isoformat(),
        body.target,
    )
    return _outcome(response, settled.message_id, settled.outcome)
