"""The JSON API under ``/api``: the same use cases as the pages, for scripts and the e2e test.

Staff endpoints take the session cookie (set by ``POST /api/t/<tenant>/session`` or the login
page) and, on POST, the session's CSRF token in the ``X-CSRF-Token`` header. The login itself
takes only an ``application/json`` body, which other sites cannot make a browser send.
Commands answer 202 with the command's ``message_id``: they are applied asynchronously by
their owner.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.feedback import PublishedList
from contracts.languages import CheckedLanguages
from contracts.membership import MemberList
from contracts.panels import Connection
from contracts.personal_data import PersonalData
from contracts.questions import Answer
from contracts.recruitment import (
    PANEL_PATTERN,
    VIA_PATTERN,
    ErasureView,
    Gender,
    HeardFrom,
    Outcome,
    PanelHistory,
    PreferredChannel,
    Representativeness,
)
from contracts.rounds import (
    TAGS_PER_TEXT,
    TEXT_REF,
    AnswerTexts,
    InvitationView,
    Question,
    RoundList,
    RoundResults,
    RoundView,
    Target,
    TargetPreview,
)
from contracts.text import clean_line
from infra.queries import QueryFailed
from services.portal import audit, domain, round_steps, text_pages
from services.portal.accounts import SESSION_COOKIE, Session
from services.portal.dependencies import (
    CouncilDep,
    LanguageDep,
    PortalDep,
    StaffDep,
    StaffPostDep,
    client_address,
)
from services.portal.domain import OneLine, TrimmedText
from services.portal.handlers import Portal
from services.portal.panel_scope import (
    council_wide,
    figures_panel,
    member_in_scope,
    panel_filter,
    trimmed,
)

log = structlog.get_logger()
router = APIRouter(prefix="/api", tags=["api"])


class ApiError(Exception):
    """An API request that cannot be served as sent: answered as ``Problem`` JSON."""

    def __init__(self, status_code: int, detail: str, errors: dict[str, str] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors or {}


class _Model(BaseModel):
    # Text fields are TrimmedText: the whitespace around a text is dropped before its length is
    # checked, so a text of only spaces is refused with 422 like an empty one.
    model_config = ConfigDict(extra="forbid")


class Problem(_Model):
    """Why a request was refused."""

    detail: str = Field(description="What went wrong.")
    errors: dict[str, str] = Field(default_factory=dict, description="Message per wrong field.")


class Accepted(_Model):
    """A command was accepted; ``status`` says whether its owner has applied it yet."""

    message_id: str = Field(description="message_id of the command sent.")
    status: Literal["pending", "done", "refused"] = Field(
        default="pending",
        description="done: applied; refused: not applied (see reason); pending: not handled "
        "within the portal's wait, and will be.",
    )
    reason: str | None = Field(default=None, description="Why it was refused, as a short code.")


class SignUpRequest(_Model):
    """A resident's sign-up."""

    email: TrimmedText = Field(
        default="", max_length=254, description="E-mail address (this, a mobile number or both)."
    )
    phone: TrimmedText = Field(
        default="",
        max_length=32,
        description=(
            "Mobile number, E.164 or as the council's country writes it. Without an e-mail "
            "address, an SMS with a 6-digit code follows (``POST .../members/confirm-code``)."
        ),
    )
    birth_year: int = Field(description="Year of birth.")
    gender: Gender = Field(description="Gender, or undisclosed.")
    district: TrimmedText = Field(
        min_length=1, max_length=200, description="District of residence."
    )
    consent: bool = Field(description="The resident consents to the consent text (required).")
    locale: Literal["sv", "en"] | None = Field(
        default=None, description="Preferred language; the request's language if omitted."
    )
    heard_from: HeardFrom = Field(
        default="", description="Where the resident heard of the panel (optional)."
    )
    works_for_council: bool | None = Field(
        default=None, description="Whether the resident works for the council (optional)."
    )
    connection: Connection = Field(
        default="resident",
        description="How the resident is connected to the council (see GET .../panel: the "
        "connections the panel takes).",
    )
    topics: list[str] = Field(
        default_factory=list, max_length=30, description="Topics of the panel's to follow."
    )
    channel: PreferredChannel = Field(
        default="email",
        description=(
            "How round invitations and other panel messages reach the resident who gives both "
            "an e-mail address and a mobile number: email, or sms where the panel offers SMS "
            "(see GET .../panel: channels)."
        ),
    )
    via: str = Field(
        default="",
        pattern=VIA_PATTERN,
        description="The open campaign (or 'friend') whose link brought the resident.",
    )
    panel: str = Field(
        default="general",
        pattern=PANEL_PATTERN,
        description="The council's panel to join (see GET /api/t/<council>/panels).",
    )


