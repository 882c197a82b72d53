"""How the portal talks to the services that own the data: commands out, queries answered.

``Gateway`` has one method per command or query the portal uses; ``NatsGateway`` sends them
over NATS (commands to JetStream with their message_id as Nats-Msg-Id, queries as
request/reply). Tests use a fake with the same methods.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Protocol

import nats.errors
import structlog
from nats.aio.client import Client as NatsClient

from contracts.campaigns import (
    CampaignList,
    CampaignView,
    CloseCampaign,
    CreateCampaign,
    DrawSample,
    FinishRegister,
    GetCampaign,
    GetInvitationCode,
    GetLetters,
    GetRegisterRejections,
    ImportRegister,
    InvitedView,
    Letters,
    ListCampaigns,
    ListOpenCampaigns,
    OpenCampaignList,
    RedeemInvitation,
    RegisterRejections,
    StartOpenCampaign,
)
from contracts.contacts import InvalidContacts, ListInvalidContacts
from contracts.dispatch import GetMemberData as DispatchMemberData
from contracts.envelope import Command
from contracts.feedback import ListPublished, PublishedList, PublishFeedback
from contracts.membership import (
    ChangeMyDetails,
    ChangeMyEmail,
    ChangeMyPhone,
    CloseMemberSession,
    ConfirmEmailChange,
    ConfirmPhoneChange,
    EraseMyMembership,
    GetMyMembership,
    MemberList,
    MyMembership,
    OpenMemberSession,
    OpenMemberSessionByCode,
    PauseMembership,
    RequestSignIn,
    RequestSignInCode,
    ResumeMembership,
    SearchMembers,
)
from contracts.outcomes import CommandSettled, outcome_subject
from contracts.panels import (
    ChangeMyPanels,
    ConfigurePanel,
    GetMyPanels,
    GetPanel,
    ListPanels,
    MyPanels,
    PanelList,
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
    GetImport,
    GetPanelHistory,
    GetRepresentativeness,
    GetRepresentativenessHistory,
    GetSignUp,
    ImportMembers,
    ImportView,
    LeavePanel,
    ListTenants,
    MembershipOutcome,
    Outcome,
    PanelHistory,
    Representativeness,
    RepresentativenessHistory,
    SetPopulation,
    SignUpView,
    TenantList,
)
from contracts.recruitment import GetMemberData as RecruitmentMemberData
from contracts.round_lifecycle import (
    ArchiveRound,
    ExtendRound,
    PublishResults,
    ReturnRound,
    ScheduleRound,
    SubmitRound,
)
from contracts.round_review import ApproveMethod, AskChanges, AskReview
from contracts.rounds import (
    AnswerTexts,
    ApproveRound,
    CloseRound,
    CreateRound,
    EditRound,
    EnterPaperAnswers,
    GetInvitation,
    GetResults,
    GetRound,
    InvitationView,
    ListAnswerTexts,
    ListPolls,
    ListRounds,
    NoteOutreach,
    OpenRound,
    PollList,
    PreviewTarget,
    ResponseOutcome,
    RoundList,
    RoundResults,
    RoundView,
    SaveDraft,
    SubmitPollAnswer,
    SubmitResponse,
    TagAnswerText,
    TargetPreview,
)
from contracts.rounds import GetMemberData as RoundsMemberData
from contracts.topics import (
    AcceptTopic,
    DeclineTopic,
    GetTopic,
    ListTopics,
    PlanTopicRound,
    RequestTopic,
    TopicList,
    TopicView,
)
from infra.bus import publish
from infra.natsauth import BusLogin
from infra.outcomes import REPLY_HEADER
from infra.queries import QueryFailed, ask

__all__ = ["Gateway", "NatsGateway", "PublishFailed", "QueryFailed"]

log = structlog.get_logger()


class PublishFailed(Exception):
    """A command could not be handed to JetStream (bus unavailable or no stream acked it)."""


class Gateway(Protocol):
    """Every command the portal sends and every query it asks, one method each.

    Commands return once the bus has stored them (they are handled later). Queries raise
    ``QueryFailed`` when the owner is down or refuses; commands raise ``PublishFailed``.
    """

    async def list_tenants(self, query: ListTenants) -> TenantList:
        """recruitment: every council and its member counts."""
        ...

    async def enrol_member(self, command: EnrolMember) -> None:
        """recruitment: a resident signs up (a double opt-in mail follows)."""
        ...

    async def confirm_membership(self, command: ConfirmMembership) -> None:
        """recruitment: a resident followed the confirmation link."""
        ...

    async def leave_panel(self, command: LeavePanel) -> None:
        """recruitment: a member leaves through the link in a mail (erased everywhere)."""
        ...

    async def membership_outcome(self, query: MembershipOutcome) -> Outcome:
        """recruitment: how a ``ConfirmMembership`` went (pending until handled)."""
        ...

    async def get_sign_up(self, query: GetSignUp) -> SignUpView | None:
        """recruitment: what an opt-in link would confirm, or None for an unusable link."""
        ...

    async def erase_member(self, command: EraseMember) -> None:
        """recruitment: erase a member everywhere (GDPR art. 17)."""
        ...

    async def set_population(self, command: SetPopulation) -> None:
        """recruitment: the council's population figures, for representativeness."""
        ...

    async def get_panel_history(self, query: GetPanelHistory) -> PanelHistory:
        """recruitment: the panel's size, joins and leaves per month."""
        ...

    async def get_representativeness(
        self, query: GetRepresentativeness
    ) -> Representativeness | None:
        """recruitment: the panel against the population, or None without figures."""
        ...

    async def get_erasure(self, query: GetErasure) -> ErasureView | None:
        """recruitment: where an erasure stands, or None if none was asked for."""
        ...

    async def recruitment_member_data(self, query: RecruitmentMemberData) -> PersonalData | None:
        """recruitment: its records about a member, or None for no such member."""
        ...

    async def rounds_member_data(self, query: RoundsMemberData) -> PersonalData | None:
        """rounds: its records about a member (never the answers)."""
        ...

    async def dispatch_member_data(self, query: DispatchMemberData) -> PersonalData | None:
        """dispatch: its records about a member."""
        ...

    async def get_invitation(self, query: GetInvitation) -> InvitationView | None:
        """rounds: the answer page for a personal link, or None for an unknown token."""
        ...

    async def submit_response(self, command: SubmitResponse) -> None:
        """rounds: a resident's answers through their personal link."""
        ...

    async def response_outcome(self, query: ResponseOutcome) -> Outcome:
        """rounds: how a ``SubmitResponse`` went (pending until handled)."""
        ...

    async def list_rounds(self, query: ListRounds) -> RoundList:
        """rounds: the council's rounds, newest first."""
        ...

    async def get_round(self, query: GetRound) -> RoundView | None:
        """rounds: one round of the council, or None (also for another council's round)."""
        ...

    async def create_round(self, command: CreateRound) -> None:
        """rounds: draft a new round."""
        ...

    async def approve_round(self, command: ApproveRound) -> None:
        """rounds: the steering group approves a draft."""
        ...

    async def open_round(self, command: OpenRound) -> None:
        """rounds: open an approved round and invite the panel."""
        ...

    async def close_round(self, command: CloseRound) -> None:
        """rounds: close an open round."""
        ...

    async def edit_round(self, command: EditRound) -> None:
        """rounds: replace what a round asks (a submitted or approved one goes back to draft)."""
        ...

    async def submit_round(self, command: SubmitRound) -> None:
        """rounds: submit a draft to the steering group."""
        ...

    async def return_round(self, command: ReturnRound) -> None:
        """rounds: the steering group returns a submitted round with a comment."""
        ...

    async def schedule_round(self, command: ScheduleRound) -> None:
        """rounds: schedule an approved round (opening, closing, reminders)."""
        ...

    async def extend_round(self, command: ExtendRound) -> None:
        """rounds: move a scheduled or open round's closing."""
        ...

    async def publish_results(self, command: PublishResults) -> None:
        """rounds: publish a closed round's results."""
        ...

    async def archive_round(self, command: ArchiveRound) -> None:
        """rounds: archive a round whose results are published."""
        ...

    async def ask_review(self, command: AskReview) -> None:
        """rounds: ask for a methodology review of a draft."""
        ...

    async def approve_method(self, command: ApproveMethod) -> None:
        """rounds: the reviewer approves a round's method."""
        ...

    async def ask_changes(self, command: AskChanges) -> None:
        """rounds: the reviewer asks for changes to a round."""
        ...

    async def request_topic(self, command: RequestTopic) -> None:
        """rounds: put a topic request into the backlog."""
        ...

    async def accept_topic(self, command: AcceptTopic) -> None:
        """rounds: accept a topic request."""
        ...

    async def decline_topic(self, command: DeclineTopic) -> None:
        """rounds: decline a topic request, with a reason."""
        ...

    async def plan_topic_round(self, command: PlanTopicRound) -> None:
        """rounds: link a topic request and the round made of it."""
        ...

    async def list_topics(self, query: ListTopics) -> TopicList:
        """rounds: the council's topic requests, newest first."""
        ...

    async def get_topic(self, query: GetTopic) -> TopicView | None:
        """rounds: one topic request of the council, or None."""
        ...

    async def get_results(self, query: GetResults) -> RoundResults | None:
        """rounds: a round's results, or None for a round the council does not have."""
        ...

    async def list_answer_texts(self, query: ListAnswerTexts) -> AnswerTexts | None:
        """rounds: a page of a question's free texts, or None (no such round or question)."""
        ...

    async def list_polls(self, query: ListPolls) -> PollList:
        """rounds: the council's quick polls that have opened."""
        ...

    async def submit_poll_answer(self, command: SubmitPollAnswer) -> None:
        """rounds: someone answers a quick poll."""
        ...

    async def enter_paper_answers(self, command: EnterPaperAnswers) -> None:
        """rounds: staff enter a member's paper form."""
        ...

    async def tag_answer_text(self, command: TagAnswerText) -> None:
        """rounds: staff set a written answer's tags."""
        ...

    async def save_draft(self, command: SaveDraft) -> None:
        """rounds: keep a resident's answers so far."""
        ...

    async def publish_feedback(self, command: PublishFeedback) -> None:
        """feedback: publish the council's feedback on a closed round."""
        ...

    async def list_published(self, query: ListPublished) -> PublishedList:
        """feedback: closed rounds with their feedback, newest first."""
        ...

    async def create_campaign(self, command: CreateCampaign) -> None:
        """recruitment: start an invited-recruitment campaign."""
        ...

    async def import_register(self, command: ImportRegister) -> None:
        """recruitment: one batch of a campaign's register extract."""
        ...

    async def finish_register(self, command: FinishRegister) -> None:
        """recruitment: the whole extract was sent (batches and rows)."""
        ...

    async def draw_sample(self, command: DrawSample) -> None:
        """recruitment: draw a campaign's stratified sample."""
        ...

    async def close_campaign(self, command: CloseCampaign) -> None:
        """recruitment: close a campaign (codes stop, the extract is deleted)."""
        ...

    async def redeem_invitation(self, command: RedeemInvitation) -> None:
        """recruitment: a person drawn joins with their invitation code."""
        ...

    async def get_campaign(self, query: GetCampaign) -> CampaignView | None:
        """recruitment: a campaign's import, draw and conversion."""
        ...

    async def list_campaigns(self, query: ListCampaigns) -> CampaignList:
        """recruitment: the council's campaigns."""
        ...

    async def get_register_rejections(
        self, query: GetRegisterRejections
    ) -> RegisterRejections | None:
        """recruitment: a page of an extract's refused rows."""
        ...

    async def get_letters(self, query: GetLetters) -> Letters | None:
        """recruitment: a page of a drawn campaign's letters."""
        ...

    async def get_invitation_code(self, query: GetInvitationCode) -> InvitedView | None:
        """recruitment: what an invitation code stands for."""
        ...

    async def search_members(self, query: SearchMembers) -> MemberList:
        """recruitment: members without contact details, for staff."""
        ...

    async def configure_panel(self, command: ConfigurePanel) -> None:
        """recruitment: a panel's settings and consent text."""
        ...

    async def get_panel(self, query: GetPanel) -> PanelView | None:
        """recruitment: a panel's settings and current consent text."""
        ...

    async def list_panels(self, query: ListPanels) -> PanelList:
        """recruitment: the council's panels with their members."""
        ...

    async def get_my_panels(self, query: GetMyPanels) -> MyPanels | None:
        """recruitment: the signed-in member's panels and the council's others."""
        ...

    async def change_my_panels(self, command: ChangeMyPanels) -> None:
        """recruitment: the signed-in member chooses their panels."""
        ...

    async def change_my_phone(self, command: ChangeMyPhone) -> None:
        """recruitment: a code to a member's new mobile number."""
        ...

    async def preview_target(self, query: PreviewTarget) -> TargetPreview:
        """rounds: how many a round's target would invite now."""
        ...

    async def confirm_phone_change(self, command: ConfirmPhoneChange) -> None:
        """recruitment: the code typed; the new number takes effect."""
        ...

    async def renew_membership(self, command: RenewMembership) -> None:
        """recruitment: a member renews their term through the link in the notice."""
        ...

    async def start_open_campaign(self, command: StartOpenCampaign) -> None:
        """recruitment: an open campaign's sign-up link, dates and target."""
        ...

    async def list_open_campaigns(self, query: ListOpenCampaigns) -> OpenCampaignList:
        """recruitment: the open campaigns and the tell-a-friend link, with their counts."""
        ...

    async def get_representativeness_history(
        self, query: GetRepresentativenessHistory
    ) -> RepresentativenessHistory:
        """recruitment: the representativeness index month by month."""
        ...

    async def note_outreach(self, command: NoteOutreach) -> None:
        """rounds: staff's note on groups reached by other methods after a round."""
        ...

    async def outcome(self, command_id: str, timeout: float) -> Outcome | None:
        """The outcome of a command sent through this gateway, pushed by its owner once it is
        handled; None if it did not come within ``timeout`` seconds (ask the owner then)."""
        ...

    async def ready(self) -> bool:
        """Whether the gateway can reach the bus right now."""
        ...

    async def request_sign_in(self, command: RequestSignIn) -> None:
        """recruitment: mail a sign-in link if the address is an active member."""
        ...

    async def open_member_session(self, command: OpenMemberSession) -> None:
        """recruitment: exchange a sign-in link for a member session."""
        ...

    async def close_member_session(self, command: CloseMemberSession) -> None:
        """recruitment: end a member session."""
        ...

    async def request_sign_in_code(self, command: RequestSignInCode) -> None:
        """recruitment: text a sign-in code if the number is an active member's."""
        ...

    async def open_member_session_by_code(self, command: OpenMemberSessionByCode) -> None:
        """recruitment: exchange the code from a sign-in SMS for a member session."""
        ...

    async def get_my_membership(self, query: GetMyMembership) -> MyMembership | None:
        """recruitment: the signed-in member's details, or None for no live session."""
        ...

    async def change_my_details(self, command: ChangeMyDetails) -> None:
        """recruitment: the signed-in member changes their details."""
        ...

    async def change_my_email(self, command: ChangeMyEmail) -> None:
        """recruitment: the signed-in member asks to change their address."""
        ...

    async def confirm_email_change(self, command: ConfirmEmailChange) -> None:
        """recruitment: the link sent to a new address was followed."""
        ...

    async def pause_membership(self, command: PauseMembership) -> None:
        """recruitment: the signed-in member pauses until a day."""
        ...

    async def resume_membership(self, command: ResumeMembership) -> None:
        """recruitment: the signed-in member ends their pause."""
        ...

    async def erase_my_membership(self, command: EraseMyMembership) -> None:
        """recruitment: the signed-in member asks for erasure."""

    async def confirm_by_code(self, command: ConfirmByCode) -> None:
        """recruitment: a resident typed the code from the SMS after signing up by mobile."""
        ...

    async def import_members(self, command: ImportMembers) -> None:
        """recruitment: one batch of a file of members staff uploaded."""
        ...

    async def get_import(self, query: GetImport) -> ImportView | None:
        """recruitment: how an import of members went so far, or None before any batch."""
        ...

    async def list_invalid_contacts(self, query: ListInvalidContacts) -> InvalidContacts:
        """dispatch: members whose contact failed for good (never the address)."""
        ...


