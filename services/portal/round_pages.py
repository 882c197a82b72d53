"""A round's staff page and the steps of its life cycle: edit, submit, approve or return (the
steering group), schedule (with reminders), open now, move the closing, close now, publish the
results, archive (``round_steps`` says who may take which step).

Each step is a form on the round's page that posts here; the answer redirects back to the page
with a notice once the rounds service has taken the step (or says it is being applied).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from contracts.rounds import RoundView
from contracts.text import clean_text
from infra.queries import QueryFailed
from services.portal import domain, pages, round_builder, round_steps
from services.portal.accounts import Session
from services.portal.dependencies import CouncilDep, PortalDep, StaffDep, StaffPostDep
from services.portal.handlers import Portal, WrongState
from services.portal.i18n import N_
from services.portal.pages import _field, _round_panels
from services.portal.rendering import render
from services.portal.round_steps import Details, NotYours

router = APIRouter(include_in_schema=False)

NOTICES = frozenset(
    {
        "created",
        "pending",
        "edited",
        "submitted",
        "approved",
        "returned",
        "scheduled",
        "extended",
        "open",
        "closed",
        "published",
        "archived",
    }
)
"""Notices a redirect may ask the round's page to show (anything else is ignored)."""


def _url(council: Any, round_id: str) -> str:
    return f"/t/{council.tenant}/staff/rounds/{round_id}"


async def _page(
    request: Request,
    council: Any,
    portal: Portal,
    staff: Session,
    view: RoundView,
    status: int = 200,
    **context: Any,
) -> Response:
    preview = None
    if view.state not in domain.AFTER_OPENING:
        with contextlib.suppress(QueryFailed):
            preview = await portal.preview_target(council.tenant, view.panel, view.target)
    returned = [s for s in view.history if s.step == "returned"]
    schedule = round_steps.schedule_defaults(datetime.now(UTC))
    if view.schedule is not None:
        schedule["close_at"] = round_steps.local_text(view.schedule.close_at)
    context.setdefault("values", schedule)
    minutes, advice = round_builder.advice(view.questions)
    poll_link = poll_qr = None
    if view.public:
        # The quick poll's link and QR code, to print on posters and share.
        poll_link = (
            f"{portal.settings.portal_url.rstrip('/')}/t/{council.tenant}/polls/{view.round_id}"
        )
        poll_qr = segno.make(poll_link, error="m").svg_data_uri(scale=4, border=2)
    return render(
        request,
        "staff_round.html",
        status,
        council=council,
        staff=staff,
        round=view,
        preview=preview,
        rate=domain.response_rate(view.invited, view.responded),
        steps=round_steps.steps_for(view, staff.account),
        step_labels=domain.ROUND_STEPS,
        return_comment=returned[-1].comment if returned and view.state == "returned" else None,
        minutes=minutes,
        advice=advice,
        checklist=[round_builder.CHECKLIST.get(m, m) for m in view.plan.missing()],
        poll_link=poll_link,
        poll_qr=poll_qr,
        **context,
    )