class SignUpAccepted(Accepted):
    """The sign-up was sent; a confirmation mail (or, for a mobile number alone, an SMS with a
    code) follows."""

    member_id: str = Field(description="Id of the new (pending) member.")
    confirm_by: Literal["link", "code"] = Field(
        default="link",
        description="link: follow the link in the mail; code: send the SMS's code.",
    )


class ConfirmRequest(_Model):
    """The token from the confirmation link."""

    token: TrimmedText = Field(max_length=200, description="Token from the link.")


class OutcomeReply(_Model):
    """How a command the caller waits on went."""

    message_id: str | None = Field(description="message_id of the command, if one was sent.")
    status: Literal["pending", "done", "refused"] = Field(description="The outcome.")
    reason: str | None = Field(default=None, description="Why it was refused.")


class AnswerRequest(_Model):
    """Answers to a round, by question key."""

    answers: dict[str, Answer] = Field(
        max_length=50,
        description="Answer per question key in the form its kind takes (option text, list "
        "of options, number, yes/no, text, ranking, pins); empty skips the question.",
    )


class SessionRequest(_Model):
    """Staff credentials."""

    username: str = Field(max_length=100)
    password: str = Field(max_length=1000)


class SessionReply(_Model):
    """A staff session was opened; the cookie is set."""

    username: str = Field(description="The account.")
    tenant: str | None = Field(description="The account's council; None for region admins.")
    role: str = Field(description="The account's role.")
    csrf_token: str = Field(description="Send in the X-CSRF-Token header on every POST.")
    expires_at: datetime = Field(description="When the session ends.")


class RoundRequest(CheckedLanguages, _Model):
    """A new round (``languages`` and ``translations`` as in ``CreateRound``)."""

    title: OneLine = Field(min_length=1, max_length=200, description="Title shown to residents.")
    purpose: TrimmedText = Field(
        min_length=1, max_length=2000, description="What answers are used for."
    )
    questions: list[Question] = Field(min_length=1, max_length=50, description="Questions.")
    panel: str = Field(
        default="general",
        pattern=PANEL_PATTERN,
        description="The council's panel the round asks (see GET .../panels).",
    )
    target: Target = Field(
        default_factory=Target,
        description="Whom of the panel it invites: a segment, a random sample, rest days.",
    )
    longitudinal: bool = Field(
        default=False,
        description="Link each member's answers across longitudinal rounds by a pseudonym.",
    )
    public: bool = Field(
        default=False,
        description="An open quick poll: anyone answers at /t/<council>/polls/<round id>.",
    )


class RoundAccepted(Accepted):
    """The round is being created."""

    round_id: str = Field(description="Id of the new round.")


class FeedbackRequest(_Model):
    """The council's feedback on a closed round."""

    text: TrimmedText = Field(min_length=1, max_length=domain.FEEDBACK_MAX, description="Feedback.")


def _outcome(response: Response, message_id: str | None, outcome: Outcome) -> OutcomeReply:
    if outcome.status == "done":
        response.status_code = 200
    elif outcome.status == "pending":
        response.status_code = 202
    elif outcome.reason in ("unknown_token", "unknown_invitation", "invalid_code"):
        response.status_code = 404
    else:
        response.status_code = 409
    return OutcomeReply(message_id=message_id, status=outcome.status, reason=outcome.reason)


PROBLEMS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "Invalid request."},
    404: {"model": Problem, "description": "Unknown council or resource."},
    429: {"model": Problem, "description": "Too many requests from this address."},
    503: {"model": Problem, "description": "A back-end service is unavailable."},
}
STAFF_PROBLEMS: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    401: {"model": Problem, "description": "No staff session for this council."},
    403: {"model": Problem, "description": "CSRF token missing or wrong."},
}


# -- residents -----------------------------------------------------------------------------