class NatsGateway:
    """The ``Gateway`` over NATS: JetStream for commands, request/reply for queries."""

    UNCLAIMED_SECONDS = 120.0
    """How long an outcome nobody asked for is kept before it is forgotten."""

    def __init__(self, nc: Any, *, timeout: float = 5.0) -> None:
        self._nc: NatsClient = nc
        self._js = nc.jetstream()
        self._timeout = timeout
        self._waiter = uuid.uuid4().hex
        """This replica's id: owners push outcomes of its commands to ``outcome.<id>``."""
        self._waiting: dict[str, tuple[float, asyncio.Future[Outcome]]] = {}
        self._subscription: Any = None

    async def listen(self) -> None:
        """Subscribe to this replica's outcome subject (once, after connecting)."""
        self._subscription = await self._nc.subscribe(
            outcome_subject(self._waiter), cb=self._on_outcome
        )

    async def _on_outcome(self, msg: Any) -> None:
        try:
            settled = CommandSettled.model_validate_json(msg.data)
        except ValueError:
            log.warning("malformed outcome notification ignored")
            return
        entry = self._waiting.get(settled.command_id)
        if entry is not None and not entry[1].done():
            entry[1].set_result(Outcome(status=settled.status, reason=settled.reason))

    def _expect(self, command_id: str) -> None:
        now = time.monotonic()
        for key in [k for k, (at, _) in self._waiting.items() if now - at > self.UNCLAIMED_SECONDS]:
            del self._waiting[key]
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = (now, future)

    async def outcome(self, command_id: str, timeout: float) -> Outcome | None:
        """The pushed outcome of a command this replica sent, or None after ``timeout``."""
        entry = self._waiting.get(command_id)
        if entry is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(entry[1]), timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(command_id, None)

    @classmethod
    async def connect(cls, login: BusLogin, *, timeout: float = 5.0) -> NatsGateway:
        """Connect to NATS as ``login`` says (the portal's own user), waiting for it if need
        be; reconnects forever if it drops later."""

        async def on_error(exc: Exception) -> None:
            log.warning("nats error", error=repr(exc)[:300])

        async def on_disconnect() -> None:
            log.warning("nats disconnected")

        async def on_reconnect() -> None:
            log.info("nats reconnected")

        nc = await login.connect(
            name="radslag-portal",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            error_cb=on_error,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
        gateway = cls(nc, timeout=timeout)
        await gateway.listen()
        return gateway

    async def close(self) -> None:
        """Flush and close the connection."""
        await self._nc.drain()

    async def ready(self) -> bool:
        """Connected to NATS right now."""
        return bool(self._nc.is_connected)

    async def _send(self, command: Command) -> None:
        # Registered before publishing: the outcome can come back before publish returns.
        self._expect(command.message_id)
        try:
            await publish(self._js, command, headers={REPLY_HEADER: outcome_subject(self._waiter)})
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            self._waiting.pop(command.message_id, None)
            raise PublishFailed(f"could not publish {command.name}: {exc!r}") from exc

    async def list_tenants(self, query: ListTenants) -> TenantList:
        """recruitment: every council and its member counts."""
        reply = await ask(self._nc, query, TenantList, timeout=self._timeout)
        return reply or TenantList(tenants=())

    async def enrol_member(self, command: EnrolMember) -> None:
        """recruitment: a resident signs up."""
        await self._send(command)

    async def confirm_membership(self, command: ConfirmMembership) -> None:
        """recruitment: a resident followed the confirmation link."""
        await self._send(command)

    async def leave_panel(self, command: LeavePanel) -> None:
        """recruitment: a member leaves the panel."""
        await self._send(command)

    async def membership_outcome(self, query: MembershipOutcome) -> Outcome:
        """recruitment: how a ``ConfirmMembership`` went."""
        reply = await ask(self._nc, query, Outcome, timeout=self._timeout)
        return reply or Outcome(status="pending")

    async def get_sign_up(self, query: GetSignUp) -> SignUpView | None:
        """recruitment: what an opt-in link would confirm."""
        return await ask(self._nc, query, SignUpView, timeout=self._timeout)

    async def erase_member(self, command: EraseMember) -> None:
        """recruitment: erase a member everywhere."""
        await self._send(command)

    async def set_population(self, command: SetPopulation) -> None:
        """recruitment: the council's population figures."""
        await self._send(command)

    async def get_panel_history(self, query: GetPanelHistory) -> PanelHistory:
        """recruitment: the panel's size, joins and leaves per month."""
        reply = await ask(self._nc, query, PanelHistory, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("recruitment gave no panel history")
        return reply

    async def get_representativeness(
        self, query: GetRepresentativeness
    ) -> Representativeness | None:
        """recruitment: the panel against the population."""
        return await ask(self._nc, query, Representativeness, timeout=self._timeout)

    async def get_erasure(self, query: GetErasure) -> ErasureView | None:
        """recruitment: where an erasure stands."""
        return await ask(self._nc, query, ErasureView, timeout=self._timeout)

    async def recruitment_member_data(self, query: RecruitmentMemberData) -> PersonalData | None:
        """recruitment: its records about a member."""
        return await ask(self._nc, query, PersonalData, timeout=self._timeout)

    async def rounds_member_data(self, query: RoundsMemberData) -> PersonalData | None:
        """rounds: its records about a member."""
        return await ask(self._nc, query, PersonalData, timeout=self._timeout)

    async def dispatch_member_data(self, query: DispatchMemberData) -> PersonalData | None:
        """dispatch: its records about a member."""
        return await ask(self._nc, query, PersonalData, timeout=self._timeout)

    async def get_invitation(self, query: GetInvitation) -> InvitationView | None:
        """rounds: the answer page for a personal link."""
        return await ask(self._nc, query, InvitationView, timeout=self._timeout)

    async def submit_response(self, command: SubmitResponse) -> None:
        """rounds: a resident's answers."""
        await self._send(command)

    async def response_outcome(self, query: ResponseOutcome) -> Outcome:
        """rounds: how a ``SubmitResponse`` went."""
        reply = await ask(self._nc, query, Outcome, timeout=self._timeout)
        return reply or Outcome(status="pending")

    async def list_rounds(self, query: ListRounds) -> RoundList:
        """rounds: the council's rounds."""
        reply = await ask(self._nc, query, RoundList, timeout=self._timeout)
        return reply or RoundList(rounds=())

    async def get_round(self, query: GetRound) -> RoundView | None:
        """rounds: one round of the council."""
        return await ask(self._nc, query, RoundView, timeout=self._timeout)

    async def create_round(self, command: CreateRound) -> None:
        """rounds: draft a new round."""
        await self._send(command)

    async def approve_round(self, command: ApproveRound) -> None:
        """rounds: approve a draft."""
        await self._send(command)

    async def open_round(self, command: OpenRound) -> None:
        """rounds: open an approved round."""
        await self._send(command)

    async def close_round(self, command: CloseRound) -> None:
        """rounds: close an open round."""
        await self._send(command)

    async def edit_round(self, command: EditRound) -> None:
        """rounds: replace what a round asks."""
        await self._send(command)

    async def submit_round(self, command: SubmitRound) -> None:
        """rounds: submit a draft to the steering group."""
        await self._send(command)

    async def return_round(self, command: ReturnRound) -> None:
        """rounds: return a submitted round with a comment."""
        await self._send(command)

    async def schedule_round(self, command: ScheduleRound) -> None:
        """rounds: schedule an approved round."""
        await self._send(command)

    async def extend_round(self, command: ExtendRound) -> None:
        """rounds: move a round's closing."""
        await self._send(command)

    async def publish_results(self, command: PublishResults) -> None:
        """rounds: publish a closed round's results."""
        await self._send(command)

    async def archive_round(self, command: ArchiveRound) -> None:
        """rounds: archive a round."""
        await self._send(command)

    async def ask_review(self, command: AskReview) -> None:
        """rounds: ask for a methodology review of a draft."""
        await self._send(command)

    async def approve_method(self, command: ApproveMethod) -> None:
        """rounds: the reviewer approves a round's method."""
        await self._send(command)

    async def ask_changes(self, command: AskChanges) -> None:
        """rounds: the reviewer asks for changes to a round."""
        await self._send(command)

    async def request_topic(self, command: RequestTopic) -> None:
        """rounds: put a topic request into the backlog."""
        await self._send(command)

    async def accept_topic(self, command: AcceptTopic) -> None:
        """rounds: accept a topic request."""
        await self._send(command)

    async def decline_topic(self, command: DeclineTopic) -> None:
        """rounds: decline a topic request, with a reason."""
        await self._send(command)

    async def plan_topic_round(self, command: PlanTopicRound) -> None:
        """rounds: link a topic request and the round made of it."""
        await self._send(command)

    async def list_topics(self, query: ListTopics) -> TopicList:
        """rounds: the council's topic requests."""
        reply = await ask(self._nc, query, TopicList, timeout=self._timeout)
        return reply or TopicList(topics=())

    async def get_topic(self, query: GetTopic) -> TopicView | None:
        """rounds: one topic request of the council."""
        return await ask(self._nc, query, TopicView, timeout=self._timeout)

    async def get_results(self, query: GetResults) -> RoundResults | None:
        """rounds: a round's results."""
        return await ask(self._nc, query, RoundResults, timeout=self._timeout)

    async def list_answer_texts(self, query: ListAnswerTexts) -> AnswerTexts | None:
        """rounds: a page of a question's free texts."""
        return await ask(self._nc, query, AnswerTexts, timeout=self._timeout)

    async def list_polls(self, query: ListPolls) -> PollList:
        """rounds: the council's quick polls."""
        reply = await ask(self._nc, query, PollList, timeout=self._timeout)
        return reply if reply is not None else PollList(polls=())

    async def submit_poll_answer(self, command: SubmitPollAnswer) -> None:
        """rounds: someone answers a quick poll."""
        await self._send(command)

    async def enter_paper_answers(self, command: EnterPaperAnswers) -> None:
        """rounds: staff enter a member's paper form."""
        await self._send(command)

    async def tag_answer_text(self, command: TagAnswerText) -> None:
        """rounds: staff set a written answer's tags."""
        await self._send(command)

    async def save_draft(self, command: SaveDraft) -> None:
        """rounds: keep a resident's answers so far."""
        await self._send(command)

    async def publish_feedback(self, command: PublishFeedback) -> None:
        """feedback: publish feedback on a closed round."""
        await self._send(command)

    async def list_published(self, query: ListPublished) -> PublishedList:
        """feedback: closed rounds with their feedback."""
        reply = await ask(self._nc, query, PublishedList, timeout=self._timeout)
        return reply or PublishedList(rounds=())

    async def create_campaign(self, command: CreateCampaign) -> None:
        """recruitment: start an invited-recruitment campaign."""
        await self._send(command)

    async def import_register(self, command: ImportRegister) -> None:
        """recruitment: one batch of a campaign's register extract."""
        await self._send(command)

    async def finish_register(self, command: FinishRegister) -> None:
        """recruitment: the whole extract was sent."""
        await self._send(command)

    async def draw_sample(self, command: DrawSample) -> None:
        """recruitment: draw a campaign's stratified sample."""
        await self._send(command)

    async def close_campaign(self, command: CloseCampaign) -> None:
        """recruitment: close a campaign."""
        await self._send(command)

    async def redeem_invitation(self, command: RedeemInvitation) -> None:
        """recruitment: a person drawn joins with their invitation code."""
        await self._send(command)

    async def get_campaign(self, query: GetCampaign) -> CampaignView | None:
        """recruitment: a campaign's import, draw and conversion."""
        return await ask(self._nc, query, CampaignView, timeout=self._timeout)

    async def list_campaigns(self, query: ListCampaigns) -> CampaignList:
        """recruitment: the council's campaigns."""
        reply = await ask(self._nc, query, CampaignList, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("recruitment gave no campaign list")
        return reply

    async def get_register_rejections(
        self, query: GetRegisterRejections
    ) -> RegisterRejections | None:
        """recruitment: a page of an extract's refused rows."""
        return await ask(self._nc, query, RegisterRejections, timeout=self._timeout)

    async def get_letters(self, query: GetLetters) -> Letters | None:
        """recruitment: a page of a drawn campaign's letters."""
        return await ask(self._nc, query, Letters, timeout=self._timeout)

    async def get_invitation_code(self, query: GetInvitationCode) -> InvitedView | None:
        """recruitment: what an invitation code stands for."""
        return await ask(self._nc, query, InvitedView, timeout=self._timeout)

    async def request_sign_in(self, command: RequestSignIn) -> None:
        """recruitment: mail a sign-in link if the address is an active member."""
        await self._send(command)

    async def open_member_session(self, command: OpenMemberSession) -> None:
        """recruitment: exchange a sign-in link for a member session."""
        await self._send(command)

    async def close_member_session(self, command: CloseMemberSession) -> None:
        """recruitment: end a member session."""
        await self._send(command)

    async def request_sign_in_code(self, command: RequestSignInCode) -> None:
        """recruitment: text a sign-in code if the number is an active member's."""
        await self._send(command)

    async def open_member_session_by_code(self, command: OpenMemberSessionByCode) -> None:
        """recruitment: exchange the code from a sign-in SMS for a member session."""
        await self._send(command)

    async def get_my_membership(self, query: GetMyMembership) -> MyMembership | None:
        """recruitment: the signed-in member's details."""
        return await ask(self._nc, query, MyMembership, timeout=self._timeout)

    async def change_my_details(self, command: ChangeMyDetails) -> None:
        """recruitment: the signed-in member changes their details."""
        await self._send(command)

    async def change_my_email(self, command: ChangeMyEmail) -> None:
        """recruitment: the signed-in member asks to change their address."""
        await self._send(command)

    async def confirm_email_change(self, command: ConfirmEmailChange) -> None:
        """recruitment: the link sent to a new address was followed."""
        await self._send(command)

    async def pause_membership(self, command: PauseMembership) -> None:
        """recruitment: the signed-in member pauses until a day."""
        await self._send(command)

    async def resume_membership(self, command: ResumeMembership) -> None:
        """recruitment: the signed-in member ends their pause."""
        await self._send(command)

    async def erase_my_membership(self, command: EraseMyMembership) -> None:
        """recruitment: the signed-in member asks for erasure."""
        await self._send(command)

    async def search_members(self, query: SearchMembers) -> MemberList:
        """recruitment: members without contact details, for staff."""
        reply = await ask(self._nc, query, MemberList, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("recruitment gave no member list")
        return reply

    async def configure_panel(self, command: ConfigurePanel) -> None:
        """recruitment: a panel's settings and consent text."""
        await self._send(command)

    async def get_panel(self, query: GetPanel) -> PanelView | None:
        """recruitment: a panel's settings and current consent text."""
        return await ask(self._nc, query, PanelView, timeout=self._timeout)

    async def list_panels(self, query: ListPanels) -> PanelList:
        """recruitment: the council's panels with their members."""
        reply = await ask(self._nc, query, PanelList, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("recruitment gave no panel list")
        return reply

    async def get_my_panels(self, query: GetMyPanels) -> MyPanels | None:
        """recruitment: the signed-in member's panels and the council's others."""
        return await ask(self._nc, query, MyPanels, timeout=self._timeout)

    async def change_my_panels(self, command: ChangeMyPanels) -> None:
        """recruitment: the signed-in member chooses their panels."""
        await self._send(command)

    async def change_my_phone(self, command: ChangeMyPhone) -> None:
        """recruitment: a code to a member's new mobile number."""
        await self._send(command)

    async def preview_target(self, query: PreviewTarget) -> TargetPreview:
        """rounds: how many a round's target would invite now."""
        reply = await ask(self._nc, query, TargetPreview, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("rounds gave no preview")
        return reply

    async def confirm_phone_change(self, command: ConfirmPhoneChange) -> None:
        """recruitment: the code typed; the new number takes effect."""
        await self._send(command)

    async def renew_membership(self, command: RenewMembership) -> None:
        """recruitment: a member renews their term through the link in the notice."""
        await self._send(command)

    async def confirm_by_code(self, command: ConfirmByCode) -> None:
        """recruitment: a resident typed the code from the SMS."""
        await self._send(command)

    async def start_open_campaign(self, command: StartOpenCampaign) -> None:
        """recruitment: an open campaign's sign-up link, dates and target."""
        await self._send(command)

    async def list_open_campaigns(self, query: ListOpenCampaigns) -> OpenCampaignList:
        """recruitment: the open campaigns and the tell-a-friend link, with their counts."""
        reply = await ask(self._nc, query, OpenCampaignList, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("recruitment gave no open campaigns")
        return reply

    async def import_members(self, command: ImportMembers) -> None:
        """recruitment: one batch of a file of members staff uploaded."""
        await self._send(command)

    async def get_import(self, query: GetImport) -> ImportView | None:
        """recruitment: how an import of members went so far."""
        return await ask(self._nc, query, ImportView, timeout=self._timeout)

    async def list_invalid_contacts(self, query: ListInvalidContacts) -> InvalidContacts:
        """dispatch: members whose contact failed for good."""
        reply = await ask(self._nc, query, InvalidContacts, timeout=self._timeout)
        if reply is None:
            raise QueryFailed("dispatch gave no list of invalid contacts")
        return reply

    async def get_representativeness_history(
        self, query: GetRepresentativenessHistory
    ) -> RepresentativenessHistory:
        """recruitment: the representativeness index month by month."""
        reply = await ask(self._nc, query, RepresentativenessHistory, timeout=self._timeout)
        return reply or RepresentativenessHistory(points=())

    async def note_outreach(self, command: NoteOutreach) -> None:
        """rounds: staff's note on groups reached by other methods after a round."""
        await self._send(command)
