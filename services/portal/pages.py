"""The HTML pages: thin routes that read a form, call the portal and render a template.

Every page works without JavaScript. Public pages live under ``/t/<tenant>/``, staff pages
under ``/t/<tenant>/staff/``, region admin pages under ``/region/``, developer pages under
``/dev/`` (only when DEVTOOLS_URL is set).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from contracts.bands import BAND_NAMES
from contracts.panels import GENERAL, PanelView
from contracts.recruitment import OPEN_CAMPAIGN_PATTERN, PANEL_PATTERN, Outcome
from contracts.rounds import InvitationView, Question, RoundView, Target
from infra.queries import QueryFailed
from services.portal import (
    builder_languages,
    domain,
    login_csrf,
    round_builder,
    round_languages,
    round_steps,
    round_templates,
    topics,
)
from services.portal.accounts import SESSION_COOKIE, Session
from services.portal.dependencies import (
    CouncilDep,
    LanguageDep,
    PortalDep,
    RegionAdminDep,
    RegionAdminPostDep,
    StaffDep,
    StaffPostDep,
    client_address,
)
from services.portal.handlers import DevtoolsUnavailable, Portal
from services.portal.i18n import N_
from services.portal.rendering import render
from services.portal.settings_pages import CONNECTIONS

log = structlog.get_logger()

router = APIRouter(include_in_schema=False)

_MAIL_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")

NOTICES = frozenset({"feedback", "logged_out"})
"""Notices a redirect may ask a page to show (anything else is ignored)."""


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _notice(request: Request) -> str | None:
    notice = request.query_params.get("notice", "")
    return notice if notice in NOTICES else None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- public pages --------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def councils(request: Request, portal: PortalDep) -> Response:
    """Every council on the installation."""
    return render(request, "index.html", tenants=await portal.tenants())


@router.get("/t/{tenant}/", response_class=HTMLResponse)
async def council_home(request: Request, council: CouncilDep) -> Response:
    """A council's public home: what the panel is, how to join, the results."""
    return render(request, "home.html", council=council)


def _panel_check(
    form: FormData, panel: PanelView, birth_year: str, year: int
) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """The sign-up's connection and topics as the panel offers them, and what does not fit
    the panel (too young, a connection it does not take)."""
    errors: dict[str, str] = {}
    connection = _field(form, "connection") or "resident"
    if connection not in panel.settings.connections:
        errors["connection"] = N_("Choose how you are connected to the council.")
    topics = tuple(t for t in form.getlist("topics") if t in panel.settings.topics)
    if birth_year.strip().isdigit() and year - int(birth_year) < panel.settings.min_age:
        errors["birth_year"] = N_("You are younger than this panel takes members.")
    oldest = panel.settings.max_age
    if birth_year.strip().isdigit() and oldest is not None and year - int(birth_year) > oldest:
        errors["birth_year"] = N_("You are older than this panel takes members.")
    district = " ".join(_field(form, "district").split())
    if panel.settings.districts and district and district not in panel.settings.districts:
        errors["district"] = N_("This panel takes members from other districts.")
    channels = panel.settings.channels
    if _field(form, "email") and "email" not in channels:
        errors["email"] = N_("This panel takes part by SMS: give a mobile number instead.")
    elif not _field(form, "email") and _field(form, "phone") and "sms" not in channels:
        errors["email"] = N_("This panel takes part by e-mail: give an e-mail address.")
    return connection, topics, errors


def _join_page(
    request: Request, council: Any, panel: PanelView, status: int = 200, **context: Any
) -> Response:
    return render(
        request,
        "join.html",
        status,
        council=council,
        panel=panel,
        connections=CONNECTIONS,
        min_age=panel.settings.min_age,
        **context,
    )


_VIA_RE = re.compile(OPEN_CAMPAIGN_PATTERN)


def _via(value: str | None) -> str:
    """An open campaign's (or the tell-a-friend) link name, if it is one."""
    return value if value and _VIA_RE.fullmatch(value) else ""


_PANEL_RE = re.compile(PANEL_PATTERN)


async def _resident_panel(portal: Portal, tenant: str, name: str | None) -> PanelView:
    """The panel a sign-up page is for (``?panel=``; the general one by default); 404 for a
    panel the council does not run."""
    if not name or name == GENERAL:
        return await portal.panel_for_residents(tenant)
    if not _PANEL_RE.fullmatch(name):
        raise HTTPException(status_code=404, detail="no such panel")
    try:
        return await portal.panel_for_residents(tenant, name)
    except QueryFailed:
        raise HTTPException(status_code=404, detail="no such panel") from None