@router.post(
    "/t/{tenant}/members", status_code=202, response_model=SignUpAccepted, responses=PROBLEMS
)
async def sign_up(
    body: SignUpRequest,
    request: Request,
    council: CouncilDep,
    portal: PortalDep,
    lang: LanguageDep,
) -> SignUpAccepted:
    """Sign a resident up to the council's panel (double opt-in: a mail with a link follows,
    or, for a mobile number without an e-mail address, an SMS with a 6-digit code)."""
    await portal.check_rate("join", client_address(request))
    valid, errors = domain.check_sign_up(
        email=body.email,
        phone=body.phone,
        country=council.country,
        birth_year=str(body.birth_year),
        gender=body.gender,
        district=body.district,
        consent=body.consent,
        this_year=datetime.now(UTC).year,
        districts=council.districts,
        heard_from=body.heard_from,
        works_for_council={True: "yes", False: "no", None: ""}[body.works_for_council],
    )
    try:
        panel = await portal.panel_for_residents(council.tenant, body.panel)
    except QueryFailed:
        raise ApiError(404, "no such panel") from None
    if body.connection not in panel.settings.connections:
        errors["connection"] = "The panel does not take members connected this way."
    if not set(body.topics) <= set(panel.settings.topics):
        errors["topics"] = "A topic the panel does not offer."
    if body.email and "email" not in panel.settings.channels:
        errors["email"] = "The panel takes part by SMS: give a mobile number instead."
    elif not body.email and "sms" not in panel.settings.channels:
        errors["phone"] = "The panel takes part by e-mail: give an e-mail address."
    channel, channel_error = domain.check_channel(
        body.channel, phone=body.phone, offered=panel.settings.channels
    )
    if channel_error:
        errors["channel"] = channel_error
    age = datetime.now(UTC).year - body.birth_year
    if age < panel.settings.min_age:
        errors["birth_year"] = f"The panel takes members from {panel.settings.min_age} years."
    elif panel.settings.max_age is not None and age > panel.settings.max_age:
        errors["birth_year"] = f"The panel takes members up to {panel.settings.max_age} years."
    if panel.settings.districts and valid and valid.district not in panel.settings.districts:
        errors["district"] = "The panel takes members from other districts."
    if valid is None or errors:
        raise ApiError(400, "invalid sign-up", errors)
    valid = dataclasses.replace(
        valid, connection=body.connection, topics=tuple(body.topics), via=body.via, channel=channel
    )
    if valid.phone:
        await portal.check_rate("number", valid.phone)
    command, settled = await portal.sign_up(
        council.tenant, valid, body.locale or lang, panel.consent_version, panel.panel
    )
    return SignUpAccepted(
        message_id=command.message_id,
        member_id=command.member_id,
        confirm_by="code" if valid.by_code else "link",
        status=settled.outcome.status,
        reason=settled.outcome.reason,
    )


@router.post(
    "/t/{tenant}/members/confirm",
    response_model=OutcomeReply,
    responses={
        **PROBLEMS,
        202: {"model": OutcomeReply, "description": "Still being processed."},
        409: {"model": OutcomeReply, "description": "The link was already used."},
    },
)
async def confirm_membership(
    body: ConfirmRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
) -> OutcomeReply:
    """Confirm a membership with the token from the mail; 200 done, 404 unknown, 409 used."""
    await portal.check_rate("confirm", client_address(request))
    settled = await portal.confirm(council.tenant, body.token)
    return _outcome(response, settled.message_id or None, settled.outcome)


@router.get("/t/{tenant}/invitations/{token}", response_model=InvitationView, responses=PROBLEMS)
async def invitation(
    token: str, request: Request, council: CouncilDep, portal: PortalDep
) -> InvitationView:
    """What a personal answer link shows: the round and whether it can still be answered."""
    await portal.check_rate("answer", client_address(request))
    view = await portal.invitation(council.tenant, token)
    if view is None:
        raise ApiError(404, "unknown link")
    return view


