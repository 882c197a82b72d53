"""Open quick polls (``/t/<tenant>/polls``): anyone answers from a link or QR code, without
joining the panel, and is then invited to join it. Past polls stay listed with their results,
which say they are self-selected.

Abuse limits: one answer per browser and poll (a random cookie, only its hash leaves the
portal), answers from one browser spaced (rounds' ``POLL_SPACING_SECONDS``), and a rate limit
per address (scope ``poll``).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from contracts.recruitment import TenantView
from contracts.rounds import POLL_SPACING_SECONDS, PollView
from services.portal import domain, round_languages
from services.portal.dependencies import CouncilDep, PortalDep, client_address
from services.portal.handlers import Portal
from services.portal.rendering import render

router = APIRouter(include_in_schema=False)

BROWSER_COOKIE = "poll_browser"
BROWSER_COOKIE_DAYS = 365


def _browser(request: Request) -> tuple[str, str | None]:
    """The browser's hash, and a new cookie value to set if it had none (or a bad one)."""
    value = request.cookies.get(BROWSER_COOKIE, "")
    fresh = None
    if len(value) != 43 or not value.replace("-", "").replace("_", "").isalnum():
        value = fresh = secrets.token_urlsafe(32)
    return hashlib.sha256(value.encode()).hexdigest(), fresh


def _with_cookie(response: Response, request: Request, tenant: str, fresh: str | None) -> Response:
    if fresh is not None:
        response.set_cookie(
            BROWSER_COOKIE,
            fresh,
            max_age=BROWSER_COOKIE_DAYS * 86400,
            path=f"/t/{tenant}/polls",
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookies_secure,
        )
    return response


async def _poll(portal: Portal, tenant: str, round_id: str) -> PollView:
    poll = await portal.poll(tenant, round_id)
    if poll is None:
        raise HTTPException(status_code=404)
    return poll


@router.get("/t/{tenant}/polls", response_class=HTMLResponse)
async def polls(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The council's quick polls: those open now, and past ones with their results."""
    listed = (await portal.polls(council.tenant)).polls
    return render(
        request,
        "polls.html",
        council=council,
        open_polls=[p for p in listed if p.state == "open"],
        past_polls=[p for p in listed if p.state != "open"],
    )


async def _open_poll(
    request: Request, council: TenantView, portal: Portal, round_id: str
) -> tuple[PollView, PollView, dict[str, Any], Response | None]:
    """The poll, as shown in this visitor's language (the values posted stay the main
    language's), the language's template values, and the page to answer with when it is
    closed (else None)."""
    poll = await _poll(portal, council.tenant, round_id)
    localized, in_language = round_languages.shown(request, poll)
    if poll.state == "open":
        return poll, localized, in_language, None
    closed = render(
        request,
        "poll_status.html",
        410,
        council=council,
        poll=localized,
        status="closed",
        **in_language,
    )
    return poll, localized, in_language, closed


@router.get("/t/{tenant}/polls/{round_id}", response_class=HTMLResponse)
async def poll_form(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """A quick poll's questions (or, once it closed, a pointer to its results)."""
    _, localized, in_language, closed = await _open_poll(request, council, portal, round_id)
    if closed is not None:
        return closed
    _, fresh = _browser(request)
    page = render(
        request, "answer.html", council=council, invitation=localized, poll=localized, **in_language
    )
    return _with_cookie(page, request, council.tenant, fresh)


REFUSED = {
    "already_answered": (409, "answered"),
    "too_soon": (429, "too_soon"),
    "round_closed": (410, "closed"),
    "unknown_poll": (404, "closed"),
}


@router.post("/t/{tenant}/polls/{round_id}", response_class=HTMLResponse)
async def poll_answer(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """Take an answer to a quick poll, then thank and invite the respondent to join."""
    await portal.check_rate("poll", client_address(request))
    poll, localized, in_language, closed = await _open_poll(request, council, portal, round_id)
    if closed is not None:
        return closed
    browser, fresh = _browser(request)
    form = await request.form()
    raw = domain.answers_from_form(poll.questions, form)
    answers, errors = domain.check_answers(poll.questions, raw)
    if errors:
        page = render(
            request,
            "answer.html",
            400,
            council=council,
            invitation=localized,
            poll=localized,
            values=raw,
            errors=errors,
            **in_language,
        )
        return _with_cookie(page, request, council.tenant, fresh)
    outcome = (await portal.answer_poll(council.tenant, round_id, browser, answers)).outcome
    if outcome.status == "done":
        code, status = 200, "thanks"
    elif outcome.status == "pending":
        code, status = 202, "processing"
    else:
        code, status = REFUSED.get(outcome.reason or "", (422, "refused"))
    page = render(
        request,
        "poll_status.html",
        code,
        council=council,
        poll=localized,
        status=status,
        spacing=POLL_SPACING_SECONDS,
        **in_language,
    )
    return _with_cookie(page, request, council.tenant, fresh)


@router.get("/t/{tenant}/polls/{round_id}/results", response_class=HTMLResponse)
async def poll_results(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """A quick poll's results for everyone: shares per option, marked as self-selected."""
    poll = await _poll(portal, council.tenant, round_id)
    results = await portal.results(council.tenant, round_id)
    if results is None:
        raise HTTPException(status_code=404)
    return render(request, "poll_results.html", council=council, poll=poll, results=results)