@router.get("/t/{tenant}/staff/rounds/{round_id}", response_class=HTMLResponse)
async def staff_round(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """One round: its state, schedule, reminders and history, and the steps the signed-in
    account may take now."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    asked = request.query_params.get("notice", "")
    notice = asked if asked in NOTICES else None
    if view is None:
        if notice == "pending" and domain.is_round_id(round_id):
            # Just created, not yet stored by the rounds service: look again shortly.
            return render(request, "staff_round_wait.html", 202, council=council, staff=staff)
        raise HTTPException(status_code=404)
    return await _page(request, council, portal, staff, view, notice=notice)


async def _take(
    council: Any,
    portal: Portal,
    staff: Session,
    round_id: str,
    step: str,
    details: Details | None = None,
) -> Response:
    url, account = _url(council, round_id), staff.account
    try:
        sent = await round_steps.take(portal, council.tenant, round_id, step, account, details)
    except NotYours:
        raise HTTPException(status_code=403, detail="your role does not take this step") from None
    except WrongState:
        return RedirectResponse(url, 303)  # done already (a second click): show it as it is
    if sent is None:
        raise HTTPException(status_code=404)
    expected = round_steps.STEPS[step].after
    view = await portal.wait_for_round(council.tenant, round_id, sent, expected)
    done = {"edit": "edited", "extend": "extended"}.get(step, expected)
    return RedirectResponse(f"{url}?notice={done if view is not None else 'pending'}", 303)


async def _step_view(
    council: Any, portal: Portal, staff: Session, round_id: str, step: str
) -> RoundView:
    """The round a form posted about, for its errors; 403 for a role that may not take the
    step, 404 for a round the account does not see."""
    if not round_steps.may(staff.account, step):
        raise HTTPException(status_code=403, detail="your role does not take this step")
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise HTTPException(status_code=404)
    return view


def _revision(form: FormData) -> int | None:
    text = _field(form, "revision")
    return int(text) if text.isdigit() else None


@router.post("/t/{tenant}/staff/rounds/{round_id}/submit")
async def submit(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Submit the draft to the steering group."""
    return await _take(council, portal, staff, round_id, "submit")


@router.post("/t/{tenant}/staff/rounds/{round_id}/approve")
async def approve(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """The steering group approves the submitted round (the revision its page showed)."""
    revision = _revision(await request.form())
    return await _take(council, portal, staff, round_id, "approve", Details(revision=revision))


@router.post("/t/{tenant}/staff/rounds/{round_id}/return", response_class=HTMLResponse)
async def return_round(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """The steering group returns the submitted round, saying what to change."""
    form = await request.form()
    comment = clean_text(_field(form, "comment"))
    if not 1 <= len(comment) <= 2000:
        view = await _step_view(council, portal, staff, round_id, "return")
        errors = {"comment": N_("Say what should change, in at most 2000 characters.")}
        values = {"comment": comment}
        return await _page(request, council, portal, staff, view, 400, errors=errors, values=values)
    details = Details(comment=comment, revision=_revision(form))
    return await _take(council, portal, staff, round_id, "return", details)


@router.post("/t/{tenant}/staff/rounds/{round_id}/schedule", response_class=HTMLResponse)
async def schedule(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Schedule the approved round: its opening, closing and reminders."""
    form = await request.form()
    values = {n: _field(form, n) for n in ("open_at", "close_at", "reminder_days")}
    times, errors = round_steps.check_schedule(
        values["open_at"], values["close_at"], values["reminder_days"], datetime.now(UTC)
    )
    if times is None:
        view = await _step_view(council, portal, staff, round_id, "schedule")
        return await _page(request, council, portal, staff, view, 400, errors=errors, values=values)
    details = Details(
        open_at=times.open_at, close_at=times.close_at, reminder_days=times.reminder_days
    )
    return await _take(council, portal, staff, round_id, "schedule", details)


@router.post("/t/{tenant}/staff/rounds/{round_id}/open")
async def open_now(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Open the scheduled round now instead of at its time: the panel is invited."""
    return await _take(council, portal, staff, round_id, "open")


@router.post("/t/{tenant}/staff/rounds/{round_id}/extend", response_class=HTMLResponse)
async def extend(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Move the round's closing (to extend it, or to close it earlier than planned)."""
    view = await _step_view(council, portal, staff, round_id, "extend")
    values = {"close_at": _field(await request.form(), "close_at")}
    closes, errors = round_steps.check_extension(values["close_at"], view, datetime.now(UTC))
    if closes is None:
        return await _page(request, council, portal, staff, view, 400, errors=errors, values=values)
    return await _take(council, portal, staff, round_id, "extend", Details(close_at=closes))


@router.post("/t/{tenant}/staff/rounds/{round_id}/close")
async def close_now(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Close the open round now: no more answers are taken."""
    return await _take(council, portal, staff, round_id, "close")


@router.post("/t/{tenant}/staff/rounds/{round_id}/publish")
async def publish(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Publish the closed round's results on the public results page."""
    return await _take(council, portal, staff, round_id, "publish")


@router.post("/t/{tenant}/staff/rounds/{round_id}/archive")
async def archive(
    round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Archive the round: its work is done."""
    return await _take(council, portal, staff, round_id, "archive")


# -- editing ---------------------------------------------------------------------------------


async def _edit_page(
    request: Request,
    council: Any,
    portal: Portal,
    staff: Session,
    view: RoundView,
    blocks: list[round_builder.Block],
    values: dict[str, Any],
    status: int = 200,
    **context: Any,
) -> Response:
    return pages._builder_page(
        request,
        council,
        staff,
        await _round_panels(portal, council.tenant, staff),
        blocks,
        values,
        status,
        editing=view,
        form_action=f"{_url(council, view.round_id)}/edit",
        **context,
    )


@router.get("/t/{tenant}/staff/rounds/{round_id}/edit", response_class=HTMLResponse)
async def edit_form(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round's form, filled in, for a round that may still be edited."""
    view = await _step_view(council, portal, staff, round_id, "edit")
    if view.state not in round_steps.STEPS["edit"].states:
        return RedirectResponse(_url(council, round_id), 303)
    target = view.target
    values: dict[str, Any] = round_builder.settings_values(view) | {
        "title": view.title,
        "purpose": view.purpose,
        "panel": view.panel,
        "age_bands": list(target.age_bands),
        "genders": list(target.genders),
        "districts": list(target.districts),
        "sample": str(target.sample or ""),
        "rest_days": str(target.rest_days or ""),
    }
    blocks = round_builder.blocks_from_questions(view.questions)
    return await _edit_page(request, council, portal, staff, view, blocks, values)


@router.post("/t/{tenant}/staff/rounds/{round_id}/edit", response_class=HTMLResponse)
async def edit(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Save the edited round (a submitted, approved or scheduled one goes back to draft)."""
    view = await _step_view(council, portal, staff, round_id, "edit")
    form = await request.form()
    panels = await _round_panels(portal, council.tenant, staff)
    draft, blocks, values, errors, changed = await pages.builder_form(
        form, council, panels, view.panel
    )
    if changed:
        return await _edit_page(request, council, portal, staff, view, blocks, values)
    if draft is None:
        return await _edit_page(
            request, council, portal, staff, view, blocks, values, 400, errors=errors
        )
    return await _take(council, portal, staff, round_id, "edit", Details(draft=draft))
