"""The methodology review in the portal: the panel manager asks for it on a draft, the
council's methodologist approves the method or asks for changes (per round and per question);
pages and the JSON API (``contracts.round_review`` has the rules, the rounds service applies them).

The reviewer's role is ``analyst``: the council's analysts are the ones who know survey method
(they already read every round and its results), a small council has no separate methodologist,
and one lent by the region gets an analyst account. Analysts take no other step and cannot edit
a round; managers (``round_steps.MANAGERS``) ask for the review but cannot decide it, so nobody
approves their own questionnaire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, StringConstraints

from contracts.envelope import Command
from contracts.round_review import ApproveMethod, AskChanges, AskReview
from contracts.rounds import RoundList, RoundView
from contracts.text import clean_text
from services.portal import round_steps
from services.portal.accounts import Account, Session
from services.portal.api import STAFF_PROBLEMS, Accepted, ApiError, Problem, _Model
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.domain import TrimmedText
from services.portal.handlers import Portal
from services.portal.pages import _field
from services.portal.rendering import render

REVIEWER: Final = "analyst"
"""The role that reviews rounds' methodology (see the module's docstring)."""
OPEN_STATES: Final = frozenset({"draft", "returned"})
"""A review is taken on a round its author holds."""

pages = APIRouter(include_in_schema=False)
Route = TypeVar("Route", bound=Callable[..., Any])
api = APIRouter(prefix="/api", tags=["api"])


class NotReviewable(Exception):
    """The round is not where the review step can be taken (409)."""


def may_ask(account: Account) -> bool:
    """Whether ``account`` may ask for a review (the roles that edit rounds)."""
    return round_steps.may_draft(account)


def may_review(account: Account) -> bool:
    """Whether ``account`` decides reviews."""
    return account.role == REVIEWER


def awaiting(rounds: RoundList) -> tuple[RoundView, ...]:
    """The rounds whose review is asked and not decided yet."""
    return tuple(
        r
        for r in rounds.rounds
        if r.review is not None and r.review.status == "asked" and r.state in OPEN_STATES
    )


def _check(view: RoundView, decide: bool) -> None:
    if view.state not in OPEN_STATES:
        raise NotReviewable(f"the round is {view.state}")
    asked = view.review is not None and view.review.status == "asked"
    if decide and not asked:
        raise NotReviewable("no methodology review is asked")


async def _send(portal: Portal, tenant: str, round_id: str, account: Account, **what: Any) -> str:
    """Send the review command for ``what['step']``; its message id. 403/404/409 as
    ``PermissionError``/``LookupError``/``NotReviewable``."""
    step = what.pop("step")
    allowed = may_ask(account) if step == "ask" else may_review(account)
    if not allowed:
        raise PermissionError(step)
    view = await portal.round(tenant, round_id, account.panels)
    if view is None:
        raise LookupError(round_id)
    _check(view, decide=step != "ask")
    ids = {**portal._envelope(tenant), "round_id": round_id}
    by = account.username
    gateway = portal.gateway
    command: Command
    if step == "ask":
        command = AskReview(**ids, asked_by=by, note=what.get("note", ""))
        return await portal._send(command, gateway.ask_review)
    revision = view.revision if what.get("revision") is None else what["revision"]
    if step == "approve":
        command = ApproveMethod(
            **ids, reviewed_by=by, comment=what.get("comment", ""), revision=revision
        )
        return await portal._send(command, gateway.approve_method)
    command = AskChanges(
        **ids,
        reviewed_by=by,
        comment=what["comment"],
        question_comments=what.get("question_comments") or {},
        revision=revision,
    )
    return await portal._send(command, gateway.ask_changes)


# --- pages ---------------------------------------------------------------------------------


@pages.get("/t/{tenant}/staff/reviews", response_class=HTMLResponse)
async def reviews_page(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The rounds waiting for a methodology review."""
    rounds = await portal.rounds(council.tenant, staff.account.panels)
    return render(
        request,
        "staff_reviews.html",
        council=council,
        staff=staff,
        rounds=awaiting(rounds),
        may_review=may_review(staff.account),
    )


async def _post(
    request: Request, council: Any, portal: Portal, staff: Session, round_id: str, **what: Any
) -> Response:
    url = f"/t/{council.tenant}/staff/rounds/{round_id}"
    try:
        sent = await _send(portal, council.tenant, round_id, staff.account, **what)
    except PermissionError:
        raise HTTPException(status_code=403, detail="your role does not take this step") from None
    except LookupError:
        raise HTTPException(status_code=404) from None
    except NotReviewable:
        return RedirectResponse(url, 303)  # decided already (a second click): show it
    outcome = (await portal.settle(sent)).outcome
    notice = "?notice=pending" if outcome.status == "pending" else ""
    return RedirectResponse(f"{url}{notice}#review", 303)


