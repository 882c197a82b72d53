"""The portal's use cases: what each page or API call does, whichever door it came through.

``Portal`` turns requests into commands and queries through the ``Gateway``, waits briefly
for the outcome of the commands a resident is waiting on, signs staff in and out, and answers
the health check. Routes in ``pages`` and ``api`` stay thin and call its methods.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any, TypeVar

import httpx
import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from contracts.campaigns import (
    CampaignList,
    CampaignView,
    CloseCampaign,
    CreateCampaign,
    DrawMethod,
    DrawSample,
    FinishRegister,
    GetCampaign,
    GetInvitationCode,
    GetLetters,
    GetRegisterRejections,
    ImportRegister,
    InvitedView,
    Letter,
    ListCampaigns,
    ListOpenCampaigns,
    OpenCampaignList,
    RedeemInvitation,
    StartOpenCampaign,
)
from contracts.dispatch import GetMemberData as DispatchMemberData
from contracts.envelope import Command, Query
from contracts.feedback import ListPublished, PublishedList, PublishedRound, PublishFeedback
from contracts.membership import MemberList, SearchMembers
from contracts.panels import (
    GENERAL,
    ConfigurePanel,
    GetPanel,
    ListPanels,
    PanelList,
    PanelSettings,
    PanelView,
    RenewMembership,
)
from contracts.personal_data import PersonalData
from contracts.recruitment import (
    ConfirmByCode,
    ConfirmMembership,
    EnrolMember,
    EraseMember,
    ErasureView,
    GetErasure,
    GetPanelHistory,
    GetRepresentativeness,
    GetRepresentativenessHistory,
    GetSignUp,
    LeavePanel,
    ListTenants,
    MembershipOutcome,
    Outcome,
    PanelHistory,
    PopulationRow,
    Representativeness,
    RepresentativenessHistory,
    SetPopulation,
    Share,
    SignUpView,
    TenantView,
)
from contracts.recruitment import GetMemberData as RecruitmentMemberData
from contracts.rounds import (
    AnswerTexts,
    CreateRound,
    EnterPaperAnswers,
    GetInvitation,
    GetResults,
    GetRound,
    InvitationView,
    ListAnswerTexts,
    ListPolls,
    ListRounds,
    NoteOutreach,
    PollList,
    PollView,
    PreviewTarget,
    ResponseOutcome,
    RoundList,
    RoundResults,
    RoundView,
    SaveDraft,
    SubmitPollAnswer,
    SubmitResponse,
    TagAnswerText,
    Target,
    TargetPreview,
)
from contracts.rounds import GetMemberData as RoundsMemberData
from infra.queries import QueryFailed
from infra.store import Document
from services.portal import accounts, letters, register_file
from services.portal.domain import (
    CONSENT_VERSION,
    RoundDraft,
    SignUp,
    SlidingWindow,
    is_link_token,
    is_round_id,
    is_tenant_slug,
)
from services.portal.gateway import Gateway
from services.portal.keys import derive
from services.portal.limits import RateLimits
from services.portal.metrics import PortalMetrics
from services.portal.settings import PortalSettings

log = structlog.get_logger()

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
"""The current request's correlation id; every message the request sends carries it."""

RATE_LIMITED_SCOPES = ("join", "confirm", "answer", "login", "invited", "number", "poll")
"""Endpoint groups with a per-address rate limit (sign-up, links, staff login); each group
has its own allowance. ``number`` counts per mobile number, not per client: sign-ups and
codes typed for one number."""

NEW_TENANT_RECHECK_SECONDS = 1.0
PANEL_CACHE_SECONDS = 10.0
WELCOME_CACHE_SECONDS = 300.0
"""How long the sign-up page reuses the groups it especially welcomes (counting is linear)."""
"""How long the sign-up pages reuse a council's panel settings."""
DEFAULT_PANEL = PanelView(
    panel=GENERAL,
    settings=PanelSettings(),
    consent_text="",
    consent_version=CONSENT_VERSION,
    consent_versions=(),
)
"""How often an unknown council slug may refresh the cached list of councils."""

REGION_TENANT = "region"
"""Tenant slug sent with queries about the whole installation (``ListTenants``)."""

C = TypeVar("C", bound=Command)
Q = TypeVar("Q", bound=Query)
R = TypeVar("R")


def current_correlation_id() -> str:
    """The request's correlation id, or a fresh one outside a request."""
    return correlation_id.get() or str(uuid.uuid4())


class RateLimited(Exception):
    """Too many requests from one address (or attempts on one account); try again after
    ``retry_after`` seconds."""

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"rate limited: {scope}")
        self.scope = scope
        self.retry_after = retry_after