@router.post(
    "/t/{tenant}/invitations/{token}/response",
    response_model=OutcomeReply,
    responses={
        **PROBLEMS,
        202: {"model": OutcomeReply, "description": "Still being processed."},
        409: {"model": OutcomeReply, "description": "Already answered, or the round closed."},
    },
)
async def respond(
    token: str,
    body: AnswerRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
) -> OutcomeReply:
    """Answer a round through a personal link: 200 done, 409 already answered, 404 unknown."""
    await portal.check_rate("answer", client_address(request))
    view = await portal.invitation(council.tenant, token)
    if view is None:
        response.status_code = 404
        return OutcomeReply(message_id=None, status="refused", reason="unknown_token")
    if view.status != "open":
        response.status_code = 409
        reason = "already_answered" if view.status == "answered" else "round_closed"
        return OutcomeReply(message_id=None, status="refused", reason=reason)
    answers, errors = domain.check_answers(view.questions, body.answers)
    if errors:
        raise ApiError(400, "invalid answers", errors)
    settled = await portal.answer(council.tenant, token, answers)
    return _outcome(response, settled.message_id, settled.outcome)


@router.get("/t/{tenant}/published", response_model=PublishedList, responses=PROBLEMS)
async def published(council: CouncilDep, portal: PortalDep) -> PublishedList:
    """The council's rounds whose results are published (with the council's feedback, once
    published), newest first."""
    return await portal.published(council.tenant)


# -- staff ---------------------------------------------------------------------------------


async def json_only(request: Request) -> None:
    """Refuse a body that is not JSON before anything reads it (login CSRF, see below)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    main, _, sub = kind.partition("/")
    if main != "application" or not (sub == "json" or sub.endswith("+json")):
        raise ApiError(415, "send the credentials as application/json")


@router.post(
    "/t/{tenant}/session",
    response_model=SessionReply,
    dependencies=[Depends(json_only)],
    responses={
        **PROBLEMS,
        401: {"model": Problem, "description": "Wrong credentials."},
        415: {"model": Problem, "description": "The body is not application/json."},
    },
)
async def open_session(
    body: SessionRequest,
    request: Request,
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
) -> SessionReply:
    """Sign a staff member in: sets the session cookie and returns the CSRF token.

    The body must be ``application/json`` (else 415): a browser sends that to another site
    only after a CORS preflight, which the portal never grants, so no other site can sign its
    visitors into an account of its choosing (login CSRF). The login pages use a form token.
    """
    await portal.check_rate("login", client_address(request))
    signed_in = await portal.sign_in(body.username, body.password, council.tenant)
    if signed_in is None:
        raise ApiError(401, "wrong username or password")
    token, session = signed_in
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.portal_session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.cookies_secure,
    )
    return SessionReply(
        username=session.account.username,
        tenant=session.account.tenant,
        role=session.account.role,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )


@router.delete("/t/{tenant}/session", status_code=204, responses=STAFF_PROBLEMS)
async def close_session(request: Request, portal: PortalDep, staff: StaffPostDep) -> Response:
    """Sign out: the session ends and the cookie is cleared."""
    await portal.sign_out(request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookies_secure,
    )
    return response


@router.get("/t/{tenant}/rounds", response_model=RoundList, responses=STAFF_PROBLEMS)
async def list_rounds(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> RoundList:
    """The council's rounds, newest first."""
    return await portal.rounds(council.tenant, staff.account.panels)


async def draft_of(
    body: RoundRequest, tenant: str, portal: Portal, staff: Session
) -> domain.RoundDraft:
    """A new or edited round from its request; 400 for questions that do not fit their kind
    or a panel that is not the council's (or the account's)."""
    errors = domain.check_questions(body.questions)
    if errors:
        raise ApiError(400, "invalid questions", errors)
    if not staff.account.sees_panel(body.panel) or body.panel not in {
        p.panel for p in (await portal.panels(tenant)).panels
    }:
        raise ApiError(400, "invalid round", {"panel": "One of the council's panels (yours)."})
    return domain.RoundDraft(
        title=body.title,
        purpose=body.purpose,
        questions=tuple(body.questions),
        panel=body.panel,
        target=body.target,
        longitudinal=body.longitudinal,
        public=body.public,
        languages=body.languages,
        translations=body.translations,
    )


