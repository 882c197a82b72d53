"""A fake Gateway: records every command and query, answers queries from canned state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from contracts.dispatch import GetMemberData as DispatchMemberData
from contracts.envelope import Command, Query
from contracts.feedback import ListPublished, PublishedList, PublishedRound, PublishFeedback
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
    GetSignUp,
    LeavePanel,
    ListTenants,
    MembershipOutcome,
    Outcome,
    PanelHistory,
    Representativeness,
    SetPopulation,
    SignUpView,
    TenantList,
    TenantView,
)
from contracts.recruitment import GetMemberData as RecruitmentMemberData
from contracts.rounds import (
    ApproveRound,
    BreakdownCell,
    CloseRound,
    CreateRound,
    GetInvitation,
    GetResults,
    GetRound,
    InvitationView,
    ListRounds,
    OpenRound,
    OptionCount,
    Question,
    QuestionResult,
    ResponseOutcome,
    RoundList,
    RoundResults,
    RoundView,
    SubmitResponse,
)
from contracts.rounds import GetMemberData as RoundsMemberData
from infra.queries import QueryFailed

C = TypeVar("C", bound=Command)

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
        self.rounds: dict[tuple[str, str], RoundView] = {}
        self.published: dict[str, list[PublishedRound]] = {}
        self.apply_commands = True
        """Whether round commands change the canned rounds (as the rounds service would)."""
        self.is_ready = True
        self.push_outcomes = True
        self.withhold_results = False
        """Answer results as rounds does for an open round with too few answers."""
        """Whether owners push outcomes; off, the portal must fall back to asking once."""

    def sent(self, kind: type[C]) -> list[C]:
        """The commands of one type sent so far."""
        return [c for c in self.commands if isinstance(c, kind)]

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
        if isinstance(command, SubmitResponse):
            return None if self.response.status == "pending" else self.response
        if isinstance(command, EraseMember):
            return self.erase_outcome
        if isinstance(command, LeavePanel):
            return self.leave_outcome
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

    async def response_outcome(self, query: ResponseOutcome) -> Outcome:
        self._asked(query)
        return self.response

    async def list_rounds(self, query: ListRounds) -> RoundList:
        self._asked(query)
        mine = [v for (t, _), v in self.rounds.items() if t == query.tenant]
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
            rounds = [r for r in rounds if r.feedback is not None]
        return PublishedList(rounds=tuple(rounds))

    async def confirm_by_code(self, command: ConfirmByCode) -> None:
        self.commands.append(command)