class WrongState(Exception):
    """A round action that does not fit the round's current state (e.g. approving twice)."""

    def __init__(self, state: str) -> None:
        super().__init__(f"round is {state}")
        self.state = state


class DevtoolsUnavailable(Exception):
    """The local devtools HTTP API did not answer."""


@dataclass(frozen=True)
class Settled:
    """A command the sender waits on: its message_id and how it went (maybe still pending)."""

    message_id: str
    outcome: Outcome


class Portal:
    """The portal application: one method per thing a visitor can do."""

    def __init__(
        self,
        *,
        settings: PortalSettings,
        gateway: Gateway,
        db: AsyncDatabase[Document],
        metrics: PortalMetrics,
        http: httpx.AsyncClient,
        key: bytes,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.db = db
        self.metrics = metrics
        self.http = http
        self._clock = clock
        self.limits = RateLimits(
            db,
            derive(key, "rate-limit"),
            SlidingWindow(settings.portal_rate_limit, settings.portal_rate_limit_window_seconds),
            clock=wall_clock,
        )
        self.login_form_key = derive(key, "login-form")
        """Keys the login forms' hidden tokens (see ``login_csrf``)."""
        self._tenants: tuple[TenantView, ...] | None = None
        self._panels: dict[str, tuple[float, PanelView]] = {}
        self._welcome: dict[str, tuple[float, tuple[tuple[str, Share], ...]]] = {}
        self._tenants_at = 0.0

    # -- plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _envelope(tenant: str) -> dict[str, Any]:
        return {"tenant": tenant, "correlation_id": current_correlation_id()}

    async def _send(self, command: C, send: Callable[[C], Awaitable[None]]) -> str:
        await send(command)
        self.metrics.commands.labels(command.name).inc()
        log.info(
            "command published",
            command=command.name,
            tenant=command.tenant,
            message_id=command.message_id,
        )
        return command.message_id

    async def _ask(self, query: Q, ask: Callable[[Q], Awaitable[R]]) -> R:
        try:
            return await ask(query)
        except QueryFailed as exc:
            self.metrics.query_failures.labels(query.name).inc()
            log.warning("query failed", query=query.name, error=str(exc)[:300])
            raise

    async def settle(
        self, message_id: str, ask: Callable[[], Awaitable[Outcome]] | None = None
    ) -> Settled:
        """Wait for a command's outcome, which its owner pushes once it is handled.

        No polling: if the outcome does not come within the wait (the owner is slow or down,
        or the notification was lost), ``ask`` asks the owner once for the recorded outcome.
        """
        wait = self.settings.portal_outcome_wait_seconds
        outcome = await self.gateway.outcome(message_id, wait)
        if outcome is None and ask is not None:
            try:
                outcome = await ask()
            except QueryFailed:
                outcome = None  # safely on the bus; handled when the owner is back
        return Settled(message_id, outcome or Outcome(status="pending"))

    async def check_rate(self, scope: str, client: str) -> None:
        """Count one request from ``client`` to ``scope``; raises ``RateLimited`` when over.

        The counts are in the portal's database, shared by every replica. When it does not
        answer in time the request goes through unchecked, logged and counted: the limits
        only slow down guessing and flooding, which the back ends' own checks (one mail per
        address every few hours, 256-bit link tokens, the account lock) keep harmless for
        that while, and residents can still sign up and answer, which needs only the bus.
        """
        try:
            verdict = await asyncio.wait_for(
                self.limits.hit(scope, client), self.settings.portal_rate_limit_timeout_seconds
            )
        except (PyMongoError, TimeoutError) as exc:
            self.metrics.rate_limit_unchecked.labels(scope).inc()
            log.warning("rate limit not checked", scope=scope, error=type(exc).__name__)
            return
        if not verdict.allowed:
            self.metrics.rate_limited.labels(scope).inc()
            log.info("rate limited", scope=scope)
            raise RateLimited(scope, verdict.retry_after)

    # -- councils ---------------------------------------------------------------------------

    async def tenants(self, *, max_age: float | None = None) -> tuple[TenantView, ...]:
        """Every council, from recruitment, cached for a few seconds (or ``max_age``)."""
        now = self._clock()
        limit = self.settings.portal_tenant_cache_seconds if max_age is None else max_age
        if self._tenants is not None and now - self._tenants_at < limit:
            return self._tenants
        try:
            reply = await self._ask(
                ListTenants(**self._envelope(REGION_TENANT)), self.gateway.list_tenants
            )
        except QueryFailed:
            if self._tenants is not None:
                return self._tenants  # a stale list beats an error page
            raise
        self._tenants = reply.tenants
        self._tenants_at = now
        return reply.tenants

    async def tenant(self, slug: str) -> TenantView | None:
        """The council with this slug, or None."""
        if not is_tenant_slug(slug):
            return None
        for view in await self.tenants():
            if view.tenant == slug:
                return view
        # A council registered since the list was cached: look again, at most once a second.
        for view in await self.tenants(max_age=NEW_TENANT_RECHECK_SECONDS):
            if view.tenant == slug:
                return view
        return None

    # -- residents --------------------------------------------------------------------------

    async def sign_up(
        self,
        tenant: str,
        sign_up: SignUp,
        language: str,
        consent_version: str = CONSENT_VERSION,
        panel: str = GENERAL,
    ) -> tuple[EnrolMember, Settled]:
        """Ask recruitment to enrol a resident and wait briefly until it has; a mail follows.

        The outcome is the same whether or not the address was already a member."""
        command = EnrolMember(
            **self._envelope(tenant),
            member_id=str(uuid.uuid4()),
            email=sign_up.email,
            phone=sign_up.phone,
            channel=sign_up.channel,
            birth_year=sign_up.birth_year,
            gender=sign_up.gender,
            district=sign_up.district,
            heard_from=sign_up.heard_from,
            works_for_council=sign_up.works_for_council,
            connection=sign_up.connection,
            topics=sign_up.topics,
            via=sign_up.via,
            consent_version=consent_version,
            locale="en" if language == "en" else "sv",
            panel=panel,
        )
        await self._send(command, self.gateway.enrol_member)
        return command, await self.settle(command.message_id)

    async def confirm(self, tenant: str, token: str) -> Settled:
        """Confirm a membership from the mailed link and wait briefly for the outcome."""
        if not is_link_token(token):
            return Settled("", Outcome(status="refused", reason="unknown_token"))
        command = ConfirmMembership(**self._envelope(tenant), token=token)
        return await self._follow(command, self.gateway.confirm_membership)

    async def confirm_by_code(self, tenant: str, phone: str, code: str) -> Settled:
        """Confirm a sign-up by mobile number with the code from the SMS (``phone`` in E.164,
        checked) and wait briefly for the outcome."""
        command = ConfirmByCode(**self._envelope(tenant), phone=phone, code=code)
        return await self._follow(command, self.gateway.confirm_by_code)

    async def leave(self, tenant: str, token: str) -> Settled:
        """Leave the panel through the link in a mail and wait briefly for the outcome."""
        if not is_link_token(token):
            return Settled("", Outcome(status="refused", reason="unknown_token"))
        command = LeavePanel(**self._envelope(tenant), token=token)
        return await self._follow(command, self.gateway.leave_panel)

    async def _follow(self, command: C, send: Callable[[C], Awaitable[None]]) -> Settled:
        """Send what a mailed recruitment link stands for and wait briefly for its outcome,
        asking recruitment once for the recorded one if none is pushed in time."""
        message_id = await self._send(command, send)
        query = MembershipOutcome(**self._envelope(command.tenant), command_id=message_id)
        return await self.settle(
            message_id, lambda: self._ask(query, self.gateway.membership_outcome)
        )

    async def _answered(self, command: C, send: Callable[[C], Awaitable[None]]) -> Settled:
        """Send a command that rounds settles (an answer, a draft, a paper form, a tag) and
        wait briefly for its outcome, asking rounds once for the recorded one if none is
        pushed in time."""
        message_id = await self._send(command, send)
        query = ResponseOutcome(**self._envelope(command.tenant), command_id=message_id)
        return await self.settle(
            message_id, lambda: self._ask(query, self.gateway.response_outcome)
        )

    async def sign_up_view(self, tenant: str, token: str) -> SignUpView | None:
        """What an opt-in link would confirm, or None for an unknown, used or expired link."""
        if not is_link_token(token):
            return None
        return await self._ask(
            GetSignUp(**self._envelope(tenant), token=token), self.gateway.get_sign_up
        )

    async def invitation(self, tenant: str, token: str) -> InvitationView | None:
        """What a personal answer link shows, or None for an unknown link."""
        if not is_link_token(token):
            return None
        return await self._ask(
            GetInvitation(**self._envelope(tenant), token=token), self.gateway.get_invitation
        )

    async def answer(
        self, tenant: str, token: str, answers: dict[str, Any], channel: str = "web"
    ) -> Settled:
        """Submit a resident's (validated) answers and wait briefly for the outcome."""
        command = SubmitResponse(
            **self._envelope(tenant),
            token=token,
            answers=answers,
            channel="mail" if channel == "mail" else "web",
        )
        return await self._answered(command, self.gateway.submit_response)

    async def polls(self, tenant: str) -> PollList:
        """The council's quick polls that have opened (open and past), newest first."""
        return await self._ask(ListPolls(**self._envelope(tenant)), self.gateway.list_polls)

    async def poll(self, tenant: str, round_id: str) -> PollView | None:
        """One of the council's quick polls, or None (also for a round that is no poll)."""
        if not is_round_id(round_id):
            return None
        return next((p for p in (await self.polls(tenant)).polls if p.round_id == round_id), None)

    async def answer_poll(
        self, tenant: str, round_id: str, browser: str, answers: dict[str, Any]
    ) -> Settled:
        """Send an answer to a quick poll and wait briefly for the outcome."""
        command = SubmitPollAnswer(
            **self._envelope(tenant), round_id=round_id, browser=browser, answers=answers
        )
        return await self._answered(command, self.gateway.submit_poll_answer)

    async def save_draft(self, tenant: str, token: str, answers: dict[str, Any]) -> Settled:
        """Keep a resident's answers so far; wait briefly for the outcome."""
        command = SaveDraft(**self._envelope(tenant), token=token, answers=answers)
        return await self._answered(command, self.gateway.save_draft)

    async def enter_paper_answers(
        self, tenant: str, round_id: str, member_id: str, answers: dict[str, Any], by: str
    ) -> Settled:
        """Send a paper form's answers for a member and wait briefly for the outcome."""
        command = EnterPaperAnswers(
            **self._envelope(tenant),
            round_id=round_id,
            member_id=member_id,
            answers=answers,
            entered_by=by,
        )
        return await self._answered(command, self.gateway.enter_paper_answers)

    async def published(self, tenant: str, *, only_published: bool = True) -> PublishedList:
        """The council's closed rounds with their feedback (only published ones by default)."""
        return await self._ask(
            ListPublished(**self._envelope(tenant), only_published=only_published),
            self.gateway.list_published,
        )

    async def feedback_on(self, tenant: str, round_id: str) -> PublishedRound | None:
        """A closed round's feedback as published so far, or None (also if feedback is down)."""
        try:
            listing = await self.published(tenant, only_published=False)
        except QueryFailed:
            return None
        return next((r for r in listing.rounds if r.round_id == round_id), None)

    # -- staff ------------------------------------------------------------------------------

    async def rounds(self, tenant: str, panels: tuple[str, ...] = ()) -> RoundList:
        """The council's rounds (of ``panels`` only, if given), newest first."""
        query = ListRounds(**self._envelope(tenant), panels=panels)
        return await self._ask(query, self.gateway.list_rounds)

    async def preview_target(self, tenant: str, panel: str, target: Target) -> TargetPreview:
        """How many a round of ``panel`` with ``target`` would invite if it opened now."""
        query = PreviewTarget(**self._envelope(tenant), panel=panel, target=target)
        return await self._ask(query, self.gateway.preview_target)

    async def round(
        self, tenant: str, round_id: str, panels: tuple[str, ...] = ()
    ) -> RoundView | None:
        """One of the council's rounds; None for an unknown id, another council's round, or
        (``panels`` given: a staff account limited to them) a round of another panel."""
        if not is_round_id(round_id):
            return None
        view = await self._ask(
            GetRound(**self._envelope(tenant), round_id=round_id), self.gateway.get_round
        )
        if view is not None and panels and view.panel not in panels:
            return None
        return view

    async def create_round(self, tenant: str, draft: RoundDraft, by: str = "") -> CreateRound:
        """Draft a new round (``by``: the staff username, for its history)."""
        command = CreateRound(
            **self._envelope(tenant),
            created_by=by,
            round_id=str(uuid.uuid4()),
            title=draft.title,
            purpose=draft.purpose,
            questions=draft.questions,
            panel=draft.panel,
            target=draft.target,
            longitudinal=draft.longitudinal,
            public=draft.public,
            allow_changes=draft.allow_changes,
            promise=draft.promise,
            plan=draft.plan,
            introduction=draft.introduction,
            languages=draft.languages,
            translations=draft.translations,
        )
        await self._send(command, self.gateway.create_round)
        return command

    async def wait_for_round(
        self, tenant: str, round_id: str, command_id: str, state: str | None = None
    ) -> RoundView | None:
        """Wait for the round command ``command_id`` to be handled, then read the round once.

        The view is None (or in another state) when the command is still pending."""
        settled = await self.settle(command_id)
        if settled.outcome.status == "pending":
            return None
        try:
            view = await self.round(tenant, round_id)
        except QueryFailed:
            return None
        if view is not None and state is not None and view.state != state:
            return None
        return view

    async def results(
        self, tenant: str, round_id: str, panels: tuple[str, ...] = (), place: str = ""
    ) -> RoundResults | None:
        """A round's results; None for an unknown id, another council's round, or a round of
        a panel outside ``panels`` (when given)."""
        if not is_round_id(round_id):
            return None
        if panels and await self.round(tenant, round_id, panels) is None:
            return None
        return await self._ask(
            GetResults(**self._envelope(tenant), round_id=round_id, place=place[:120]),
            self.gateway.get_results,
        )

    async def answer_texts(
        self,
        tenant: str,
        round_id: str,
        question: str,
        panels: tuple[str, ...] = (),
        *,
        search: str = "",
        after: str = "",
        limit: int = 50,
        tag: str = "",
    ) -> AnswerTexts | None:
        """A page of a question's free texts (see ``results`` for None)."""
        if not is_round_id(round_id):
            return None
        if panels and await self.round(tenant, round_id, panels) is None:
            return None
        query = ListAnswerTexts(
            **self._envelope(tenant),
            round_id=round_id,
            question=question,
            search=search,
            after=after,
            limit=limit,
            tag=tag,
        )
        return await self._ask(query, self.gateway.list_answer_texts)

    async def tag_answer_text(
        self,
        tenant: str,
        round_id: str,
        question: str,
        ref: str,
        tags: tuple[str, ...],
        by: str,
    ) -> Settled:
        """Set a written answer's tags; wait briefly for the outcome."""
        command = TagAnswerText(
            **self._envelope(tenant),
            round_id=round_id,
            question=question,
            ref=ref,
            tags=tags,
            tagged_by=by,
        )
        return await self._answered(command, self.gateway.tag_answer_text)

    async def publish_feedback(self, tenant: str, round_id: str, text: str) -> Settled:
        """Publish the council's feedback on a closed round; wait briefly until it is."""
        command = PublishFeedback(**self._envelope(tenant), round_id=round_id, text=text)
        return await self.settle(await self._send(command, self.gateway.publish_feedback))

    async def erase_member(self, tenant: str, member_id: str, requested_by: str) -> Settled:
        """Ask for a member's erasure everywhere; wait briefly until recruitment has done its
        part (the other services follow: see ``erasure``)."""
        command = EraseMember(
            **self._envelope(tenant), member_id=member_id, requested_by=requested_by
        )
        return await self.settle(await self._send(command, self.gateway.erase_member))

    async def set_population(
        self, tenant: str, source: str, rows: Sequence[PopulationRow]
    ) -> Settled:
        """Replace the council's population figures; wait briefly until recruitment has."""
        command = SetPopulation(**self._envelope(tenant), source=source, rows=tuple(rows))
        return await self.settle(await self._send(command, self.gateway.set_population))

    async def panel_history(self, tenant: str, months: int) -> PanelHistory:
        """The panel's size, joins and leaves per month, oldest first."""
        query = GetPanelHistory(**self._envelope(tenant), months=months)
        return await self._ask(query, self.gateway.get_panel_history)

    async def representativeness(self, tenant: str, panel: str = "") -> Representativeness | None:
        """The council's members (or one panel's) against the population, or None while no
        figures are set."""
        query = GetRepresentativeness(**self._envelope(tenant), panel=panel)
        return await self._ask(query, self.gateway.get_representativeness)

    async def erasure(self, tenant: str, member_id: str) -> ErasureView | None:
        """Where the erasure of a member stands, or None if none was asked for."""
        query = GetErasure(**self._envelope(tenant), member_id=member_id)
        return await self._ask(query, self.gateway.get_erasure)

    async def member_data(self, tenant: str, member_id: str) -> list[PersonalData] | None:
        """Every service's records about a member, asked together; None for no such member.

        A service that does not answer fails the whole copy (``QueryFailed``): a copy that
        silently lacks a service's part would mislead the member."""
        envelope = self._envelope(tenant)
        records, rounds, dispatch = await asyncio.gather(
            self._ask(
                RecruitmentMemberData(**envelope, member_id=member_id),
                self.gateway.recruitment_member_data,
            ),
            self._ask(
                RoundsMemberData(**envelope, member_id=member_id), self.gateway.rounds_member_data
            ),
            self._ask(
                DispatchMemberData(**envelope, member_id=member_id),
                self.gateway.dispatch_member_data,
            ),
        )
        if records is None:
            return None
        if rounds is None or dispatch is None:
            raise QueryFailed("a service did not give its part of the member's data")
        return [records, rounds, dispatch]

    async def sign_in(
        self, username: str, password: str, tenant: str | None
    ) -> tuple[str, accounts.Session] | None:
        """Check a staff login for a council (or, with ``tenant=None``, the region pages).

        An account of another council is refused exactly like a wrong password.
        """
        try:
            account = await accounts.authenticate(self.db, username, password)
        except accounts.AccountLocked as exc:
            self.metrics.rate_limited.labels("login_account").inc()
            log.info("login refused", reason="account locked")
            raise RateLimited("login_account", exc.retry_after) from None
        if account is None:
            log.info("login refused", reason="credentials")
            return None
        allowed = account.is_region_admin if tenant is None else account.may_act_for(tenant)
        if not allowed:
            log.info("login refused", reason="other council", username=account.username)
            return None
        lifetime = timedelta(hours=self.settings.portal_session_hours)
        token, session = await accounts.open_session(self.db, account, lifetime)
        log.info("staff signed in", username=account.username, tenant=tenant)
        return token, session

    async def session(self, token: str | None) -> accounts.Session | None:
        """The staff session of a cookie, if valid."""
        return await accounts.find_session(self.db, token)

    async def sign_out(self, token: str | None) -> None:
        """End a staff session."""
        await accounts.close_session(self.db, token)

    # -- operations -------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """``ok`` or what is wrong, for the portal's store, the bus and every back end."""
        checks: dict[str, str] = {}

        async def backend(name: str, url: str) -> None:
            try:
                response = await self.http.get(
                    f"{url}/health/ready", timeout=self.settings.portal_health_timeout_seconds
                )
            except httpx.HTTPError as exc:
                checks[name] = f"unreachable: {type(exc).__name__}"
                return
            checks[name] = "ok" if response.status_code == 200 else f"HTTP {response.status_code}"

        async def store() -> None:
            try:
                await asyncio.wait_for(
                    self.db.command("ping"), self.settings.portal_health_timeout_seconds
                )
            except Exception as exc:  # any failure means not ready; say which
                checks["portal_store"] = f"unavailable: {type(exc).__name__}"
            else:
                checks["portal_store"] = "ok"

        async def bus() -> None:
            checks["bus"] = "ok" if await self.gateway.ready() else "not connected"

        await asyncio.gather(
            store(), bus(), *(backend(n, u) for n, u in self.settings.health_urls().items())
        )
        return dict(sorted(checks.items()))

    async def _devtools(self, path: str) -> Any:
        if not self.settings.devtools_url:
            raise DevtoolsUnavailable("DEVTOOLS_URL is not set")
        try:
            response = await self.http.get(
                f"{self.settings.devtools_url.rstrip('/')}{path}", timeout=5.0
            )
        except httpx.HTTPError as exc:
            raise DevtoolsUnavailable(repr(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DevtoolsUnavailable(f"HTTP {response.status_code}")
        return response.json()

    async def dev_mails(self) -> dict[str, Any]:
        """The newest mails the local SMTP server kept."""
        data = await self._devtools("/dev/mail?limit=50")
        return data if isinstance(data, dict) else {"total": 0, "items": []}

    async def dev_mail(self, mail_id: str) -> dict[str, Any] | None:
        """One kept mail, parsed, or None."""
        data = await self._devtools(f"/dev/mail/{mail_id}")
        return data if isinstance(data, dict) else None

    async def dev_sms(self) -> list[dict[str, Any]]:
        """SMS messages the local gateway sent and received, newest first."""
        data = await self._devtools("/dev/sms/messages")
        return data if isinstance(data, list) else []

    # -- invited recruitment (campaigns) -------------------------------------------------------

    async def create_campaign(
        self,
        tenant: str,
        title: str,
        closes_on: str,
        exclude_drawn_months: int,
        panel: str = GENERAL,
    ) -> tuple[str, Settled]:
        """Start a campaign; wait briefly until recruitment has it."""
        command = CreateCampaign(
            **self._envelope(tenant),
            campaign_id=str(uuid.uuid4()),
            title=title,
            closes_on=closes_on,
            exclude_drawn_months=exclude_drawn_months,
            panel=panel,
        )
        return command.campaign_id, await self._follow(command, self.gateway.create_campaign)

    async def import_register(
        self, tenant: str, campaign_id: str, stream: IO[bytes]
    ) -> tuple[int, int]:
        """Send a register extract (a file on disk) to recruitment in batches as it is read,
        then its totals; (batches, rows). ``RegisterFileError`` if it has no usable header
        (then nothing was sent)."""
        sent = rows = 0
        for first_row, batch in register_file.batches(stream):
            sent += 1
            rows += len(batch)
            command = ImportRegister(
                **self._envelope(tenant),
                campaign_id=campaign_id,
                batch_no=sent,
                first_row=first_row,
                rows=tuple(batch),
            )
            await self.gateway.import_register(command)
            self.metrics.commands.labels(command.name).inc()
        finish = FinishRegister(
            **self._envelope(tenant), campaign_id=campaign_id, batches=sent, rows=rows
        )
        await self._send(finish, self.gateway.finish_register)
        log.info("register extract sent", tenant=tenant, batches=sent, rows=rows)
        return sent, rows

    async def draw_sample(
        self,
        tenant: str,
        campaign_id: str,
        size: int,
        method: DrawMethod,
        expected_response_pct: int,
        seed: int | None,
    ) -> Settled:
        """Draw a campaign's sample; wait briefly until recruitment has."""
        command = DrawSample(
            **self._envelope(tenant),
            campaign_id=campaign_id,
            size=size,
            method=method,
            expected_response_pct=expected_response_pct,
            seed=seed,
        )
        return await self._follow(command, self.gateway.draw_sample)

    async def close_campaign(self, tenant: str, campaign_id: str) -> Settled:
        """Close a campaign now; wait briefly until recruitment has."""
        command = CloseCampaign(**self._envelope(tenant), campaign_id=campaign_id)
        return await self._follow(command, self.gateway.close_campaign)

    async def campaign(self, tenant: str, campaign_id: str) -> CampaignView | None:
        """A campaign, or None."""
        query = GetCampaign(**self._envelope(tenant), campaign_id=campaign_id)
        return await self._ask(query, self.gateway.get_campaign)

    async def campaigns(self, tenant: str) -> CampaignList:
        """The council's campaigns, newest first."""
        return await self._ask(ListCampaigns(**self._envelope(tenant)), self.gateway.list_campaigns)

    async def register_rejections(
        self, tenant: str, campaign_id: str
    ) -> AsyncIterator[tuple[int, str]]:
        """Every refused row of a campaign's extract, (row, reason), page by page."""
        after: int | None = 0
        while after is not None:
            query = GetRegisterRejections(
                **self._envelope(tenant), campaign_id=campaign_id, after_batch=after
            )
            page = await self._ask(query, self.gateway.get_register_rejections)
            if page is None:
                return
            for rejection in page.rejections:
                yield rejection.row, rejection.reason
            after = page.next_batch

    async def letters_pdf(
        self, tenant: str, campaign_id: str, language: str = "sv"
    ) -> bytes | None:
        """A drawn campaign's letters as one PDF, or None if it has none to print."""
        gathered: list[Letter] = []
        council = closes_on = ""
        while True:
            query = GetLetters(
                **self._envelope(tenant), campaign_id=campaign_id, offset=len(gathered)
            )
            page = await self._ask(query, self.gateway.get_letters)
            if page is None:
                return None
            council, closes_on = page.council, page.closes_on
            gathered.extend(page.letters)
            if not page.letters or len(gathered) >= page.total:
                break
        short_url = f"{self.settings.portal_url.rstrip('/')}/t/{tenant}/invited"
        return await asyncio.to_thread(
            letters.render,
            gathered,
            council=council,
            closes_on=closes_on,
            short_url=short_url.split("://", 1)[-1],
            language=language,
        )

    async def invited(self, tenant: str, code: str) -> InvitedView | None:
        """What an invitation code stands for, or None for an unknown code."""
        if not 8 <= len(code) <= 100:
            return None
        query = GetInvitationCode(**self._envelope(tenant), code=code)
        return await self._ask(query, self.gateway.get_invitation_code)

    async def redeem(self, tenant: str, code: str, email: str, language: str) -> Settled:
        """Join the invitation's panel with its code; wait briefly for the outcome."""
        invited = await self.invited(tenant, code)
        name = invited.panel if invited is not None else GENERAL
        try:
            panel = await self.panel_for_residents(tenant, name)
        except QueryFailed:
            panel = await self.panel_for_residents(tenant)
        command = RedeemInvitation(
            **self._envelope(tenant),
            code=code,
            email=email,
            consent_version=panel.consent_version,
            locale="en" if language == "en" else "sv",
        )
        return await self._follow(command, self.gateway.redeem_invitation)

    async def search_members(self, tenant: str, **filters: Any) -> MemberList:
        """A page of the council's members, without contact details (see ``SearchMembers``)."""
        query = SearchMembers(**self._envelope(tenant), **filters)
        return await self._ask(query, self.gateway.search_members)

    async def panel(self, tenant: str, panel: str = GENERAL) -> PanelView:
        """A panel's settings and consent text (the general panel's defaults if unset)."""
        query = GetPanel(**self._envelope(tenant), panel=panel)
        view = await self._ask(query, self.gateway.get_panel)
        if view is None:
            raise QueryFailed(f"recruitment knows no panel {panel}")
        return view

    async def configure_panel(
        self, tenant: str, settings: PanelSettings, consent_text: str, panel: str = GENERAL
    ) -> Settled:
        """Set a panel's settings; wait briefly until recruitment has."""
        command = ConfigurePanel(
            **self._envelope(tenant), panel=panel, settings=settings, consent_text=consent_text
        )
        return await self._follow(command, self.gateway.configure_panel)

    async def panels(self, tenant: str) -> PanelList:
        """The council's panels, the general one first, with their members."""
        return await self._ask(ListPanels(**self._envelope(tenant)), self.gateway.list_panels)

    async def renew(self, tenant: str, token: str) -> Settled:
        """Renew a member's term through the link in the notice; wait briefly for it."""
        if not is_link_token(token):
            return Settled("", Outcome(status="refused", reason="unknown_token"))
        command = RenewMembership(**self._envelope(tenant), token=token)
        return await self._follow(command, self.gateway.renew_membership)

    async def panel_for_residents(self, tenant: str, panel: str = GENERAL) -> PanelView:
        """A panel as the sign-up pages show it, cached for a few seconds. For the general
        panel, the built-in defaults (and text version, which recruitment always accepts) if
        recruitment does not answer, so that residents can still sign up; for another panel
        ``QueryFailed`` (unknown, or recruitment silent) unless it was cached."""
        now = self._clock()
        key = f"{tenant}:{panel}"
        cached = self._panels.get(key)
        if cached is not None and now - cached[0] < PANEL_CACHE_SECONDS:
            return cached[1]
        try:
            view = await self.panel(tenant, panel)
        except QueryFailed:
            if cached is not None:
                return cached[1]
            if panel != GENERAL:
                raise
            return DEFAULT_PANEL
        self._panels[key] = (now, view)
        return view

    async def start_open_campaign(
        self, tenant: str, slug: str, title: str, starts_on: str, ends_on: str, target: int
    ) -> Settled:
        """Start (or change) an open campaign; wait briefly until recruitment has."""
        command = StartOpenCampaign(
            **self._envelope(tenant),
            slug=slug,
            title=title,
            starts_on=starts_on,
            ends_on=ends_on,
            target=target,
        )
        return await self._follow(command, self.gateway.start_open_campaign)

    async def open_campaigns(self, tenant: str) -> OpenCampaignList:
        """The open campaigns and the tell-a-friend link, with their counts."""
        query = ListOpenCampaigns(**self._envelope(tenant))
        return await self._ask(query, self.gateway.list_open_campaigns)

    async def welcome_groups(self, tenant: str) -> tuple[tuple[str, Share], ...]:
        """The groups the panel lacks most (age band, gender, district at least 5 points below
        their population share), for the sign-up page; cached for five minutes, and none if
        there are no population figures or recruitment does not answer."""
        now = self._clock()
        cached = self._welcome.get(tenant)
        if cached is not None and now - cached[0] < WELCOME_CACHE_SECONDS:
            return cached[1]
        try:
            view = await self.representativeness(tenant)
        except QueryFailed:
            return cached[1] if cached is not None else ()
        groups: tuple[tuple[str, Share], ...] = ()
        if view is not None:
            shares = [
                *(("age", s) for s in view.by_age_band),
                *(("gender", s) for s in view.by_gender),
                *(("district", s) for s in view.by_district),
            ]
            lacking = sorted((g for g in shares if g[1].gap <= -5), key=lambda g: g[1].gap)
            groups = tuple(lacking[:3])
        self._welcome[tenant] = (now, groups)
        return groups

    async def index_history(self, tenant: str, months: int = 12) -> RepresentativenessHistory:
        """The representativeness index month by month, oldest first."""
        query = GetRepresentativenessHistory(**self._envelope(tenant), months=months)
        return await self._ask(query, self.gateway.get_representativeness_history)

    async def note_outreach(
        self, tenant: str, round_id: str, groups: str, method: str, noted_by: str
    ) -> Settled:
        """Keep a note on groups reached by other methods; wait briefly until rounds has."""
        command = NoteOutreach(
            **self._envelope(tenant),
            round_id=round_id,
            groups=groups,
            method=method,
            noted_by=noted_by,
        )
        return await self.settle(await self._send(command, self.gateway.note_outreach))
