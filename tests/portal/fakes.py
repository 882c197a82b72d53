"""A fake Gateway: records every command and query, answers queries from canned state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

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
    Letter,
    Letters,
    ListCampaigns,
    ListOpenCampaigns,
    OpenCampaignList,
    OpenCampaignView,
    RedeemInvitation,
    RegisterRejections,
    StartOpenCampaign,
)
from contracts.contacts import InvalidContact, InvalidContacts, ListInvalidContacts
from contracts.dispatch import GetMemberData as DispatchMemberData
from contracts.envelope import Command, Query
from contracts.feedback import ListPublished, PublishedList, PublishedRound, PublishFeedback
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
    MemberSummary,
    MyMembership,
    OpenMemberSession,
    OpenMemberSessionByCode,
    PauseMembership,
    RequestSignIn,
    RequestSignInCode,
    ResumeMembership,
    SearchMembers,
)
from contracts.panels import (
    ChangeMyPanels,
    ConfigurePanel,
    ConsentVersion,
    GetMyPanels,
    GetPanel,
    ListPanels,
    MyPanels,
    PanelChoice,
    PanelList,
    PanelSettings,
    PanelSummary,
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
    ImportBatch,
    ImportMembers,
    ImportView,
    LeavePanel,
    ListTenants,
    MembershipOutcome,
    Outcome,
    PanelHistory,
    Representativeness,
    RepresentativenessHistory,
    RowRejection,
    SetPopulation,
    SignUpView,
    TenantList,
    TenantView,
)
from contracts.recruitment import GetMemberData as RecruitmentMemberData
from contracts.round_lifecycle import (
    ArchiveRound,
    ExtendRound,
    PublishResults,
    ReturnRound,
    RoundSchedule,
    ScheduleRound,
    SubmitRound,
)
from contracts.round_review import ApproveMethod, AskChanges, AskReview, ReviewView
from contracts.rounds import (
    AnswerText,
    AnswerTexts,
    ApproveRound,
    BreakdownCell,
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
    OptionCount,
    PollList,
    PollView,
    PreviewTarget,
    Question,
    QuestionResult,
    ResponseOutcome,
    RoundList,
    RoundResults,
    RoundView,
    SaveDraft,
    SubmitPollAnswer,
    SubmitResponse,
    TagAnswerText,
    TagCount,
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
from infra.queries import QueryFailed
from infra.tokens import token_hash

C = TypeVar("C", bound=Command)
Q = TypeVar("Q", bound=Query)

TOKEN = "t" * 43
"""A well-formed personal-link token."""

QUESTIONS = (
    Question(
        key="q1",
        kind="single_choice",
        text="Should the library open on Sundays?",
        options=("Yes", "No", "Don't know"),
    ),
    Question(key="q2", kind="free_text", text="What else would you like?"),
)


def round_view(round_id: str, state: str = "draft", **fields: object) -> RoundView:
    """A round as the rounds service would answer."""
    data: dict[str, object] = {
        "round_id": round_id,
        "title": "Library opening hours",
        "purpose": "The culture committee decides on opening hours in May.",
        "state": state,
        "questions": QUESTIONS,
        "invited": 40,
        "responded": 17,
        "created_at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    }
    data.update(fields)
    return RoundView.model_validate(data)


def results_for(view: RoundView) -> RoundResults:
    """Results with one visible and one suppressed breakdown cell per dimension."""
    counts = (
        OptionCount(option="Yes", count=10, percent=58.8),
        OptionCount(option="No", count=5, percent=29.4),
        OptionCount(option="Don't know", count=2, percent=11.8),
    )
    return RoundResults(
        round=view,
        response_rate=42.5,
        suppression_threshold=5,
        questions=(
            QuestionResult(
                key="q1",
                text=QUESTIONS[0].text,
                kind="single_choice",
                answered=17,
                options=counts,
                free_texts=(),
                by_age_band=(
                    BreakdownCell(group="30-44", respondents=12, counts=counts),
                    BreakdownCell(group="16-29", respondents=None, counts=None),
                ),
                by_gender=(
                    BreakdownCell(group="female", respondents=9, counts=counts),
                    BreakdownCell(group="other", respondents=None, counts=None),
                ),
            ),
            QuestionResult(
                key="q2",
                text=QUESTIONS[1].text,
                kind="free_text",
                answered=2,
                options=(),
                free_texts=("More e-books <please>", "Longer hours\non Fridays"),
                by_age_band=(),
                by_gender=(),
            ),
        ),
    )


class FakeGateway:
    """In-memory stand-in for the back-end services, for fast portal tests."""

    def __init__(self) -> None:
        self.tenants = [
            TenantView(
                tenant="gnosjo", display_name="Gnosjö kommun", members_active=12, members_pending=3
            ),
            TenantView(
                tenant="vaggeryd",
                display_name="Vaggeryds kommun",
                members_active=7,
                members_pending=0,
            ),
        ]
        self.commands: list[Command] = []
        self.queries: list[Query] = []
        self.down: set[str] = set()
        """Names of queries that fail as if their owner were down."""
        self.membership = Outcome(status="done")
        self.erasures: dict[tuple[str, str], ErasureView] = {}
        self.erase_outcome = Outcome(status="done")
        self.leave_outcome = Outcome(status="done")
        self.representativeness: Representativeness | None = None
        self.history = PanelHistory(months=())
        self.member_data: dict[str, PersonalData] = {}
        """Each service's records about the member asked for (none: no such member)."""
        # What every opt-in link would confirm (None: an unknown, used or expired link).
        self.sign_up: SignUpView | None = SignUpView(
            email="anna@example.se",
            birth_year=1984,
            gender="female",
            district="Hillerstorp",
            consent_version="2026-1",
        )
        self.response = Outcome(status="done")
        self.invitations: dict[tuple[str, str], InvitationView] = {}
        self.answer_texts: dict[tuple[str, str, str], list[str]] = {}
        self.text_tags: dict[tuple[str, str, str, str], tuple[str, ...]] = {}
        """Staff's tags by (tenant, round, question, ref), as TagAnswerText sets them."""
        self.polls: dict[str, list[PollView]] = {}
        self.rounds: dict[tuple[str, str], RoundView] = {}
        self.published: dict[str, list[PublishedRound]] = {}
        self.apply_commands = True
        self.topics: dict[tuple[str, str], TopicView] = {}
        """Whether round commands change the canned rounds (as the rounds service would)."""
        self.campaigns: dict[tuple[str, str], CampaignView] = {}
        self.letters: list[Letter] = [
            Letter(
                name="Anna Berg",
                address="Storgatan 1",
                postcode="335 30",
                town="Gnosjö",
                link=f"http://portal.test/t/gnosjo/invited/{TOKEN}",
                code="7K3QM-X9C2D",
            )
        ]
        self.invited: dict[str, InvitedView] = {}
        """What each invitation code stands for (by the code as typed or linked)."""
        self.redeem_outcome = Outcome(status="done")
        self.index_history = RepresentativenessHistory(points=())
        self.open_campaigns: list[OpenCampaignView] = [
            OpenCampaignView(
                slug="friend",
                title="",
                starts_on="",
                ends_on="",
                target=None,
                state="running",
                signed_up=4,
                joined=3,
            )
        ]
        self.panel = PanelView(
            panel="general",
            settings=PanelSettings(),
            consent_text="",
            consent_version="2026-1",
            consent_versions=(ConsentVersion(version="2026-1", since="", members=12),),
        )
        self.other_panels: dict[str, PanelView] = {}
        self.members: list[MemberSummary] = [
            MemberSummary(
                member_id=f"0000000{n}-0000-4000-8000-000000000000",
                state="active",
                birth_year=1960 + n,
                age_band="45-64",
                gender="female" if n % 2 else "male",
                district="Hillerstorp",
                source="web",
                joined_on="2026-05-01",
            )
            for n in range(3)
        ]
        self.rejections: list[RowRejection] = []
        self.is_ready = True
        self.push_outcomes = True
        self.withhold_results = False
        """Answer results as rounds does for an open round with too few answers."""
        """Whether owners push outcomes; off, the portal must fall back to asking once."""
        self.member_sessions: dict[tuple[str, str], MyMembership] = {}
        """Live member sessions by (council, session token hash), as recruitment keeps them."""
        self.me = MyMembership(
            member_id="m-1",
            email="anna@example.se",
            birth_year=1984,
            gender="female",
            district="Hillerstorp",
            locale="sv",
            heard_from="",
            works_for_council=None,
            paused_until=None,
            email_change_to=None,
        )
        """The member a sign-in link opens a session for."""
        self.self_service: dict[str, Outcome] = {}
        """Outcomes of self-service commands by command name (default: done)."""

    def sent(self, kind: type[C]) -> list[C]:
        """The commands of one type sent so far."""
        return [c for c in self.commands if isinstance(c, kind)]

    def asked(self, kind: type[Q]) -> list[Q]:
        """The queries of one type asked so far."""
        return [q for q in self.queries if isinstance(q, kind)]

    def _asked(self, query: Query) -> None:
        self.queries.append(query)
        if query.name in self.down:
            raise QueryFailed(f"{query.owner} did not answer {query.name}")

    async def ready(self) -> bool:
        return self.is_ready

    async def outcome(self, command_id: str, timeout: float) -> Outcome | None:
        """Pushed at once (None, as if it timed out, when ``push_outcomes`` is off)."""
        if not self.push_outcomes:
            return None
        command = next((c for c in self.commands if c.message_id == command_id), None)
        if isinstance(command, ConfirmMembership | ConfirmByCode):
            return None if self.membership.status == "pending" else self.membership
        if isinstance(command, SubmitResponse | SubmitPollAnswer | EnterPaperAnswers | SaveDraft):
            return None if self.response.status == "pending" else self.response
        if isinstance(command, EraseMember):
            return self.erase_outcome
        if isinstance(command, LeavePanel):
            return self.leave_outcome
        if isinstance(command, RedeemInvitation):
            return self.redeem_outcome
        if command is not None and command.name in self.self_service:
            return self.self_service[command.name]
        return Outcome(status="done") if command is not None else None

    async def list_tenants(self, query: ListTenants) -> TenantList:
        self._asked(query)
        return TenantList(tenants=tuple(self.tenants))

    async def enrol_member(self, command: EnrolMember) -> None:
        self.commands.append(command)

    async def confirm_membership(self, command: ConfirmMembership) -> None:
        self.commands.append(command)

    async def membership_outcome(self, query: MembershipOutcome) -> Outcome:
        self._asked(query)
        return self.membership

    async def get_sign_up(self, query: GetSignUp) -> SignUpView | None:
        self._asked(query)
        return self.sign_up

    async def recruitment_member_data(self, query: RecruitmentMemberData) -> PersonalData | None:
        self._asked(query)
        return self.member_data.get("recruitment")

    async def rounds_member_data(self, query: RoundsMemberData) -> PersonalData | None:
        self._asked(query)
        return self.member_data.get("rounds", PersonalData(service="rounds", sections={}))

    async def dispatch_member_data(self, query: DispatchMemberData) -> PersonalData | None:
        self._asked(query)
        return self.member_data.get("dispatch", PersonalData(service="dispatch", sections={}))

    async def get_panel_history(self, query: GetPanelHistory) -> PanelHistory:
        self._asked(query)
        return self.history

    async def set_population(self, command: SetPopulation) -> None:
        self.commands.append(command)

    async def get_representativeness(
        self, query: GetRepresentativeness
    ) -> Representativeness | None:
        self._asked(query)
        return self.representativeness

    async def leave_panel(self, command: LeavePanel) -> None:
        self.commands.append(command)

    async def erase_member(self, command: EraseMember) -> None:
        self.commands.append(command)

    async def get_erasure(self, query: GetErasure) -> ErasureView | None:
        self._asked(query)
        return self.erasures.get((query.tenant, query.member_id))

    async def get_invitation(self, query: GetInvitation) -> InvitationView | None:
        self._asked(query)
        return self.invitations.get((query.tenant, query.token))

    async def submit_response(self, command: SubmitResponse) -> None:
        self.commands.append(command)

    async def list_polls(self, query: ListPolls) -> PollList:
        self._asked(query)
        return PollList(polls=tuple(self.polls.get(query.tenant, ())))

    async def submit_poll_answer(self, command: SubmitPollAnswer) -> None:
        self.commands.append(command)

    async def enter_paper_answers(self, command: EnterPaperAnswers) -> None:
        self.commands.append(command)

    async def save_draft(self, command: SaveDraft) -> None:
        self.commands.append(command)

    async def tag_answer_text(self, command: TagAnswerText) -> None:
        self.commands.append(command)
        key = (command.tenant, command.round_id, command.question, command.ref)
        self.text_tags[key] = tuple(sorted(set(command.tags), key=str.casefold))

    async def response_outcome(self, query: ResponseOutcome) -> Outcome:
        self._asked(query)
        return self.response

    async def list_rounds(self, query: ListRounds) -> RoundList:
        self._asked(query)
        mine = [
            v
            for (t, _), v in self.rounds.items()
            if t == query.tenant and (not query.panels or v.panel in query.panels)
        ]
        return RoundList(rounds=tuple(mine))

    async def get_round(self, query: GetRound) -> RoundView | None:
        self._asked(query)
        return self.rounds.get((query.tenant, query.round_id))

    def _move(self, tenant: str, round_id: str, state: str) -> None:
        key = (tenant, round_id)
        if self.apply_commands and key in self.rounds:
            self.rounds[key] = self.rounds[key].model_copy(update={"state": state})

    async def create_round(self, command: CreateRound) -> None:
        self.commands.append(command)
        if self.apply_commands:
            self.rounds[(command.tenant, command.round_id)] = round_view(
                command.round_id,
                title=command.title,
                purpose=command.purpose,
                questions=command.questions,
                invited=0,
                responded=0,
            ).model_copy(
                update={
                    "panel": command.panel,
                    "target": command.target,
                    "languages": command.languages,
                    "translations": command.translations,
                }
            )

    async def approve_round(self, command: ApproveRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "approved")

    async def open_round(self, command: OpenRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "open")

    async def close_round(self, command: CloseRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "closed")

    async def edit_round(self, command: EditRound) -> None:
        self.commands.append(command)
        key = (command.tenant, command.round_id)
        if self.apply_commands and key in self.rounds:
            view = self.rounds[key]
            back = "draft" if view.state in ("submitted", "approved", "scheduled") else view.state
            self.rounds[key] = view.model_copy(
                update={
                    "title": command.title,
                    "purpose": command.purpose,
                    "questions": command.questions,
                    "panel": command.panel,
                    "target": command.target,
                    "state": back,
                    "revision": view.revision + 1,
                    "languages": command.languages,
                    "translations": command.translations,
                }
            )

    async def submit_round(self, command: SubmitRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "submitted")

    async def return_round(self, command: ReturnRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "returned")

    async def schedule_round(self, command: ScheduleRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "scheduled")
        key = (command.tenant, command.round_id)
        if self.apply_commands and key in self.rounds:
            schedule = RoundSchedule(
                open_at=command.open_at,
                close_at=command.closes,
                reminder_days=command.reminder_days,
            )
            self.rounds[key] = self.rounds[key].model_copy(update={"schedule": schedule})

    async def extend_round(self, command: ExtendRound) -> None:
        self.commands.append(command)
        key = (command.tenant, command.round_id)
        view = self.rounds.get(key)
        if self.apply_commands and view is not None and view.schedule is not None:
            schedule = view.schedule.model_copy(update={"close_at": command.close_at})
            self.rounds[key] = view.model_copy(update={"schedule": schedule})

    async def publish_results(self, command: PublishResults) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "published")

    async def archive_round(self, command: ArchiveRound) -> None:
        self.commands.append(command)
        self._move(command.tenant, command.round_id, "archived")

    def _review(self, tenant: str, round_id: str, status: str, by: str, **more: Any) -> None:
        key = (tenant, round_id)
        if self.apply_commands and key in self.rounds:
            view = self.rounds[key]
            old = view.review.model_dump() if view.review else {}
            fields = {**old, "status": status, "revision": view.revision, **more}
            if by:
                fields["asked_by"] = by
            review = ReviewView.model_validate(fields)
            self.rounds[key] = view.model_copy(update={"review": review})

    async def ask_review(self, command: AskReview) -> None:
        self.commands.append(command)
        self._review(command.tenant, command.round_id, "asked", command.asked_by, note=command.note)

    async def approve_method(self, command: ApproveMethod) -> None:
        self.commands.append(command)
        self._review(
            command.tenant, command.round_id, "passed", "", reviewed_by=command.reviewed_by
        )

    async def ask_changes(self, command: AskChanges) -> None:
        self.commands.append(command)
        self._review(
            command.tenant,
            command.round_id,
            "changes_asked",
            "",
            reviewed_by=command.reviewed_by,
            comment=command.comment,
            question_comments=dict(command.question_comments),
        )

    def _topic_moves(self, tenant: str, topic_id: str, **update: Any) -> None:
        key = (tenant, topic_id)
        if self.apply_commands and key in self.topics:
            self.topics[key] = self.topics[key].model_copy(update=update)

    async def request_topic(self, command: RequestTopic) -> None:
        self.commands.append(command)
        if self.apply_commands:
            self.topics[(command.tenant, command.topic_id)] = TopicView(
                topic_id=command.topic_id,
                title=command.title,
                question=command.question,
                decision=command.decision,
                needed_by=command.needed_by,
                asked_by=command.asked_by,
                contact=command.contact,
                status="new",
                requested_by=command.requested_by,
                requested_at=command.occurred_at,
            )

    async def accept_topic(self, command: AcceptTopic) -> None:
        self.commands.append(command)
        self._topic_moves(command.tenant, command.topic_id, status="accepted")

    async def decline_topic(self, command: DeclineTopic) -> None:
        self.commands.append(command)
        self._topic_moves(
            command.tenant, command.topic_id, status="declined", reason=command.reason
        )

    async def plan_topic_round(self, command: PlanTopicRound) -> None:
        self.commands.append(command)
        self._topic_moves(
            command.tenant, command.topic_id, status="planned", round_id=command.round_id
        )
        key = (command.tenant, command.round_id)
        if self.apply_commands and key in self.rounds:
            self.rounds[key] = self.rounds[key].model_copy(update={"topic_id": command.topic_id})

    async def list_topics(self, query: ListTopics) -> TopicList:
        self._asked(query)
        mine = [v for (t, _), v in self.topics.items() if t == query.tenant]
        return TopicList(topics=tuple(v for v in mine if query.status in (None, v.status)))

    async def get_topic(self, query: GetTopic) -> TopicView | None:
        self._asked(query)
        return self.topics.get((query.tenant, query.topic_id))

    async def list_answer_texts(self, query: ListAnswerTexts) -> AnswerTexts | None:
        self._asked(query)
        texts = self.answer_texts.get((query.tenant, query.round_id, query.question))
        view = self.rounds.get((query.tenant, query.round_id))
        if texts is None and view is not None:
            # The written answers of the canned results, paged as rounds pages them.
            canned = {q.key: list(q.free_texts) for q in results_for(view).questions}
            texts = canned.get(query.question)
        if texts is None:
            return None
        where = (query.tenant, query.round_id, query.question)
        found = [
            AnswerText(text=t, ref=f"{n:032x}", tags=self.text_tags.get((*where, f"{n:032x}"), ()))
            for n, t in enumerate(texts)
            if query.search.casefold() in t.casefold()
        ]
        counts: dict[str, int] = {}
        for (*key, _), tags in self.text_tags.items():
            if tuple(key) == where:
                for tag in tags:
                    counts[tag] = counts.get(tag, 0) + 1
        if query.tag:
            found = [t for t in found if query.tag in t.tags]
        start = int(query.after or 0)
        page = found[start : start + query.limit]
        more = start + query.limit < len(found)
        return AnswerTexts(
            texts=tuple(page),
            next_after=str(start + query.limit) if more else None,
            total=len(texts),
            tags=tuple(TagCount(tag=t, count=n) for t, n in sorted(counts.items())),
        )

    async def get_results(self, query: GetResults) -> RoundResults | None:
        self._asked(query)
        view = self.rounds.get((query.tenant, query.round_id))
        if view is None:
            return None
        if self.withhold_results:
            return results_for(view).model_copy(update={"questions": (), "withheld_until": 20})
        return results_for(view)

    async def publish_feedback(self, command: PublishFeedback) -> None:
        self.commands.append(command)

    async def list_published(self, query: ListPublished) -> PublishedList:
        self._asked(query)
        rounds = self.published.get(query.tenant, [])
        if query.only_published:
            rounds = [r for r in rounds if r.results_published_at is not None]
        return PublishedList(rounds=tuple(rounds))

    # -- campaigns: the canned campaigns change as recruitment would change them -------------

    def _campaign(self, tenant: str, campaign_id: str, **changes: object) -> None:
        view = self.campaigns[(tenant, campaign_id)]
        self.campaigns[(tenant, campaign_id)] = view.model_copy(update=changes)

    async def create_campaign(self, command: CreateCampaign) -> None:
        self.commands.append(command)
        self.campaigns[(command.tenant, command.campaign_id)] = CampaignView(
            campaign_id=command.campaign_id,
            title=command.title,
            state="importing",
            created_on="2026-11-24",
            closes_on=command.closes_on,
            exclude_drawn_months=command.exclude_drawn_months,
            panel=command.panel,
            batches_expected=None,
            batches_done=0,
            rows=0,
            eligible=0,
            rejected=0,
            excluded=0,
            seed=None,
            method="",
            invited=0,
            joined=0,
            strata=(),
        )

    async def import_register(self, command: ImportRegister) -> None:
        self.commands.append(command)
        view = self.campaigns[(command.tenant, command.campaign_id)]
        self._campaign(
            command.tenant,
            command.campaign_id,
            batches_done=view.batches_done + 1,
            rows=view.rows + len(command.rows),
            eligible=view.eligible + len(command.rows),
        )

    async def finish_register(self, command: FinishRegister) -> None:
        self.commands.append(command)
        self._campaign(command.tenant, command.campaign_id, batches_expected=command.batches)

    async def draw_sample(self, command: DrawSample) -> None:
        self.commands.append(command)
        self._campaign(
            command.tenant,
            command.campaign_id,
            state="drawn",
            seed=command.seed or 4711,
            method=command.method,
            invited=command.size,
        )

    async def close_campaign(self, command: CloseCampaign) -> None:
        self.commands.append(command)
        self._campaign(command.tenant, command.campaign_id, state="closed")

    async def redeem_invitation(self, command: RedeemInvitation) -> None:
        self.commands.append(command)

    async def get_campaign(self, query: GetCampaign) -> CampaignView | None:
        self._asked(query)
        return self.campaigns.get((query.tenant, query.campaign_id))

    async def list_campaigns(self, query: ListCampaigns) -> CampaignList:
        self._asked(query)
        return CampaignList(
            campaigns=tuple(v for (t, _), v in self.campaigns.items() if t == query.tenant)
        )

    async def get_register_rejections(
        self, query: GetRegisterRejections
    ) -> RegisterRejections | None:
        self._asked(query)
        if (query.tenant, query.campaign_id) not in self.campaigns:
            return None
        half = len(self.rejections) // 2
        if query.after_batch == 0 and half:
            return RegisterRejections(rejections=tuple(self.rejections[:half]), next_batch=1)
        return RegisterRejections(
            rejections=tuple(self.rejections[half if query.after_batch else 0 :]), next_batch=None
        )

    async def get_letters(self, query: GetLetters) -> Letters | None:
        self._asked(query)
        view = self.campaigns.get((query.tenant, query.campaign_id))
        if view is None or view.state != "drawn":
            return None
        page = self.letters[query.offset : query.offset + query.limit]
        return Letters(
            council="Gnosjö kommun",
            closes_on=view.closes_on,
            total=len(self.letters),
            letters=tuple(page),
        )

    async def get_invitation_code(self, query: GetInvitationCode) -> InvitedView | None:
        self._asked(query)
        return self.invited.get(query.code)

    # -- member self-service -------------------------------------------------------------

    async def request_sign_in(self, command: RequestSignIn) -> None:
        self.commands.append(command)

    async def open_member_session(self, command: OpenMemberSession) -> None:
        self.commands.append(command)
        if self.self_service.get(command.name, Outcome(status="done")).status == "done":
            self.member_sessions[(command.tenant, command.session_hash)] = self.me

    async def request_sign_in_code(self, command: RequestSignInCode) -> None:
        self.commands.append(command)

    async def open_member_session_by_code(self, command: OpenMemberSessionByCode) -> None:
        self.commands.append(command)
        if self.self_service.get(command.name, Outcome(status="done")).status == "done":
            self.member_sessions[(command.tenant, command.session_hash)] = self.me

    async def close_member_session(self, command: CloseMemberSession) -> None:
        self.commands.append(command)
        self.member_sessions.pop((command.tenant, token_hash(command.session)), None)

    async def get_my_membership(self, query: GetMyMembership) -> MyMembership | None:
        self._asked(query)
        return self.member_sessions.get((query.tenant, token_hash(query.session)))

    async def change_my_details(self, command: ChangeMyDetails) -> None:
        self.commands.append(command)

    async def change_my_email(self, command: ChangeMyEmail) -> None:
        self.commands.append(command)

    async def confirm_email_change(self, command: ConfirmEmailChange) -> None:
        self.commands.append(command)

    async def pause_membership(self, command: PauseMembership) -> None:
        self.commands.append(command)

    async def resume_membership(self, command: ResumeMembership) -> None:
        self.commands.append(command)

    async def erase_my_membership(self, command: EraseMyMembership) -> None:
        self.commands.append(command)
        self.member_sessions.pop((command.tenant, token_hash(command.session)), None)

    async def search_members(self, query: SearchMembers) -> MemberList:
        self._asked(query)
        found = [
            m
            for m in self.members
            if (not query.district or m.district == query.district)
            and (not query.gender or m.gender == query.gender)
            and (not query.panels or set(query.panels) & set(m.panels))
            and m.member_id > query.after
        ]
        page = found[: query.limit]
        more = len(found) > query.limit
        return MemberList(members=tuple(page), next_after=page[-1].member_id if more else None)

    async def configure_panel(self, command: ConfigurePanel) -> None:
        self.commands.append(command)
        current = self.panel if command.panel == "general" else self.other_panels.get(command.panel)
        versions = current.consent_versions if current else ()
        version = current.consent_version if current else ""
        if current is None or command.consent_text != current.consent_text:
            prefix = "" if command.panel == "general" else f"{command.panel}-"
            version = f"{prefix}2026-{len(versions) + 1}"
            versions = (*versions, ConsentVersion(version=version, since="2026-11-24", members=0))
        view = PanelView(
            panel=command.panel,
            settings=command.settings,
            consent_text=command.consent_text,
            consent_version=version,
            consent_versions=versions,
        )
        if command.panel == "general":
            self.panel = view
        else:
            self.other_panels[command.panel] = view

    async def get_panel(self, query: GetPanel) -> PanelView | None:
        self._asked(query)
        if query.panel == "general":
            return self.panel
        return self.other_panels.get(query.panel)

    async def list_panels(self, query: ListPanels) -> PanelList:
        self._asked(query)
        views = [self.panel, *(self.other_panels[k] for k in sorted(self.other_panels))]
        return PanelList(
            panels=tuple(
                PanelSummary(
                    panel=v.panel,
                    name=v.settings.name,
                    owner=v.settings.owner,
                    remit=v.settings.remit,
                    members=sum(1 for m in self.members if v.panel in m.panels),
                )
                for v in views
            )
        )

    my_panels: tuple[str, ...] = ("general",)
    """The signed-in member's panels (``get_my_panels``)."""

    async def get_my_panels(self, query: GetMyPanels) -> MyPanels | None:
        self._asked(query)
        if (query.tenant, token_hash(query.session)) not in self.member_sessions:
            return None
        views = [self.panel, *(self.other_panels[k] for k in sorted(self.other_panels))]
        return MyPanels(
            panels=tuple(
                PanelChoice(
                    panel=v.panel,
                    name=v.settings.name,
                    remit=v.settings.remit,
                    member=v.panel in self.my_panels,
                    eligible=v.settings.max_age is None,
                )
                for v in views
            )
        )

    async def preview_target(self, query: PreviewTarget) -> TargetPreview:
        self._asked(query)
        segment = [m for m in self.members if query.panel in m.panels]
        if query.target.genders:
            segment = [m for m in segment if m.gender in query.target.genders]
        invited = len(segment)
        if query.target.sample is not None:
            invited = min(invited, query.target.sample)
        return TargetPreview(
            in_segment=len(segment), paused=0, over_cap=0, rested=0, invited=invited
        )

    async def change_my_phone(self, command: ChangeMyPhone) -> None:
        self.commands.append(command)

    async def confirm_phone_change(self, command: ConfirmPhoneChange) -> None:
        self.commands.append(command)

    async def change_my_panels(self, command: ChangeMyPanels) -> None:
        self.commands.append(command)
        if self.apply_commands:
            self.my_panels = command.panels

    async def renew_membership(self, command: RenewMembership) -> None:
        self.commands.append(command)

    async def confirm_by_code(self, command: ConfirmByCode) -> None:
        self.commands.append(command)

    async def start_open_campaign(self, command: StartOpenCampaign) -> None:
        self.commands.append(command)
        self.open_campaigns.append(
            OpenCampaignView(
                slug=command.slug,
                title=command.title,
                starts_on=command.starts_on,
                ends_on=command.ends_on,
                target=command.target,
                state="running",
                signed_up=0,
                joined=0,
            )
        )

    async def list_open_campaigns(self, query: ListOpenCampaigns) -> OpenCampaignList:
        self._asked(query)
        return OpenCampaignList(campaigns=tuple(self.open_campaigns))

    # -- member imports (appended) -------------------------------------------------------

    imports_handled: int | None = None
    """How many batches of each import recruitment has handled (None: every one sent)."""

    async def import_members(self, command: ImportMembers) -> None:
        self.commands.append(command)

    async def get_import(self, query: GetImport) -> ImportView | None:
        """Batches as recruitment would report them: a row whose e-mail has no @ is rejected
        (invalid_email); each page lists one batch's rejections."""
        self._asked(query)
        batches = [
            c
            for c in self.sent(ImportMembers)
            if c.tenant == query.tenant and c.import_id == query.import_id
        ][: self.imports_handled]
        if not batches:
            return None
        reports = []
        for c in batches:
            bad = [c.first_row + i for i, r in enumerate(c.rows) if "@" not in r.email]
            reports.append((c, bad))
        page = [(c, bad) for c, bad in reports if c.batch_no >= query.from_batch]
        return ImportView(
            import_id=query.import_id,
            batches=tuple(
                ImportBatch(
                    batch_no=c.batch_no,
                    rows=len(c.rows),
                    accepted=len(c.rows) - len(bad),
                    rejected=len(bad),
                )
                for c, bad in reports
            ),
            accepted=sum(len(c.rows) - len(bad) for c, bad in reports),
            rejected=sum(len(bad) for _, bad in reports),
            rejections=tuple(
                RowRejection(row=n, reason="invalid_email") for n in (page[0][1] if page else [])
            ),
            next_batch=page[1][0].batch_no if len(page) > 1 else None,
            batches_expected=next((c.batch_no for c in batches if c.last_batch), None),
        )

    # -- invalid contacts (appended) -----------------------------------------------------

    invalid_contacts: tuple[InvalidContact, ...] = ()
    """What dispatch lists as members whose contact failed for good."""

    async def list_invalid_contacts(self, query: ListInvalidContacts) -> InvalidContacts:
        self._asked(query)
        found = [c for c in self.invalid_contacts if f"{c.member_id}:{c.channel}" > query.after]
        page = found[: query.limit]
        more = len(found) > query.limit
        return InvalidContacts(
            contacts=tuple(page),
            next_after=f"{page[-1].member_id}:{page[-1].channel}" if more else None,
        )

    async def get_representativeness_history(
        self, query: GetRepresentativenessHistory
    ) -> RepresentativenessHistory:
        self._asked(query)
        return self.index_history

    async def note_outreach(self, command: NoteOutreach) -> None:
        self.commands.append(command)