@pages.post("/t/{tenant}/staff/rounds/{round_id}/review/ask")
async def ask_page(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Ask for a methodology review of the draft, with a note for the reviewer."""
    note = clean_text(_field(await request.form(), "note"))[:2000]
    return await _post(request, council, portal, staff, round_id, step="ask", note=note)


def _revision(text: str) -> int | None:
    return int(text) if text.isdigit() else None


@pages.post("/t/{tenant}/staff/rounds/{round_id}/review/approve")
async def approve_page(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """The reviewer approves the method of the revision the page showed."""
    form = await request.form()
    return await _post(
        request,
        council,
        portal,
        staff,
        round_id,
        step="approve",
        comment=clean_text(_field(form, "comment"))[:2000],
        revision=_revision(_field(form, "revision")),
    )


@pages.post("/t/{tenant}/staff/rounds/{round_id}/review/changes", response_class=HTMLResponse)
async def changes_page(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """The reviewer asks for changes: a comment on the round, and on questions (``q_<key>``)."""
    form = await request.form()
    comment = clean_text(_field(form, "comment"))
    if not 1 <= len(comment) <= 2000:
        if not may_review(staff.account):
            raise HTTPException(status_code=403, detail="your role does not take this step")
        return RedirectResponse(
            f"/t/{council.tenant}/staff/rounds/{round_id}?review_error=comment#review", 303
        )
    questions = {
        str(key)[2:]: clean_text(str(value))[:1000]
        for key, value in form.multi_items()
        if str(key).startswith("q_") and clean_text(str(value))
    }
    return await _post(
        request,
        council,
        portal,
        staff,
        round_id,
        step="changes",
        comment=comment,
        question_comments=questions,
        revision=_revision(_field(form, "revision")),
    )


# --- the JSON API --------------------------------------------------------------------------

REVIEW_PROBLEMS: dict[int | str, dict[str, object]] = {
    **STAFF_PROBLEMS,
    403: {
        "model": Problem,
        "description": "CSRF token missing or wrong, or the role does not take this step "
        "(managers ask for a review; analysts decide it).",
    },
    409: {"model": Problem, "description": "The round is not where this step can be taken."},
}


class AskReviewRequest(_Model):
    """A request for a methodology review."""

    note: Annotated[TrimmedText, Field(max_length=2000)] = Field(
        default="", description="What the reviewer should look at in particular."
    )


class ApproveMethodRequest(_Model):
    """The reviewer's approval of the revision read."""

    comment: Annotated[TrimmedText, Field(max_length=2000)] = Field(
        default="", description="An optional remark."
    )
    revision: int | None = Field(
        default=None, description="The round's revision read (GET); refused if edited since."
    )


class AskChangesRequest(_Model):
    """The reviewer's request for changes."""

    comment: TrimmedText = Field(
        min_length=1, max_length=2000, description="What to change in the round, and why."
    )
    question_comments: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")],
        Annotated[TrimmedText, Field(max_length=1000)],
    ] = Field(default_factory=dict, max_length=50, description="Comments by question key.")
    revision: int | None = Field(
        default=None, description="The round's revision read (GET); refused if edited since."
    )


async def _api(portal: Portal, tenant: str, round_id: str, staff: Session, **what: Any) -> Accepted:
    try:
        sent = await _send(portal, tenant, round_id, staff.account, **what)
    except PermissionError as exc:
        raise ApiError(403, "your role does not take this review step") from exc
    except LookupError as exc:
        raise ApiError(404, "unknown round") from exc
    except NotReviewable as exc:
        raise ApiError(409, str(exc)) from exc
    outcome = (await portal.settle(sent)).outcome
    return Accepted(message_id=sent, status=outcome.status, reason=outcome.reason)


@api.get("/t/{tenant}/reviews", response_model=RoundList, responses=STAFF_PROBLEMS)
async def reviews(council: CouncilDep, portal: PortalDep, staff: StaffDep) -> RoundList:
    """The rounds waiting for a methodology review."""
    return RoundList(rounds=awaiting(await portal.rounds(council.tenant, staff.account.panels)))


def _route(path: str) -> Callable[[Route], Route]:
    return api.post(
        f"/t/{{tenant}}/rounds/{{round_id}}/review/{path}",
        status_code=202,
        response_model=Accepted,
        responses=REVIEW_PROBLEMS,
    )


@_route("ask")
async def ask_review(
    round_id: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    body: AskReviewRequest | None = None,
) -> Accepted:
    """Ask for a methodology review of a draft (or returned) round; until the method is
    approved for the revision submitted, the round cannot be submitted."""
    note = body.note if body else ""
    return await _api(portal, council.tenant, round_id, staff, step="ask", note=note)


@_route("approve")
async def approve_method(
    round_id: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    body: ApproveMethodRequest | None = None,
) -> Accepted:
    """The reviewer (an analyst) approves the round's method."""
    body = body or ApproveMethodRequest()
    return await _api(
        portal,
        council.tenant,
        round_id,
        staff,
        step="approve",
        comment=body.comment,
        revision=body.revision,
    )


@_route("changes")
async def ask_changes(
    round_id: str,
    body: AskChangesRequest,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
) -> Accepted:
    """The reviewer (an analyst) asks for changes, per round and optionally per question."""
    return await _api(
        portal,
        council.tenant,
        round_id,
        staff,
        step="changes",
        comment=body.comment,
        question_comments=dict(body.question_comments),
        revision=body.revision,
    )