@router.post(
    "/t/{tenant}/rounds", status_code=202, response_model=RoundAccepted, responses=STAFF_PROBLEMS
)
async def create_round(
    body: RoundRequest, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> RoundAccepted:
    """Draft a new round (it appears in the list once the rounds service has stored it)."""
    if not round_steps.may_draft(staff.account):
        raise ApiError(403, "your role does not draft rounds")
    draft = await draft_of(body, council.tenant, portal, staff)
    command = await portal.create_round(council.tenant, draft, staff.account.username)
    outcome = (await portal.settle(command.message_id)).outcome
    return RoundAccepted(
        message_id=command.message_id,
        round_id=command.round_id,
        status=outcome.status,
        reason=outcome.reason,
    )


@router.get("/t/{tenant}/rounds/{round_id}", response_model=RoundView, responses=STAFF_PROBLEMS)
async def get_round(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> RoundView:
    """One of the council's rounds."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise ApiError(404, "unknown round")
    return view


@router.get(
    "/t/{tenant}/rounds/{round_id}/preview",
    response_model=TargetPreview,
    responses=STAFF_PROBLEMS,
)
async def preview_round(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> TargetPreview:
    """How many members the round would invite if it opened now, and how many its rules
    leave out (paused, at the panel's most rounds per half-year, invited too recently)."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise ApiError(404, "unknown round")
    return await portal.preview_target(council.tenant, view.panel, view.target)


ACTION_PROBLEMS: dict[int | str, dict[str, object]] = {
    **STAFF_PROBLEMS,
    409: {"model": Problem, "description": "The round is not in a state that allows this."},
}


MEMBER_ID = Path(
    pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    description="The member's id (as in the council's import file or the member's export).",
)


@router.post(
    "/t/{tenant}/members/{member_id}/erasure",
    status_code=202,
    response_model=Accepted,
    responses=STAFF_PROBLEMS,
)
async def erase_member(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    member_id: Annotated[str, MEMBER_ID],
) -> Accepted:
    """Erase a member and everything every service holds about them (a resident's request
    by phone or letter). Responses name no one and stay. Recorded with the staff username."""
    if not await member_in_scope(portal, council.tenant, staff, member_id):
        raise ApiError(404, "unknown member")
    settled = await portal.erase_member(council.tenant, member_id, staff.account.username)
    if settled.outcome.reason == "unknown_member":
        raise ApiError(404, "unknown member")
    return Accepted(
        message_id=settled.message_id, status=settled.outcome.status, reason=settled.outcome.reason
    )


@router.get(
    "/t/{tenant}/members/{member_id}/erasure",
    response_model=ErasureView,
    responses=STAFF_PROBLEMS,
)
async def erasure(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    member_id: Annotated[str, MEMBER_ID],
) -> ErasureView:
    """Where an erasure stands: who asked, when, which services have forgotten the member."""
    if staff.account.panels:
        raise ApiError(404, "no erasure was asked for this member")  # the council's record
    view = await portal.erasure(council.tenant, member_id)
    if view is None:
        raise ApiError(404, "no erasure was asked for this member")
    return view


@router.put(
    "/t/{tenant}/population",
    status_code=202,
    response_model=Accepted,
    responses=STAFF_PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "district,age_band,gender,population\nKisa,16-29,female,412\n",
                }
            },
        }
    },
)
async def set_population(
    request: Request,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    source: Annotated[str, Query(min_length=1, max_length=120, description="E.g. SCB 2025.")],
) -> Accepted:
    """Replace the council's population figures from a CSV of official statistics
    (``district,age_band,gender,population``; comma or semicolon), against which the
    panel's representativeness is measured. Rows whose district or band does not fit the
    council are refused and listed with the figures."""
    council_wide(staff)
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid population file", {"file": "Not UTF-8 text."}) from None
    rows, errors = domain.parse_population_csv(text)
    label = clean_line(source)
    if not label:
        errors["source"] = "Name where the figures come from."
    if errors:
        raise ApiError(400, "invalid population file", errors)
    settled = await portal.set_population(council.tenant, label, rows)
    log.info("population figures set", username=staff.account.username, rows=len(rows))
    return Accepted(
        message_id=settled.message_id, status=settled.outcome.status, reason=settled.outcome.reason
    )


@router.get(
    "/t/{tenant}/representativeness",
    response_model=Representativeness,
    responses=STAFF_PROBLEMS,
)
async def representativeness(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    panel: Annotated[str, Query(max_length=40, description="One panel; '' every member.")] = "",
) -> Representativeness:
    """The active members (of one panel, against the population it draws from) compared
    with the population: shares and gaps by age band, gender and district, the index
    (100 × (1 − dissimilarity) over the crossed cells) and the groups to recruit next."""
    view = await portal.representativeness(council.tenant, figures_panel(staff, panel))
    if view is None:
        raise ApiError(404, "no population figures yet: PUT them to /population")
    return view