@router.get("/t/{tenant}/join", response_class=HTMLResponse)
async def join_form(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The sign-up form, with the panel's consent text and questions, and the groups the
    panel especially needs."""
    panel = await _resident_panel(portal, council.tenant, request.query_params.get("panel"))
    return _join_page(
        request,
        council,
        panel,
        welcome=await portal.welcome_groups(council.tenant) if panel.panel == GENERAL else (),
        values={"via": _via(request.query_params.get("via"))},
    )


@router.post("/t/{tenant}/join", response_class=HTMLResponse)
async def join(
    request: Request, council: CouncilDep, portal: PortalDep, lang: LanguageDep
) -> Response:
    """Validate a sign-up and send it to recruitment; then ask the resident to check mail."""
    await portal.check_rate("join", client_address(request))
    form = await request.form()
    if _field(form, domain.HONEYPOT_FIELD):
        # A field no person sees was filled in: a bot. It is told what a person would be.
        portal.metrics.honeypot.inc()
        return _see_other(f"/t/{council.tenant}/join/sent")
    fields = (
        "email",
        "birth_year",
        "gender",
        "district",
        "heard_from",
        "works_for_council",
        "phone",
    )
    values = {name: _field(form, name) for name in fields}
    year = datetime.now(UTC).year
    panel = await _resident_panel(portal, council.tenant, _field(form, "panel"))
    sign_up, errors = domain.check_sign_up(
        **values,
        consent=_field(form, "consent") == "yes",
        this_year=year,
        districts=council.districts,
        country=council.country,
    )
    connection, topics, misfits = _panel_check(form, panel, values["birth_year"], year)
    channel, channel_error = domain.check_channel(
        _field(form, "channel"), phone=values["phone"], offered=panel.settings.channels
    )
    if channel_error:
        misfits["channel"] = channel_error
    errors = {**misfits, **errors}
    if sign_up is None or misfits:
        return _join_page(
            request,
            council,
            panel,
            400,
            values={
                **values,
                "consent": _field(form, "consent"),
                "channel": _field(form, "channel"),
                "connection": connection,
                "topics": list(topics),
                "via": _via(_field(form, "via")),
            },
            errors=errors,
        )
    sign_up = dataclasses.replace(
        sign_up,
        connection=connection,  # type: ignore[arg-type]
        topics=topics,
        via=_via(_field(form, "via")),
        channel=channel,
    )
    if sign_up.phone:
        await portal.check_rate("number", sign_up.phone)
    # The version of the text the page showed (one the panel knows; recruitment checks).
    shown = _field(form, "consent_version")
    version = (
        shown if shown in {v.version for v in panel.consent_versions} else panel.consent_version
    )
    await portal.sign_up(council.tenant, sign_up, lang, version, panel.panel)
    if sign_up.by_code:
        # The code page, with the number filled in: the resident types the code from the SMS.
        values = {"phone": sign_up.phone}
        return render(request, "join_code.html", council=council, values=values, sent=True)
    return _see_other(f"/t/{council.tenant}/join/sent")


@router.get("/t/{tenant}/join/sent", response_class=HTMLResponse)
async def join_sent(request: Request, council: CouncilDep) -> Response:
    """After signing up: check your e-mail."""
    return render(request, "join_sent.html", council=council)


@router.get("/t/{tenant}/join/confirm/{token}", response_class=HTMLResponse)
async def confirm_form(
    request: Request, token: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """The double opt-in link: a page showing what would be confirmed, with a button. Opening
    the link confirms nothing, so a mail scanner or link preview cannot use it up."""
    await portal.check_rate("confirm", client_address(request))
    sign_up = await portal.sign_up_view(council.tenant, token)
    if sign_up is None:
        unknown = Outcome(status="refused", reason="unknown_token")
        return render(request, "confirm.html", 404, council=council, outcome=unknown)
    return render(
        request,
        "confirm_ask.html",
        council=council,
        token=token,
        sign_up=sign_up,
        genders=domain.GENDERS,
    )


@router.post("/t/{tenant}/join/confirm/{token}", response_class=HTMLResponse)
async def confirm(request: Request, token: str, council: CouncilDep, portal: PortalDep) -> Response:
    """The button on the opt-in page: confirm the membership and say how it went."""
    await portal.check_rate("confirm", client_address(request))
    settled = await portal.confirm(council.tenant, token)
    outcome = settled.outcome
    status = {"done": 200, "pending": 202}.get(outcome.status)
    if status is None:
        status = 409 if outcome.reason == "already_used" else 404
    return render(request, "confirm.html", status, council=council, outcome=outcome)


@router.get("/t/{tenant}/leave/{token}", response_class=HTMLResponse)
async def leave_form(request: Request, token: str, council: CouncilDep) -> Response:
    """The link to leave, in every mail: a page with a button. Opening it changes nothing,
    so a mail scanner that follows links cannot make anyone leave."""
    if not domain.is_link_token(token):
        unknown = Outcome(status="refused", reason="unknown_token")
        return render(request, "leave.html", 404, council=council, token=token, outcome=unknown)
    return render(request, "leave.html", council=council, token=token, outcome=None)


@router.post("/t/{tenant}/leave/{token}", response_class=HTMLResponse)
async def leave(request: Request, token: str, council: CouncilDep, portal: PortalDep) -> Response:
    """The button: leave the panel (erased everywhere) and say how it went."""
    await portal.check_rate("confirm", client_address(request))
    outcome = (await portal.leave(council.tenant, token)).outcome
    status = {"done": 200, "pending": 202}.get(outcome.status, 404)
    return render(request, "leave.html", status, council=council, token=token, outcome=outcome)


@router.get("/t/{tenant}/a/{token}", response_class=HTMLResponse)
async def answer_form(
    request: Request, token: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """A personal answer link: the round's questions, or why they cannot be answered."""
    await portal.check_rate("answer", client_address(request))
    invitation = await portal.invitation(council.tenant, token)
    if invitation is None:
        return render(request, "answer_status.html", 404, council=council, status="unknown")
    # Shown in the round's language for this visitor; the values posted stay the main one's.
    localized, in_language = round_languages.shown(request, invitation)
    if invitation.status != "open" and not invitation.changeable:
        code = 409 if invitation.status == "answered" else 410
        return render(
            request,
            "answer_status.html",
            code,
            council=council,
            status=invitation.status,
            **in_language,
        )
    picked = _picked(invitation.questions, request.query_params.get("pick", ""))
    if picked is not None:
        # One click in the invitation: show the choice, send it only from the button (a mail
        # scanner following the link answers nothing).
        _, value = picked
        return render(
            request,
            "answer_pick.html",
            council=council,
            invitation=localized,
            question=localized.questions[0],
            value=value,
            **in_language,
        )
    # The answers saved so far (a draft), or given (a round whose answers may change).
    saved = invitation.model_dump(mode="json")["answers"]
    return render(
        request, "answer.html", council=council, invitation=localized, values=saved, **in_language
    )


def _picked(questions: tuple[Question, ...], pick: str) -> tuple[Question, str] | None:
    """The question and answer a one-click link names (``?pick=<n>``), if it names one."""
    if len(questions) != 1 or questions[0].kind not in ("single_choice", "yes_no"):
        return None
    values = questions[0].values()
    if not pick.isdigit() or not 1 <= int(pick) <= len(values):
        return None
    return questions[0], values[int(pick) - 1]


@router.post("/t/{tenant}/a/{token}/draft")
async def answer_draft(
    request: Request, token: str, council: CouncilDep, portal: PortalDep
) -> Response:
    """Keep the answers so far as the resident goes (the answer page's script posts here):
    204 kept, 404 unknown link, 409 no longer open."""
    await portal.check_rate("answer", client_address(request))
    invitation = await portal.invitation(council.tenant, token)
    if invitation is None:
        return Response(status_code=404)
    if invitation.status != "open":
        return Response(status_code=409)
    form = await request.form()
    raw = domain.answers_from_form(invitation.questions, form)
    saved = await portal.save_draft(council.tenant, token, raw)
    return Response(status_code=204 if saved.outcome.status != "refused" else 409)


@router.post("/t/{tenant}/a/{token}", response_class=HTMLResponse)
async def answer(request: Request, token: str, council: CouncilDep, portal: PortalDep) -> Response:
    """Validate and send a resident's answers, then thank them (or say why not)."""
    await portal.check_rate("answer", client_address(request))
    invitation = await portal.invitation(council.tenant, token)
    if invitation is None:
        return render(request, "answer_status.html", 404, council=council, status="unknown")
    localized, in_language = round_languages.shown(request, invitation)

    def status_page(code: int, status: str) -> Response:
        return render(
            request, "answer_status.html", code, council=council, status=status, **in_language
        )

    if invitation.status != "open" and not invitation.changeable:
        return status_page(409 if invitation.status == "answered" else 410, invitation.status)
    form = await request.form()
    raw = domain.answers_from_form(invitation.questions, form)
    if _field(form, "save") and invitation.status == "open":
        # Save and finish later: what fits is kept for this link, nothing is counted yet.
        saved = await portal.save_draft(council.tenant, token, raw)
        return status_page(
            200, "saved" if saved.outcome.status in ("done", "pending") else "refused"
        )
    answers, errors = domain.check_answers(invitation.questions, raw)
    if errors:
        return render(
            request,
            "answer.html",
            400,
            council=council,
            invitation=localized,
            values=raw,
            errors=errors,
            **in_language,
        )
    settled = await portal.answer(council.tenant, token, answers, _field(form, "via"))
    outcome = settled.outcome
    if outcome.status == "done":
        return status_page(200, "thanks")
    if outcome.status == "pending":
        return status_page(202, "processing")
    if outcome.reason == "already_answered":
        return status_page(409, "answered")
    if outcome.reason in ("unknown_token", "unknown_invitation"):
        return status_page(404, "unknown")
    if outcome.reason and "closed" in outcome.reason:
        return status_page(410, "closed")
    return status_page(422, "refused")


@router.get("/t/{tenant}/results", response_class=HTMLResponse)
async def public_results(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Published results: each round whose results are published, and what the council did
    with the answers."""
    published = await portal.published(council.tenant)
    return render(request, "results.html", council=council, rounds=published.rounds)


# -- staff sign-in -------------------------------------------------------------------------


def _set_session_cookie(response: Response, request: Request, token: str) -> None:
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


def _clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.cookies_secure,
    )


def _login_page(
    request: Request, portal: Portal, status_code: int = 200, **context: Any
) -> Response:
    """The login form with its hidden token, and the cookie it must come back with (the
    browser's nonce while it has one, so two open login tabs both work)."""
    secure = request.app.state.settings.cookies_secure
    nonce, token = login_csrf.issue(request, portal.login_form_key, secure)
    response = render(request, "login.html", status_code, login_token=token, **context)
    login_csrf.set_cookie(response, nonce, secure)
    return response


async def _login(
    request: Request, portal: Portal, tenant: str | None, template_context: dict[str, Any]
) -> Response:
    form = await request.form()
    prefix = "/region/" if tenant is None else f"/t/{tenant}/staff/"
    next_url = domain.safe_next(_field(form, "next"), prefix, prefix)
    secure = request.app.state.settings.cookies_secure
    nonce = login_csrf.nonce_of(request, secure)
    if not login_csrf.matches(portal.login_form_key, nonce, _field(form, login_csrf.FIELD)):
        # Not this browser's login page (another site's form, or a page open too long):
        # no password is checked and nothing is counted; a fresh form follows.
        log.info("login refused", reason="login form token")
        return _login_page(
            request,
            portal,
            403,
            values={"next": next_url},
            errors={"_form": N_("The sign-in form had expired. Please sign in again.")},
            **template_context,
        )
    await portal.check_rate("login", client_address(request))
    username = _field(form, "username")
    signed_in = await portal.sign_in(username, _field(form, "password"), tenant)
    if signed_in is None:
        return _login_page(
            request,
            portal,
            400,
            values={"username": username, "next": next_url},
            errors={"_form": N_("Wrong username or password.")},
            **template_context,
        )
    token, _ = signed_in
    response = _see_other(next_url)
    _set_session_cookie(response, request, token)
    login_csrf.clear_cookie(response, secure)
    return response


@router.get("/t/{tenant}/staff/login", response_class=HTMLResponse)
async def staff_login_form(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """The staff login page of a council."""
    prefix = f"/t/{council.tenant}/staff/"
    next_url = domain.safe_next(request.query_params.get("next"), prefix, prefix)
    return _login_page(
        request,
        portal,
        council=council,
        values={"next": next_url},
        action=f"/t/{council.tenant}/staff/login",
        notice=_notice(request),
    )


@router.post("/t/{tenant}/staff/login", response_class=HTMLResponse)
async def staff_login(request: Request, council: CouncilDep, portal: PortalDep) -> Response:
    """Check a council staff login; only that council's accounts and region admins get in."""
    return await _login(
        request,
        portal,
        council.tenant,
        {"council": council, "action": f"/t/{council.tenant}/staff/login"},
    )


@router.post("/t/{tenant}/staff/logout")
async def staff_logout(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """End the session."""
    await portal.sign_out(request.cookies.get(SESSION_COOKIE))
    response = _see_other(f"/t/{council.tenant}/staff/login?notice=logged_out")
    _clear_session_cookie(response, request)
    return response


# -- staff pages ---------------------------------------------------------------------------


@router.get("/t/{tenant}/staff/", response_class=HTMLResponse)
async def staff_rounds(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The council's rounds."""
    listing = await portal.rounds(council.tenant, staff.account.panels)
    return render(
        request,
        "staff_rounds.html",
        council=council,
        staff=staff,
        rounds=listing.rounds,
        may_draft=round_steps.may_draft(staff.account),
    )


def _target_of(form: FormData, council: Any) -> tuple[Target, dict[str, Any], dict[str, str]]:
    """Whom the new round invites, from the form: the segment's boxes, a sample size and
    rest days (both optional)."""
    bands = [b for b in form.getlist("age_bands") if b in BAND_NAMES]
    genders = [
        g for g in form.getlist("genders") if g in ("female", "male", "other", "undisclosed")
    ]
    districts = [d for d in form.getlist("districts") if d in council.districts]
    sample, rest = _field(form, "sample").strip(), _field(form, "rest_days").strip()
    values: dict[str, Any] = {
        "age_bands": bands,
        "genders": genders,
        "districts": districts,
        "sample": sample,
        "rest_days": rest,
    }
    errors: dict[str, str] = {}
    if sample and not (sample.isdigit() and 1 <= int(sample) <= 1_000_000):
        errors["sample"] = N_("Give the sample as a whole number of members, or leave it empty.")
    if rest and not (rest.isdigit() and int(rest) <= 365):
        errors["rest_days"] = N_("Give a whole number of days from 0 to 365, or leave it empty.")
    if errors:
        return Target(), values, errors
    target = Target.model_validate(
        {
            "age_bands": bands,
            "genders": genders,
            "districts": districts,
            "sample": int(sample) if sample else None,
            "rest_days": int(rest) if rest else 0,
        }
    )
    return target, values, {}


def _may_draft(staff: Session) -> None:
    """Only the roles that edit rounds draft them (not the steering group, nor analysts)."""
    if not round_steps.may_draft(staff.account):
        raise HTTPException(status_code=403, detail="your role does not draft rounds")


async def _round_panels(portal: Portal, tenant: str, staff: Session) -> list[tuple[str, str]]:
    """The panels a new round may ask (the account's), as (panel, name)."""
    listed = (await portal.panels(tenant)).panels
    return [(p.panel, p.name) for p in listed if staff.account.sees_panel(p.panel)]


@router.get("/t/{tenant}/staff/rounds/new", response_class=HTMLResponse)
async def new_round_form(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The form for a new round: empty, a copy of an earlier round (``?copy=<id>``) or a
    ready template (``?template=<name>``)."""
    _may_draft(staff)
    panels = await _round_panels(portal, council.tenant, staff)
    values: dict[str, Any] = {"panel": panels[0][0] if panels else GENERAL}
    blocks = [round_builder.empty_block("q1")]
    copied = request.query_params.get("copy", "")
    template = round_templates.TEMPLATES.get(request.query_params.get("template", ""))
    if copied:
        earlier = await portal.round(council.tenant, copied, staff.account.panels)
        if earlier is None:
            raise HTTPException(status_code=404)
        blocks = round_builder.blocks_from_questions(earlier.questions)
        values |= round_builder.settings_values(earlier) | {
            "title": earlier.title,
            "purpose": earlier.purpose,
            "panel": earlier.panel,
        }
    elif template is not None:
        blocks = round_builder.blocks_from_questions(template.questions)
        values |= {"title": template.title, "purpose": template.purpose}
    elif asked := request.query_params.get("topic", ""):
        values |= await topics.prefill_for(portal, council.tenant, asked)
    return _builder_page(request, council, staff, panels, blocks, values)


def _builder_page(
    request: Request,
    council: Any,
    staff: Session,
    panels: list[tuple[str, str]],
    blocks: list[round_builder.Block],
    values: dict[str, Any],
    status: int = 200,
    **context: Any,
) -> Response:
    """The round builder's form, with the time estimate and the seeds' advice."""
    questions, _ = round_builder.questions_from_blocks(blocks)
    minutes, advice = round_builder.advice(questions)
    return render(
        request,
        "staff_round_new.html",
        status,
        council=council,
        staff=staff,
        panels=panels,
        bands=BAND_NAMES,
        blocks=blocks,
        kinds=round_builder.KINDS,
        stages=round_builder.STAGE_LABELS,
        templates=round_templates.TEMPLATES,
        minutes=minutes,
        advice=advice,
        values={**values, **round_builder.block_values(blocks)},
        **context,
    )


async def builder_form(
    form: FormData, council: Any, panels: list[tuple[str, str]], default_panel: str
) -> tuple[
    domain.RoundDraft | None, list[round_builder.Block], dict[str, Any], domain.Errors, bool
]:
    """The round builder's form as posted: the draft (None while there are errors or a
    button only changed the questions), the blocks, the values to show, the errors, and
    whether a button changed the questions (then nothing is saved)."""
    blocks = round_builder.blocks_from_form(form)
    action = _field(form, "action")
    values: dict[str, Any] = {"title": _field(form, "title"), "purpose": _field(form, "purpose")}
    settings, settings_values, settings_errors = round_builder.settings_from_form(form)
    target, target_values, target_errors = _target_of(form, council)
    panel = _field(form, "panel") or default_panel
    languages, language_values, language_errors = builder_languages.languages_from_form(
        form, round_builder.questions_from_blocks(blocks)[0]
    )
    values |= settings_values | target_values | {"panel": panel} | language_values
    if action:
        return None, round_builder.apply_action(blocks, action), values, {}, True
    draft, errors = domain.check_round_form(
        title=values["title"], purpose=values["purpose"], blocks=blocks
    )
    if panel not in {p for p, _ in panels}:
        errors["panel"] = N_("Choose one of your panels.")
    errors |= target_errors | settings_errors | language_errors
    if draft is None or errors:
        return None, blocks, values, errors, False
    target = target.model_copy(update={"topics": settings.pop("topics")})
    return (
        dataclasses.replace(draft, panel=panel, target=target, **settings, **languages),
        blocks,
        values,
        errors,
        False,
    )


@router.post("/t/{tenant}/staff/rounds/new", response_class=HTMLResponse)
async def new_round(
    request: Request, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Draft a round, then show it (waiting briefly until the rounds service has it)."""
    _may_draft(staff)
    form = await request.form()
    panels = await _round_panels(portal, council.tenant, staff)
    draft, blocks, values, errors, changed = await builder_form(form, council, panels, GENERAL)
    values["topic"] = _field(form, "topic")  # a round made of a topic request links to it
    if changed:
        return _builder_page(request, council, staff, panels, blocks, values)
    if draft is None:
        return _builder_page(request, council, staff, panels, blocks, values, 400, errors=errors)
    command = await portal.create_round(council.tenant, draft, staff.account.username)
    await topics.link_round(
        portal, council.tenant, values["topic"], command.round_id, staff.account
    )
    view = await portal.wait_for_round(council.tenant, command.round_id, command.message_id)
    notice = "created" if view is not None else "pending"
    return _see_other(f"/t/{council.tenant}/staff/rounds/{command.round_id}?notice={notice}")


@router.get("/t/{tenant}/staff/rounds/{round_id}/preview", response_class=HTMLResponse)
async def round_preview(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """The round exactly as a resident will see it (``?size=phone``: on a phone-sized screen);
    nothing can be sent from it."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise HTTPException(status_code=404)
    phone = request.query_params.get("size") == "phone"
    invitation = InvitationView(
        status="open",
        title=view.title,
        purpose=view.purpose,
        questions=view.questions,
        promise=view.promise,
        introduction=view.introduction,
        languages=view.languages,
        translations=view.translations,
    )
    # ``?lang=en``: the round in each of its languages, as residents reading it will see it.
    localized, in_language = round_languages.shown(request, invitation)
    return render(
        request,
        "answer.html",
        council=council,
        invitation=localized,
        preview=view,
        phone=phone,
        body_class="preview-phone" if phone else "",
        **in_language,
    )


PAPER_REFUSALS = {
    "not_invited": N_("That member was not invited to this round: check the reference."),
    "already_answered": N_("That member has already answered this round."),
    "round_closed": N_("The round is closed: paper forms can no longer be entered."),
    "invalid_answers": N_("The answers do not fit the questions."),
}
_MEMBER_REF = re.compile(r"^[A-Za-z0-9-]{1,100}$")


async def _paper_round(portal: Portal, tenant: str, round_id: str, staff: Session) -> RoundView:
    view = await portal.round(tenant, round_id, staff.account.panels)
    if view is None:
        raise HTTPException(status_code=404)
    return view


@router.get("/t/{tenant}/staff/rounds/{round_id}/paper", response_class=HTMLResponse)
async def paper_form(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """Enter the answers of a paper form a member sent back."""
    view = await _paper_round(portal, council.tenant, round_id, staff)
    return render(
        request,
        "staff_paper.html",
        council=council,
        staff=staff,
        round=view,
        notice=_notice(request),
    )


@router.post("/t/{tenant}/staff/rounds/{round_id}/paper", response_class=HTMLResponse)
async def paper_answers(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Send a paper form's answers; the member counts as having answered."""
    view = await _paper_round(portal, council.tenant, round_id, staff)
    form = await request.form()
    member = _field(form, "member").strip()
    raw = domain.answers_from_form(view.questions, form)
    answers, errors = domain.check_answers(view.questions, raw)
    if not _MEMBER_REF.fullmatch(member):
        errors["member"] = N_("Enter the member reference printed on the form.")
    if view.state != "open":
        errors["_form"] = PAPER_REFUSALS["round_closed"]
    if not errors:
        settled = await portal.enter_paper_answers(
            council.tenant, round_id, member, answers, staff.account.username
        )
        outcome = settled.outcome
        if outcome.status in ("done", "pending"):
            notice = "paper" if outcome.status == "done" else "pending"
            return _see_other(f"/t/{council.tenant}/staff/rounds/{round_id}/paper?notice={notice}")
        errors["member" if outcome.reason != "invalid_answers" else "_form"] = PAPER_REFUSALS.get(
            outcome.reason or "", N_("The answers could not be saved.")
        )
    return render(
        request,
        "staff_paper.html",
        400,
        council=council,
        staff=staff,
        round=view,
        values={**raw, "member": member},
        errors=errors,
    )


async def _results_page(
    request: Request,
    council: CouncilDep,
    portal: Portal,
    staff: Session,
    round_id: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    results = await portal.results(
        council.tenant, round_id, staff.account.panels, council.display_name
    )
    if results is None:
        raise HTTPException(status_code=404)
    feedback = None
    if results.round.state in domain.RESULTS_PUBLIC:
        feedback = await portal.feedback_on(council.tenant, round_id)
    # The first written answers of each free-text question; the rest page apart.
    texts = {}
    for q in results.questions:
        if q.kind == "free_text" and q.answered:
            texts[q.key] = await portal.answer_texts(
                council.tenant, round_id, q.key, staff.account.panels, limit=TEXTS_SHOWN
            )
    context.setdefault("notice", _notice(request))
    return render(
        request,
        "staff_results.html",
        status_code,
        council=council,
        staff=staff,
        results=results,
        feedback=feedback,
        texts=texts,
        **context,
    )


TEXTS_SHOWN = 10
"""Written answers shown on the results page; the texts page has them all, by pages."""


@router.get("/t/{tenant}/staff/rounds/{round_id}/results", response_class=HTMLResponse)
async def staff_results(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffDep
) -> Response:
    """A round's results with breakdowns; the feedback form once it is closed."""
    return await _results_page(request, council, portal, staff, round_id)


@router.post("/t/{tenant}/staff/rounds/{round_id}/feedback", response_class=HTMLResponse)
async def feedback(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Publish the council's feedback on a round whose results are published."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise HTTPException(status_code=404)
    form = await request.form()
    text, errors = domain.check_feedback(_field(form, "text"))
    if view.state not in domain.RESULTS_PUBLIC:
        errors = {"text": N_("Feedback can be published once the results are published.")}
    if errors:
        return await _results_page(
            request, council, portal, staff, round_id, 400, values={"text": text}, errors=errors
        )
    await portal.publish_feedback(council.tenant, round_id, text)
    return _see_other(f"/t/{council.tenant}/staff/rounds/{round_id}/results?notice=feedback")


@router.post("/t/{tenant}/staff/rounds/{round_id}/outreach", response_class=HTMLResponse)
async def outreach(
    request: Request, round_id: str, council: CouncilDep, portal: PortalDep, staff: StaffPostDep
) -> Response:
    """Note which groups did not take part and which other method reached them."""
    view = await portal.round(council.tenant, round_id, staff.account.panels)
    if view is None:
        raise HTTPException(status_code=404)
    form = await request.form()
    groups = " ".join(_field(form, "groups").split())
    method = _field(form, "method").strip()
    errors: dict[str, str] = {}
    if not 2 <= len(groups) <= 200:
        errors["groups"] = N_("Name the groups, in 2 to 200 characters.")
    if not 2 <= len(method) <= 2000:
        errors["method"] = N_("Say how they were reached instead, in 2 to 2000 characters.")
    if view.state not in domain.AFTER_OPENING:
        errors["groups"] = N_("Notes can be added once the round is open.")
    if errors:
        values = {"groups": groups, "method": method}
        return await _results_page(
            request, council, portal, staff, round_id, 400, values=values, errors=errors
        )
    await portal.note_outreach(council.tenant, round_id, groups, method, staff.account.username)
    return _see_other(f"/t/{council.tenant}/staff/rounds/{round_id}/results#outreach-heading")


# -- region admin --------------------------------------------------------------------------


@router.get("/region/login", response_class=HTMLResponse)
async def region_login_form(request: Request, portal: PortalDep) -> Response:
    """The region admins' login page."""
    next_url = domain.safe_next(request.query_params.get("next"), "/region/", "/region/")
    return _login_page(
        request,
        portal,
        values={"next": next_url},
        action="/region/login",
        region=True,
        notice=_notice(request),
    )


@router.post("/region/login", response_class=HTMLResponse)
async def region_login(request: Request, portal: PortalDep) -> Response:
    """Check a region admin login."""
    return await _login(request, portal, None, {"action": "/region/login", "region": True})


@router.post("/region/logout")
async def region_logout(request: Request, portal: PortalDep, admin: RegionAdminPostDep) -> Response:
    """End the region admin's session."""
    await portal.sign_out(request.cookies.get(SESSION_COOKIE))
    response = _see_other("/region/login?notice=logged_out")
    _clear_session_cookie(response, request)
    return response


@router.get("/region/", response_class=HTMLResponse)
async def region(request: Request, portal: PortalDep, admin: RegionAdminDep) -> Response:
    """Every council with its panel size, and links to its staff pages."""
    return render(request, "region.html", staff=admin, tenants=await portal.tenants())


# -- developer pages -----------------------------------------------------------------------


async def _devtools_enabled(request: Request) -> None:
    if not request.app.state.settings.devtools_url:
        raise HTTPException(status_code=404)


DevtoolsDep = Annotated[None, Depends(_devtools_enabled)]


@router.get("/dev/", response_class=HTMLResponse)
async def dev(request: Request, portal: PortalDep, _: DevtoolsDep) -> Response:
    """The mails and SMS messages the local devtools received."""
    try:
        mails = await portal.dev_mails()
        sms = await portal.dev_sms()
    except DevtoolsUnavailable:
        return render(request, "dev.html", 503, unavailable=True, mails={}, sms=[])
    return render(request, "dev.html", unavailable=False, mails=mails, sms=sms)


@router.get("/dev/mail/{mail_id}", response_class=HTMLResponse)
async def dev_mail(request: Request, mail_id: str, portal: PortalDep, _: DevtoolsDep) -> Response:
    """One mail's text, with its links clickable."""
    if not _MAIL_ID_RE.fullmatch(mail_id):
        raise HTTPException(status_code=404)
    try:
        mail = await portal.dev_mail(mail_id)
    except DevtoolsUnavailable:
        return render(request, "dev.html", 503, unavailable=True, mails={}, sms=[])
    if mail is None:
        raise HTTPException(status_code=404)
    return render(request, "dev_mail.html", mail=mail)
