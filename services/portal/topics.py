"""The topic backlog in the portal: committees' and departments' requests for a round, the
staff's decisions on them, and the round made of one; pages and the JSON API
(``contracts.topics`` has the life of a request, the rounds service keeps it).

Who does what: the steering group and the roles that draft rounds (panel manager, staff, and a
region admin acting for the council) put requests in, since committees reach the panel through
their politicians or through staff; every staff account of the council reads the backlog; only
the roles that draft rounds accept, decline and turn a request into a round. A council sees its
own requests only (the rounds service filters by tenant).
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, ValidationError

from contracts.topics import (
    AcceptTopic,
    DeclineTopic,
    GetTopic,
    ListTopics,
    PlanTopicRound,
    RequestTopic,
    TopicAsks,
    TopicList,
    TopicStatus,
    TopicView,
)
from services.portal import round_steps
from services.portal.accounts import Account, Session
from services.portal.api import STAFF_PROBLEMS, Accepted, ApiError, Problem, _Model
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.domain import TrimmedText, is_round_id
from services.portal.handlers import Portal
from services.portal.i18n import N_
from services.portal.rendering import render

STATUSES: Final = {
    "new": N_("New"),
    "accepted": N_("Accepted"),
    "planned": N_("Planned as a round"),
    "declined": N_("Declined"),
    "done": N_("Done"),
}
"""A request's statuses, with their labels."""
FIELDS: Final = ("title", "question", "decision", "needed_by", "asked_by", "contact")

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["api"])


def may_request(account: Account) -> bool:
    """Whether ``account`` may put requests in (the steering group and the drafting roles)."""
    return account.role == round_steps.STEERING_GROUP or round_steps.may_draft(account)


def may_decide(account: Account) -> bool:
    """Whether ``account`` accepts, declines and turns requests into rounds."""
    return round_steps.may_draft(account)


async def topic(portal: Portal, tenant: str, topic_id: str) -> TopicView | None:
    """One of the council's requests, or None."""
    if not is_round_id(topic_id):
        return None
    query = GetTopic(**portal._envelope(tenant), topic_id=topic_id)
    return await portal._ask(query, portal.gateway.get_topic)


async def listing(portal: Portal, tenant: str, status: str = "") -> TopicList:
    """The council's requests, newest first (of one status, if it is one)."""
    chosen: Any = status if status in STATUSES else None
    query = ListTopics(**portal._envelope(tenant), status=chosen)
    return await portal._ask(query, portal.gateway.list_topics)


def prefill(found: TopicView) -> dict[str, str]:
    """The round builder's values for a round made of a request: its title, its purpose from
    what they want to know, the promise's decision and date."""
    return {
        "title": found.title,
        "purpose": found.question,
        "decision": found.decision,
        "decided_on": found.needed_by,
        "topic": found.topic_id,
    }


async def prefill_for(portal: Portal, tenant: str, topic_id: str) -> dict[str, str]:
    """The builder's values for a round made of the council's request ``topic_id`` (404 for
    an unknown one)."""
    found = await topic(portal, tenant, topic_id)
    if found is None:
        raise HTTPException(status_code=404)
    return prefill(found)


async def link_round(
    portal: Portal, tenant: str, topic_id: str, round_id: str, account: Account
) -> str | None:
    """Link a round just drafted to the request it was made from; the message id, or None
    when there is no such request (or the account does not decide requests)."""
    if not topic_id or not may_decide(account) or await topic(portal, tenant, topic_id) is None:
        return None
    command = PlanTopicRound(
        **portal._envelope(tenant),
        topic_id=topic_id,
        round_id=round_id,
        planned_by=account.username,
    )
    return await portal._send(command, portal.gateway.plan_topic_round)


def _request(tenant: str, portal: Portal, values: dict[str, str], by: str) -> RequestTopic:
    return RequestTopic(
        **portal._envelope(tenant), topic_id=str(uuid.uuid4()), requested_by=by, **values
    )


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- pages ---------------------------------------------------------------------------------


@pages.get("/t/{tenant}/staff/topics", response_class=HTMLResponse)
async def topics_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The council's backlog of topic requests (``?status=``: of one status)."""
    status = request.query_params.get("status", "")
    return render(
        request,
        "staff_topics.html",
        council=council,
        staff=staff,
        topics=(await listing(portal, council.tenant, status)).topics,
        status=status if status in STATUSES else "",
        statuses=STATUSES,
        may_request=may_request(staff.account),
    )


