"""The JSON API of a round's life cycle: edit, submit, approve or return (the steering group),
schedule, open now, move the closing, close now, publish the results, archive. Who may take
which step is ``round_steps``; ``GET /api/t/<council>/rounds/<id>`` shows the round's history,
schedule and reminders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import AwareDatetime, Field

from contracts.round_lifecycle import DEFAULT_REMINDER_DAYS, MAX_REMINDERS
from services.portal import round_steps
from services.portal.accounts import Session
from services.portal.api import (
    STAFF_PROBLEMS,
    Accepted,
    ApiError,
    Problem,
    RoundRequest,
    _Model,
    draft_of,
)
from services.portal.dependencies import CouncilDep, PortalDep, StaffPostDep
from services.portal.domain import TrimmedText
from services.portal.handlers import Portal, WrongState
from services.portal.round_steps import Details, NotYours

router = APIRouter(prefix="/api", tags=["api"])
Route = TypeVar("Route", bound=Callable[..., Any])

STEP_PROBLEMS: dict[int | str, dict[str, object]] = {
    **STAFF_PROBLEMS,
    403: {
        "model": Problem,
        "description": "CSRF token missing or wrong, or the account's role does not take this "
        "step (approving and returning are the steering group's; the other steps are not).",
    },
    409: {"model": Problem, "description": "The round is not in a state that allows this."},
}


class DecisionRequest(_Model):
    """The steering group's decision on the revision it read."""

    revision: int | None = Field(
        default=None, description="The round's revision read (GET); refused if edited since."
    )


class ReturnRequest(DecisionRequest):
    """The steering group returns a submitted round."""

    comment: TrimmedText = Field(
        min_length=1, max_length=2000, description="What to change before it is submitted again."
    )


class ScheduleRequest(_Model):
    """When the round opens and closes, and its reminders."""

    open_at: AwareDatetime | None = Field(
        default=None, description="When it opens (with its offset); null or past: at once."
    )
    close_at: AwareDatetime | None = Field(
        default=None, description="When it closes; null: 7 days after it opens."
    )
    reminder_days: list[int] = Field(
        default_factory=lambda: list(DEFAULT_REMINDER_DAYS),
        max_length=MAX_REMINDERS,
        description="Days after opening to remind who has not answered, e.g. [3, 6].",
    )


class ExtendRequest(_Model):
    """The round's new closing time."""

    close_at: AwareDatetime = Field(description="When it closes now (with its offset).")


async def _take(
    portal: Portal,
    tenant: str,
    round_id: str,
    step: str,
    staff: Session,
    details: Details | None = None,
) -> Accepted:
    try:
        message_id = await round_steps.take(portal, tenant, round_id, step, staff.account, details)
    except NotYours as exc:
        raise ApiError(403, str(exc)) from exc
    except WrongState as exc:
        raise ApiError(409, f"the round is {exc.state}") from exc
    if message_id is None:
        raise ApiError(404, "unknown round")
    outcome = (await portal.settle(message_id)).outcome
    return Accepted(message_id=message_id, status=outcome.status, reason=outcome.reason)


def _step(path: str) -> Callable[[Route], Route]:
    """The route of one step: ``POST /api/t/<council>/rounds/<id>/<path>``, 202 Accepted."""
    return router.post(
        f"/t/{{tenant}}/rounds/{{round_id}}/{path}",
        status_code=202,
        response_model=Accepted,
        responses=STEP_PROBLEMS,
    )


@router.put(
    "/t/{tenant}/rounds/{round_id}",
    status_code=202,
    response_model=Accepted,
    responses=STEP_PROBLEMS,
)
async def edit_round(
    round_id: str, body: RoundRequest, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Replace a round's title, purpose, questions, panel and target. A submitted, approved or
    scheduled round goes back to draft (recorded in its history); an open one is 409."""
    if not round_steps.may(staff.account, "edit"):
        raise ApiError(403, "your role may not edit rounds")
    draft = await draft_of(body, council.tenant, portal, staff)
    return await _take(portal, council.tenant, round_id, "edit", staff, Details(draft=draft))


@_step("submit")
async def submit_round(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Submit a draft (or a returned round) to the steering group."""
    return await _take(portal, council.tenant, round_id, "submit", staff)


@_step("approve")
async def approve_round(
    round_id: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    body: DecisionRequest | None = None,
) -> Accepted:
    """The steering group approves a submitted round (the revision it read, if given)."""
    details = Details(revision=body.revision if body else None)
    return await _take(portal, council.tenant, round_id, "approve", staff, details)


@_step("return")
async def return_round(
    round_id: str, body: ReturnRequest, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """The steering group returns a submitted round to its author, with a comment."""
    details = Details(comment=body.comment, revision=body.revision)
    return await _take(portal, council.tenant, round_id, "return", staff, details)


@_step("schedule")
async def schedule_round(
    round_id: str,
    council: CouncilDep,
    portal: PortalDep,
    staff: StaffPostDep,
    body: ScheduleRequest | None = None,
) -> Accepted:
    """Schedule an approved round: it opens and closes by itself and reminds the members who
    have not answered (defaults: open at once, for 7 days, one reminder after 3 days)."""
    body = body or ScheduleRequest()
    now = datetime.now(UTC)
    times, errors = round_steps.check_times(
        body.open_at or now, body.close_at, tuple(body.reminder_days), now
    )
    if times is None:
        raise ApiError(400, "invalid schedule", errors)
    details = Details(
        open_at=times.open_at, close_at=times.close_at, reminder_days=times.reminder_days
    )
    return await _take(portal, council.tenant, round_id, "schedule", staff, details)


@_step("open")
async def open_round(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Open a scheduled round now (it opens by itself at its time): the panel is invited."""
    return await _take(portal, council.tenant, round_id, "open", staff)


@_step("extend")
async def extend_round(
    round_id: str, body: ExtendRequest, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Move a scheduled or open round's closing (later, or earlier but in the future)."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise ApiError(404, "unknown round")
    opens = view.schedule.open_at if view.schedule else datetime.now(UTC)
    if body.close_at <= max(opens, datetime.now(UTC)):
        raise ApiError(400, "invalid closing", {"close_at": "In the future, after the opening."})
    details = Details(close_at=body.close_at)
    return await _take(portal, council.tenant, round_id, "extend", staff, details)


@_step("close")
async def close_round(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Close an open round now (it closes by itself at its time)."""
    return await _take(portal, council.tenant, round_id, "close", staff)


@_step("publish")
async def publish_results(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Publish a closed round's results: the public results page lists it."""
    return await _take(portal, council.tenant, round_id, "publish", staff)


@_step("archive")
async def archive_round(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Accepted:
    """Archive a round whose results are published."""
    return await _take(portal, council.tenant, round_id, "archive", staff)