@router.get("/t/{tenant}/panel/history", response_model=PanelHistory, responses=STAFF_PROBLEMS)
async def panel_history(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    months: Annotated[int, Query(ge=1, le=120, description="How many months back.")] = 12,
) -> PanelHistory:
    """The panel month by month, oldest first: members who joined, members who left (or
    were erased), and the size at each month's end (the council's: not for an account
    limited to panels)."""
    council_wide(staff)
    return await portal.panel_history(council.tenant, months)


class MemberData(BaseModel):
    """Everything the services hold about one member, for the member (GDPR art. 15)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    member_id: str = Field(description="The member.")
    exported_on: str = Field(description="Day of the copy (YYYY-MM-DD).")
    services: list[PersonalData] = Field(description="Each service's records about the member.")


@router.get(
    "/t/{tenant}/members/{member_id}/data",
    response_model=MemberData,
    responses=STAFF_PROBLEMS,
)
async def member_data(
    response: Response,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    member_id: Annotated[str, MEMBER_ID],
) -> MemberData:
    """A copy of everything every service holds about a member, as one JSON file (a
    resident's access request by phone or letter). Their answers are not in it: they were
    stored without the member id. Each copy is logged with the staff username. Roles without
    access to contact details (see ``CONTACT_ROLES``) are refused."""
    if staff.account.role not in CONTACT_ROLES:
        raise ApiError(403, "your role does not see members' contact details")
    if not await member_in_scope(portal, council.tenant, staff, member_id):
        raise ApiError(404, "unknown member")
    services = await portal.member_data(council.tenant, member_id)
    if services is None:
        raise ApiError(404, "unknown member")
    log.info("member data copied", username=staff.account.username, tenant=council.tenant)
    response.headers["content-disposition"] = (
        f'attachment; filename="radslag-{council.tenant}-{member_id}.json"'
    )
    return MemberData(
        member_id=member_id,
        exported_on=datetime.now(UTC).date().isoformat(),
        services=services,
    )


@router.get(
    "/t/{tenant}/rounds/{round_id}/results", response_model=RoundResults, responses=STAFF_PROBLEMS
)
async def results(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> RoundResults:
    """A round's results, with breakdowns by age band and gender (small groups suppressed)."""
    view = await portal.results(
        council.tenant, round_id, staff.account.panels, council.display_name
    )
    if view is None:
        raise ApiError(404, "unknown round")
    return view


@router.get(
    "/t/{tenant}/rounds/{round_id}/questions/{question}/texts",
    response_model=AnswerTexts,
    responses=STAFF_PROBLEMS,
)
async def answer_texts(
    round_id: str,
    question: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    search: Annotated[str, Query(max_length=100)] = "",
    after: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    tag: Annotated[str, Query(max_length=40)] = "",
) -> AnswerTexts:
    """A page of a question's free-text answers (or map comments), optionally only those
    containing ``search`` or tagged ``tag``; follow ``next_after`` for the next page. Every
    tag of the question comes with its count."""
    if not re.fullmatch(r"[a-z0-9_]{1,40}", question):
        raise ApiError(404, "unknown question")
    page = await portal.answer_texts(
        council.tenant,
        round_id,
        question,
        staff.account.panels,
        search=clean_line(search),
        after=after,
        limit=limit,
        tag=clean_line(tag),
    )
    if page is None:
        raise ApiError(404, "unknown round or question")
    return page


class TagsRequest(_Model):
    """A written answer's tags from now on."""

    tags: list[str] = Field(
        max_length=TAGS_PER_TEXT, description="Its tags (at most 10 of 1-40 characters); [] none."
    )


@router.put(
    "/t/{tenant}/rounds/{round_id}/questions/{question}/texts/{ref}/tags",
    status_code=202,
    response_model=Accepted,
    responses=STAFF_PROBLEMS,
)
async def tag_answer_text(
    round_id: str,
    question: str,
    ref: Annotated[str, Path(pattern=TEXT_REF, description="The text's ref (from the texts).")],
    body: TagsRequest,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> Accepted:
    """Set the tags of one written answer (replacing those it had); the steering group
    cannot tag."""
    if not round_steps.may_tag(staff.account):
        raise ApiError(403, "your role does not tag answers")
    if not re.fullmatch(r"[a-z0-9_]{1,40}", question):
        raise ApiError(404, "unknown question")
    tags, problem = text_pages.parse_tags(",".join(t.replace(",", " ") for t in body.tags))
    if problem:
        raise ApiError(400, "invalid tags", {"tags": problem})
    if await portal.round(council.tenant, round_id, staff.account.panels) is None:
        raise ApiError(404, "unknown round")
    settled = await portal.tag_answer_text(
        council.tenant, round_id, question, ref, tags, staff.account.username
    )
    if settled.outcome.reason == "unknown_question":
        raise ApiError(404, "unknown question")
    return Accepted(
        message_id=settled.message_id,
        status=settled.outcome.status,
        reason=settled.outcome.reason,
    )


@router.post(
    "/t/{tenant}/rounds/{round_id}/feedback",
    status_code=202,
    response_model=Accepted,
    responses=ACTION_PROBLEMS,
)
async def publish_feedback(
    round_id: str,
    body: FeedbackRequest,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> Accepted:
    """Publish the council's feedback on a round whose results are published."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise ApiError(404, "unknown round")
    if view.state not in domain.RESULTS_PUBLIC:
        raise ApiError(409, f"the round is {view.state}; feedback follows its published results")
    text, errors = domain.check_feedback(body.text)
    if errors:
        raise ApiError(400, "invalid feedback", errors)
    settled = await portal.publish_feedback(council.tenant, round_id, text)
    return Accepted(
        message_id=settled.message_id,
        status=settled.outcome.status,
        reason=settled.outcome.reason,
    )


class AuditEntry(_Model):
    """One action of the council's staff."""

    at: datetime = Field(description="When (UTC).")
    username: str = Field(description="Who.")
    action: str = Field(description="What: the route's name, e.g. draw, erase_member.")
    target: dict[str, str] = Field(description="On what: round_id, campaign_id, member_id.")
    method: str = Field(description="HTTP method.")
    status: int = Field(description="HTTP status answered.")


@router.get("/t/{tenant}/audit", response_model=list[AuditEntry], responses=STAFF_PROBLEMS)
async def audit_trail(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")] = 200,
) -> list[AuditEntry]:
    """Who of the council's staff changed what, and who printed letters or copied a member's
    data, newest first (kept 400 days; not for an account limited to panels)."""
    council_wide(staff)
    return [
        AuditEntry(
            at=datetime.fromtimestamp(e["at_ms"] / 1000, UTC),
            username=e["username"],
            action=e["action"],
            target=e["target"],
            method=e["method"],
            status=e["status"],
        )
        for e in await audit.recent(portal.db, council.tenant, limit)
    ]


CONTACT_ROLES = frozenset({"staff", "panel_manager", "region_admin"})
"""Staff roles that may see members' contact details; others (e.g. ``analyst``) see members
only through the search, without them."""


@router.get("/t/{tenant}/members", response_model=MemberList, responses=STAFF_PROBLEMS)
async def search_members(
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffDep,
    state: Annotated[Literal["active", "pending", "paused", "any"], Query()] = "active",
    district: Annotated[str, Query(max_length=80)] = "",
    age_band: Annotated[str, Query(max_length=10)] = "",
    gender: Annotated[Literal["", "female", "male", "other", "undisclosed"], Query()] = "",
    member_id: Annotated[str, Query(max_length=36, description="An id or its beginning.")] = "",
    after: Annotated[str, Query(max_length=36, description="next_after of the last page.")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    panel: Annotated[str, Query(max_length=40, description="One panel's members.")] = "",
) -> MemberList:
    """The council's members by state, district, age band, gender and panel, without
    contact details (any staff role), a page at a time. An account limited to some panels
    sees their members only."""
    panels = panel_filter(staff, panel)
    found = await portal.search_members(
        council.tenant,
        state=state,
        district=district,
        age_band=age_band,
        gender=gender,
        member_id=member_id,
        after=after,
        limit=limit,
        panels=panels,
    )
    return trimmed(staff, found)