def _new_page(request: Request, council: Any, staff: Session, **context: Any) -> Response:
    if not may_request(staff.account):
        raise HTTPException(status_code=403, detail="your role does not add topic requests")
    context.setdefault("values", {})
    context.setdefault("errors", {})
    status = 400 if context["errors"] else 200
    return render(request, "staff_topic_new.html", status, council=council, staff=staff, **context)


@pages.get("/t/{tenant}/staff/topics/new", response_class=HTMLResponse)
async def new_topic_form(request: Request, council: CouncilDep, staff: StaffDep) -> Response:
    """The form for a new topic request."""
    return _new_page(request, council, staff)


_ERRORS: Final = {
    "title": N_("Give the topic in at most 200 characters, on one line."),
    "question": N_("Say what you want to know, in at most 2000 characters."),
    "decision": N_("Name the decision in at most 500 characters."),
    "needed_by": N_("Give the date as YYYY-MM-DD, or leave it empty."),
    "asked_by": N_("Name the committee or department asking."),
    "contact": N_("Give a contact in at most 200 characters, on one line."),
}


@pages.post("/t/{tenant}/staff/topics/new", response_class=HTMLResponse)
async def new_topic(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Put a request into the backlog, then show it."""
    form = await request.form()
    values = {name: _field(form, name).strip() for name in FIELDS}
    if not may_request(staff.account):
        raise HTTPException(status_code=403, detail="your role does not add topic requests")
    try:
        command = _request(council.tenant, portal, values, staff.account.username)
    except ValidationError as exc:
        errors = {
            str(e["loc"][0]): _ERRORS[str(e["loc"][0])]
            for e in exc.errors()
            if e["loc"] and str(e["loc"][0]) in _ERRORS
        }
        return _new_page(request, council, staff, values=values, errors=errors)
    sent = await portal._send(command, portal.gateway.request_topic)
    await portal.settle(sent)
    return RedirectResponse(f"/t/{council.tenant}/staff/topics/{command.topic_id}", 303)


@pages.get("/t/{tenant}/staff/topics/{topic_id}", response_class=HTMLResponse)
async def topic_page(
    request: Request, topic_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """One request: what is asked, its status and decisions, and the round made of it."""
    found = await topic(portal, council.tenant, topic_id)
    if found is None:
        raise HTTPException(status_code=404)
    return render(
        request,
        "staff_topic.html",
        council=council,
        staff=staff,
        topic=found,
        statuses=STATUSES,
        may_decide=may_decide(staff.account),
        error=request.query_params.get("error") == "reason",
    )


async def _decide(
    portal: Portal, tenant: str, topic_id: str, account: Account, reason: str | None
) -> str:
    """Send an acceptance (``reason`` None) or a decline; 403/404 as exceptions."""
    if not may_decide(account):
        raise PermissionError
    if await topic(portal, tenant, topic_id) is None:
        raise LookupError(topic_id)
    ids = {**portal._envelope(tenant), "topic_id": topic_id, "decided_by": account.username}
    if reason is None:
        return await portal._send(AcceptTopic(**ids), portal.gateway.accept_topic)
    return await portal._send(DeclineTopic(**ids, reason=reason), portal.gateway.decline_topic)


async def _decide_page(
    council: Any, portal: Portal, staff: Session, topic_id: str, reason: str | None
) -> Response:
    try:
        sent = await _decide(portal, council.tenant, topic_id, staff.account, reason)
    except PermissionError:
        raise HTTPException(status_code=403, detail="your role does not decide requests") from None
    except LookupError:
        raise HTTPException(status_code=404) from None
    await portal.settle(sent)
    return RedirectResponse(f"/t/{council.tenant}/staff/topics/{topic_id}", 303)


@pages.post("/t/{tenant}/staff/topics/{topic_id}/accept")
async def accept_page(
    topic_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Accept the request: a round will be made of it."""
    return await _decide_page(council, portal, staff, topic_id, None)


@pages.post("/t/{tenant}/staff/topics/{topic_id}/decline")
async def decline_page(
    request: Request, topic_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Decline the request, with the reason the askers will read."""
    reason = _field(await request.form(), "reason").strip()
    if not 1 <= len(reason) <= 2000:
        if not may_decide(staff.account):
            raise HTTPException(status_code=403, detail="your role does not decide requests")
        return RedirectResponse(f"/t/{council.tenant}/staff/topics/{topic_id}?error=reason", 303)
    return await _decide_page(council, portal, staff, topic_id, reason)


# --- the JSON API --------------------------------------------------------------------------

TOPIC_PROBLEMS: dict[int | str, dict[str, object]] = {
    **STAFF_PROBLEMS,
    403: {
        "model": Problem,
        "description": "CSRF token missing or wrong, or the role does not take this step "
        "(the steering group adds requests; the drafting roles also decide them).",
    },
}


class TopicRequest(TopicAsks, _Model):
    """A topic request from a committee or department."""


class DeclineRequest(_Model):
    """Why a request is declined."""

    reason: TrimmedText = Field(min_length=1, max_length=2000, description="Why not.")


class RoundLink(_Model):
    """The round drafted from a request (``POST /api/t/<council>/rounds`` gave its id)."""

    round_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="The round.")


async def _accepted(portal: Portal, sent: str) -> Accepted:
    outcome = (await portal.settle(sent)).outcome
    return Accepted(message_id=sent, status=outcome.status, reason=outcome.reason)


@api.get("/t/{tenant}/topics", response_model=TopicList, responses=STAFF_PROBLEMS)
async def list_topics(
    council: CouncilDep, portal: PortalDep, staff: StaffDep, status: TopicStatus | None = None
) -> TopicList:
    """The council's topic requests, newest first (``?status=`` for one status)."""
    return await listing(portal, council.tenant, status or "")


@api.post("/t/{tenant}/topics", status_code=202, response_model=Accepted, responses=TOPIC_PROBLEMS)
async def request_topic(
    body: TopicRequest, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Put a topic request into the backlog (the steering group and the drafting roles); the
    new request's id is ``GET .../topics``' newest."""
    if not may_request(staff.account):
        raise ApiError(403, "your role does not add topic requests")
    command = _request(council.tenant, portal, body.model_dump(), staff.account.username)
    sent = await portal._send(command, portal.gateway.request_topic)
    return await _accepted(portal, sent)


@api.get("/t/{tenant}/topics/{topic_id}", response_model=TopicView, responses=STAFF_PROBLEMS)
async def get_topic(
    topic_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> TopicView:
    """One topic request, with the round made of it and that round's state."""
    found = await topic(portal, council.tenant, topic_id)
    if found is None:
        raise ApiError(404, "unknown topic request")
    return found


async def _api_decide(
    portal: Portal, tenant: str, topic_id: str, staff: Session, reason: str | None
) -> Accepted:
    try:
        sent = await _decide(portal, tenant, topic_id, staff.account, reason)
    except PermissionError as exc:
        raise ApiError(403, "your role does not decide topic requests") from exc
    except LookupError as exc:
        raise ApiError(404, "unknown topic request") from exc
    return await _accepted(portal, sent)


@api.post(
    "/t/{tenant}/topics/{topic_id}/accept",
    status_code=202,
    response_model=Accepted,
    responses=TOPIC_PROBLEMS,
)
async def accept_topic(
    topic_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Accept a new (or declined) request."""
    return await _api_decide(portal, council.tenant, topic_id, staff, None)


@api.post(
    "/t/{tenant}/topics/{topic_id}/decline",
    status_code=202,
    response_model=Accepted,
    responses=TOPIC_PROBLEMS,
)
async def decline_topic(
    topic_id: str, body: DeclineRequest, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Decline a new or accepted request, with a reason."""
    return await _api_decide(portal, council.tenant, topic_id, staff, body.reason)


@api.post(
    "/t/{tenant}/topics/{topic_id}/round",
    status_code=202,
    response_model=Accepted,
    responses=TOPIC_PROBLEMS,
)
async def plan_round(
    topic_id: str, body: RoundLink, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Link a round drafted from the request: the request is planned, the round names it."""
    if not may_decide(staff.account):
        raise ApiError(403, "your role does not decide topic requests")
    sent = await link_round(portal, council.tenant, topic_id, body.round_id, staff.account)
    if sent is None:
        raise ApiError(404, "unknown topic request")
    return await _accepted(portal, sent)
