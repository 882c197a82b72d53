"""Messages owned by ``rounds``: questionnaires, their life cycle, invitations and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Event, Query
from contracts.languages import CheckedLanguages, RoundLanguages
from contracts.map import PinCell as PinCell  # re-exported: part of the results
from contracts.questions import Answer, QuestionKind, Questionnaire
from contracts.questions import MapPin as MapPin  # re-exported: part of the answers
from contracts.questions import Question as Question  # re-exported: rounds' questions
from contracts.questions import ShowIf as ShowIf
from contracts.round_lifecycle import ReminderView, RoundSchedule, RoundState, RoundStep
from contracts.round_review import ReviewView
from contracts.text import OneLine as OneLine  # re-exported: rounds' texts are these
from contracts.text import TrimmedText as TrimmedText
from contracts.text import clean_line as clean_line
from contracts.text import clean_text as clean_text


class Target(BaseModel):
    """Whom a round invites among its panel's active members: a segment (every list empty:
    the whole panel), optionally a random sample of it, leaving out members contacted by a
    round in the last ``rest_days`` days (besides the panel's cap per half-year and pauses)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    age_bands: tuple[Literal["16-29", "30-44", "45-64", "65-79", "80+"], ...] = Field(
        default=(), max_length=5, description="Age bands (contracts.bands); () every one."
    )
    genders: tuple[Literal["female", "male", "other", "undisclosed"], ...] = Field(
        default=(), max_length=4, description="Genders; () every one."
    )
    districts: tuple[Annotated[OneLine, Field(min_length=1)], ...] = Field(
        default=(), max_length=200, description="Districts (coded); () every one."
    )
    topics: tuple[Annotated[OneLine, Field(min_length=1, max_length=100)], ...] = Field(
        default=(), max_length=50, description="Members following any of these; () everyone."
    )
    sample: int | None = Field(
        default=None, ge=1, le=1_000_000, description="Invite a random sample of this many."
    )
    rest_days: int = Field(
        default=0, ge=0, le=365, description="Leave out members invited in this many days."
    )


class Promise(BaseModel):
    """What a round's results will be used for, stated to residents before the questions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision: Annotated[TrimmedText, Field(max_length=500)] = Field(
        default="", description="The decision the answers feed."
    )
    decided_on: str = Field(
        default="",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        description="When it is taken (YYYY-MM-DD, from the council's calendar).",
    )
    influence: Literal["consultation", "co-determination"] = Field(
        default="consultation",
        description="consultation: the answers inform the decision; co-determination: they "
        "decide part of it.",
    )
    not_promised: Annotated[TrimmedText, Field(max_length=1000)] = Field(
        default="", description="What cannot be promised (budget, law, what others decide)."
    )


Stage = Literal["questions", "approval", "dispatch", "analysis", "feedback"]
STAGES: tuple[Stage, ...] = ("questions", "approval", "dispatch", "analysis", "feedback")


class Plan(BaseModel):
    """The planning checklist of a draft: who does what, and by when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    goal: Annotated[TrimmedText, Field(max_length=1000)] = Field(
        default="", description="What the round is for."
    )
    deadline: str = Field(
        default="",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        description="When the results must be ready (YYYY-MM-DD).",
    )
    owners: dict[Stage, Annotated[OneLine, Field(min_length=1, max_length=120)]] = Field(
        default_factory=dict, description="Who owns each stage."
    )
    follow_up_owner: Annotated[OneLine, Field(max_length=120)] = Field(
        default="", description="The named owner of the follow-up to the panel."
    )
    review_needed: bool = Field(
        default=False,
        description="The round must pass a methodology review before it goes to the steering "
        "group (otherwise a review is optional).",
    )

    def missing(self) -> list[str]:
        """The checklist's open points."""
        found = [
            name for name in ("goal", "deadline", "follow_up_owner") if not getattr(self, name)
        ]
        return found + [f"owner:{s}" for s in STAGES if s not in self.owners]


class RoundAsks(CheckedLanguages, Questionnaire):
    """What a round asks, and of whom, and in which languages (with its texts translated):
    the part ``CreateRound`` and ``EditRound`` share."""

    title: OneLine = Field(min_length=1, max_length=200, description="Title shown to residents.")
    purpose: TrimmedText = Field(
        min_length=1, max_length=2000, description="What the answers will be used for."
    )
    questions: tuple[Question, ...] = Field(min_length=1, max_length=50, description="Questions.")
    panel: str = Field(
        default="general",
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="The council's panel whose members the round asks.",
    )
    target: Target = Field(default_factory=Target, description="Whom of the panel it invites.")


class CreateRound(RoundAsks, Command):
    """Draft a new question round."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "create_round"

    round_id: str = Field(description="Id chosen by the sender (UUID text).")
    longitudinal: bool = Field(
        default=False,
        description="Store answers under a pseudonym that links one member's answers across "
        "longitudinal rounds (never the member id); otherwise answers link to nothing.",
    )
    public: bool = Field(
        default=False,
        description="An open quick poll: anyone answers from its link or QR code without "
        "joining (no invitations; results marked self-selected).",
    )
    allow_changes: bool = Field(
        default=False,
        description="Members may change their answers through their link until it closes.",
    )
    promise: Promise = Field(
        default_factory=Promise, description="What residents are told the answers are for."
    )
    plan: Plan = Field(default_factory=Plan, description="The planning checklist.")
    introduction: Annotated[TrimmedText, Field(max_length=5000)] = Field(
        default="", description="Facts residents read before the questions (optional)."
    )
    created_by: str = Field(default="", max_length=80, description="Staff username.")


class EditRound(RoundAsks, Command):
    """Replace a round's title, purpose, questions, panel, target, languages and translations
    (left out: Swedish only, untranslated), and those of its promise,
    plan and settings that are given (the others stay). A draft or returned round stays as it
    is; a submitted, approved or scheduled one goes back to draft (and must be submitted and
    approved again); an open one can no longer be edited."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "edit_round"

    round_id: str = Field(description="The round.")
    edited_by: str = Field(min_length=1, max_length=80, description="Staff username.")
    promise: Promise | None = Field(default=None, description="A new promise; None keeps it.")
    plan: Plan | None = Field(default=None, description="A new checklist; None keeps it.")
    longitudinal: bool | None = Field(
        default=None, description="Answers under a pseudonym; None keeps the setting."
    )
    public: bool | None = Field(default=None, description="A quick poll; None keeps it.")
    allow_changes: bool | None = Field(
        default=None, description="Answers may change until it closes; None keeps it."
    )
    introduction: Annotated[TrimmedText, Field(max_length=5000)] | None = Field(
        default=None, description="New facts before the questions; None keeps them."
    )


class ApproveRound(Command):
    """The steering group approves a submitted round."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "approve_round"

    round_id: str = Field(description="The round.")
    approved_by: str = Field(description="Staff account that approved it.")
    revision: int | None = Field(
        default=None,
        description="The round's revision the steering group read (refused if edited since).",
    )


class OpenRound(Command):
    """Open a scheduled round now (the schedule opens it by itself at its time): invite the
    panel's active members."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "open_round"

    round_id: str = Field(description="The round.")
    opened_by: str = Field(default="", max_length=80, description="Staff username; '': schedule.")


class CloseRound(Command):
    """Close an open round now (the schedule closes it by itself at its time); no more
    answers are taken."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "close_round"

    round_id: str = Field(description="The round.")
    closed_by: str = Field(default="", max_length=80, description="Staff username; '': schedule.")


class SubmitResponse(Command):
    """A resident answers through their personal link."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "submit_response"

    token: str = Field(min_length=20, max_length=100, description="Token from the personal link.")
    answers: dict[str, Answer] = Field(
        max_length=50,
        description="Answer per question key (see contracts.questions for each kind's form).",
    )
    channel: Literal["web", "mail"] = Field(
        default="web",
        description="web: the answer page; mail: one click in the invitation, then confirmed.",
    )


class RoundOpened(Event):
    """A round opened; invitations follow."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "round_opened"

    round_id: str = Field(description="The round.")


class RoundClosed(Event):
    """A round closed."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "round_closed"

    round_id: str = Field(description="The round.")
    title: str = Field(description="The round's title.")
    invited: int = Field(description="How many members were invited.")
    responded: int = Field(description="How many answered.")


class RoundView(RoundLanguages):
    """A round as staff see it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: str = Field(description="The round.")
    title: str = Field(description="Title.")
    purpose: str = Field(description="What the answers will be used for.")
    state: RoundState = Field(description="Life-cycle state.")
    questions: tuple[Question, ...] = Field(description="Questions.")
    invited: int = Field(description="Members invited so far.")
    responded: int = Field(description="Members who answered.")
    created_at: datetime = Field(description="When it was drafted.")
    panel: str = Field(default="general", description="The panel it asks.")
    target: Target = Field(default_factory=Target, description="Whom of the panel it invites.")
    longitudinal: bool = Field(
        default=False, description="Answers are stored under a pseudonym linking the rounds."
    )
    public: bool = Field(default=False, description="An open quick poll anyone can answer.")
    allow_changes: bool = Field(
        default=False, description="Members may change their answers until it closes."
    )
    promise: Promise = Field(default_factory=Promise, description="The round's promise.")
    plan: Plan = Field(default_factory=Plan, description="The planning checklist.")
    introduction: str = Field(default="", description="Facts before the questions.")
    revision: int = Field(default=0, description="How often it was edited (an approval names it).")
    history: tuple[RoundStep, ...] = Field(
        default=(), description="Its recorded steps, oldest first (in GetRound; empty in lists)."
    )
    schedule: RoundSchedule | None = Field(default=None, description="Once scheduled: when.")
    review: ReviewView | None = Field(
        default=None, description="Its methodology review; None when none was asked."
    )
    topic_id: str = Field(default="", description="The backlog request it was made from, or ''.")
    reminders: tuple[ReminderView, ...] = Field(
        default=(), description="Its reminders and how many each reached (in GetRound)."
    )


class ListRounds(Query):
    """The council's rounds, newest first."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "list_rounds"

    panels: tuple[str, ...] = Field(
        default=(), max_length=20, description="Only the rounds of these panels; () every one."
    )


class RoundList(BaseModel):
    """Reply to ``ListRounds``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rounds: tuple[RoundView, ...] = Field(description="Rounds, newest first.")


class GetRound(Query):
    """One round of the council; the reply is ``RoundView`` or not found."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "get_round"

    round_id: str = Field(description="The round.")


class OptionCount(BaseModel):
    """How many chose one option (or scale value, number bin, pin category), with its 95 %
    confidence interval and, when the results are weighted, the weighted share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    option: str = Field(description="The option.")
    count: int = Field(description="Respondents who chose it.")
    percent: float = Field(
        description="Share of those who answered the question, 0-100 (multiple choice: of "
        "respondents, so shares can add up to more than 100; map categories: of pins)."
    )
    ci_low: float | None = Field(
        default=None, description="Lower end of the 95 % confidence interval (Wilson), 0-100."
    )
    ci_high: float | None = Field(
        default=None, description="Upper end of the 95 % confidence interval (Wilson), 0-100."
    )
    weighted_percent: float | None = Field(
        default=None, description="The share with post-stratification weights, 0-100."
    )
    weighted_ci_low: float | None = Field(
        default=None, description="Lower end of the weighted share's 95 % interval."
    )
    weighted_ci_high: float | None = Field(
        default=None, description="Upper end of the weighted share's 95 % interval."
    )


class RankCount(BaseModel):
    """A ranking question's summary for one option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    option: str = Field(description="The option.")
    average_rank: float = Field(description="Mean place given (1 = best).")
    first: int = Field(description="Respondents who put it first.")
    first_percent: float = Field(description="Share who put it first, 0-100.")
    ci_low: float | None = Field(default=None, description="95 % interval of the first share.")
    ci_high: float | None = Field(default=None, description="95 % interval of the first share.")


class BreakdownCell(BaseModel):
    """Counts of one group (an age band, gender or district) for one question; suppressed if
    small."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = Field(description="The group, e.g. '30-44' or 'female'.")
    respondents: int | None = Field(description="Respondents in the group; None if suppressed.")
    counts: tuple[OptionCount, ...] | None = Field(
        description="Counts per option within the group (ranking: first places); None when "
        "suppressed."
    )
    mean: float | None = Field(
        default=None, description="Scale and number: the group's mean; None when suppressed."
    )


class QuestionResult(BaseModel):
    """Results of one question."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="Question key.")
    text: str = Field(description="Question text.")
    kind: QuestionKind = Field(description="Question kind.")
    answered: int = Field(description="Respondents who answered this question.")
    options: tuple[OptionCount, ...] = Field(
        description="Counts per option (choices, yes/no), value (scale), bin (number, when "
        "it has a range) or category (map pins)."
    )
    free_texts: tuple[str, ...] = Field(
        default=(),
        description="Always empty: free texts are paged apart (ListAnswerTexts), so no reply "
        "grows with the number of responses.",
    )
    by_age_band: tuple[BreakdownCell, ...] = Field(description="Breakdown by age band.")
    by_gender: tuple[BreakdownCell, ...] = Field(description="Breakdown by gender.")
    by_district: tuple[BreakdownCell, ...] = Field(default=(), description="Breakdown by district.")
    mean: float | None = Field(default=None, description="Scale and number: the mean.")
    sd: float | None = Field(default=None, description="Scale and number: standard deviation.")
    mean_ci_low: float | None = Field(default=None, description="95 % interval of the mean.")
    mean_ci_high: float | None = Field(default=None, description="95 % interval of the mean.")
    weighted_mean: float | None = Field(default=None, description="The mean, weighted.")
    ranks: tuple[RankCount, ...] = Field(
        default=(), description="Ranking: average place and first places per option."
    )
    districts: tuple[OptionCount, ...] = Field(
        default=(), description="Map: pins per district ('' = outside every district)."
    )
    pins: tuple[PinCell, ...] = Field(
        default=(),
        description="Map: pins counted on a grid of rounded coordinates, per category (the "
        "fullest cells, at most contracts.map.MOST_CELLS), so the reply does not grow with "
        "the number of responses.",
    )
    texts: int = Field(
        default=0, description="Free text, and map pins with a comment: how many to page through."
    )


class DayCount(BaseModel):
    """Answers that came in on one day the round was open."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    day: str = Field(description="The day (YYYY-MM-DD).")
    answers: int = Field(description="Answers that day.")
    cumulative_rate: float = Field(description="Response rate at the end of that day, 0-100.")


class ChannelCount(BaseModel):
    """Answers that came in through one channel."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Literal["web", "sms", "paper", "mail", "poll"] = Field(
        description="web: personal link; sms: replies; paper: entered by staff; mail: one click "
        "in the invitation; poll: an open quick poll."
    )
    answers: int = Field(description="Answers through it.")
    percent: float = Field(description="Share of all answers, 0-100.")


class InvitationChannelRate(BaseModel):
    """How many invitations went out on one channel, and how many of those members answered
    (through any way of answering)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Literal["email", "sms", "not_sent"] = Field(
        description="email or sms: how dispatch sent the invitation; not_sent: invitations no "
        "channel took (no working address yet, or still on their way)."
    )
    invited: int = Field(description="Invitations on it.")
    answered: int = Field(description="Of those, members who answered.")
    percent: float = Field(description="Answered / invited, 0-100 (0 when none invited).")


class Weighting(BaseModel):
    """How the weighted figures were made, for the results page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    applied: bool = Field(description="Whether weighted figures are shown.")
    description: str = Field(description="The method and its limits, in plain Swedish.")
    description_en: str = Field(default="", description="The same in English.")
    effective_n: float | None = Field(
        default=None, description="Effective sample size after weighting (Kish)."
    )


class Turnout(BaseModel):
    """How many of one group were invited to a round and answered (groups of fewer than the
    suppression threshold invited are not shown)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: Literal["age_band", "gender", "district"] = Field(description="The breakdown.")
    group: str = Field(description="The group, e.g. 16-29, female, Kisa.")
    invited: int = Field(description="Members of the group invited.")
    answered: int = Field(description="Of them, those who answered.")
    rate: float = Field(description="Answered / invited, 0-100.")


class OutreachNote(BaseModel):
    """Staff's note on a group that did not take part, and how it was reached instead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    groups: str = Field(description="The groups that did not take part.")
    method: str = Field(description="The other method that reached them, and what it gave.")
    noted_by: str = Field(description="Staff username.")
    noted_on: str = Field(description="Day (YYYY-MM-DD).")


class NoteOutreach(Command):
    """After a round, staff note which groups did not take part and which other method
    reached them (a school visit, a street survey, a meeting)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "note_outreach"

    round_id: str = Field(description="The round.")
    groups: OneLine = Field(min_length=2, max_length=200, description="Who did not take part.")
    method: TrimmedText = Field(
        min_length=2, max_length=2000, description="How they were reached instead."
    )
    noted_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class RoundResults(BaseModel):
    """Results of a round."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: RoundView = Field(description="The round.")
    response_rate: float = Field(description="Responded / invited, 0-100.")
    suppression_threshold: int = Field(description="Cells with fewer respondents are hidden.")
    questions: tuple[QuestionResult, ...] = Field(description="Per question.")
    withheld_until: int | None = Field(
        default=None,
        description=(
            "Set while an open round has fewer answers than this: only the response rate is "
            "shown (``questions`` is empty) until then."
        ),
    )
    turnout: tuple[Turnout, ...] = Field(
        default=(), description="Once closed: who took part, by age band, gender and district."
    )
    outreach: tuple[OutreachNote, ...] = Field(
        default=(), description="Staff's notes on groups reached by other methods."
    )
    by_day: tuple[DayCount, ...] = Field(
        default=(), description="Answers per day, with the running response rate."
    )
    by_channel: tuple[ChannelCount, ...] = Field(default=(), description="Answers per channel.")
    by_invitation: tuple[InvitationChannelRate, ...] = Field(
        default=(), description="Response rate per channel the invitations went out on."
    )
    caveat: str = Field(
        default="",
        description="What the figures can and cannot say (a self-selected panel's answers are "
        "not a survey of all residents), replaced by the weighting's description when weighted.",
    )
    weighting: Weighting | None = Field(
        default=None, description="How the weighted figures were made; None: not weighted."
    )


class GetResults(Query):
    """Results of one round; the reply is ``RoundResults`` or not found."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "get_results"

    round_id: str = Field(description="The round.")
    place: str = Field(
        default="",
        max_length=120,
        description="The council's name, for the weighting's description ('' the slug).",
    )


class InvitationView(RoundLanguages):
    """What the answer page needs for a personal link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["open", "answered", "closed"] = Field(
        description="open: can answer; answered: already did; closed: round no longer open."
    )
    title: str = Field(description="Round title.")
    purpose: str = Field(description="What the answers will be used for.")
    questions: tuple[Question, ...] = Field(description="Questions.")
    promise: Promise = Field(
        default_factory=Promise, description="What the answers feed, shown before the questions."
    )
    introduction: str = Field(default="", description="Facts before the questions.")
    changeable: bool = Field(
        default=False,
        description="Answered, and the round lets the answers change until it closes.",
    )
    answers: dict[str, Answer] = Field(
        default_factory=dict,
        description="The answers saved so far (a draft), or given (when changeable).",
    )


class SaveDraft(Command):
    """Keep a resident's answers so far, to finish later through the same link (nothing is
    counted until the answers are sent)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "save_draft"

    token: str = Field(min_length=20, max_length=100, description="Token from the personal link.")
    answers: dict[str, Answer] = Field(
        max_length=50, description="The answers so far; those that do not fit are left out."
    )


class ListAnswerTexts(Query):
    """A page of a question's free-text answers (or a map question's pin comments), optionally
    only those containing a word; the reply is ``AnswerTexts``. Pages never grow with the
    number of responses."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "list_answer_texts"

    round_id: str = Field(description="The round.")
    question: str = Field(pattern=r"^[a-z0-9_]{1,40}$", description="The question's key.")
    search: Annotated[OneLine, Field(max_length=100)] = Field(
        default="", description="Only texts containing this (any case); '' every one."
    )
    after: str = Field(
        default="", max_length=200, description="Continue after this cursor (from next_after)."
    )
    limit: int = Field(default=50, ge=1, le=200, description="Most texts in the page.")
    tag: Annotated[OneLine, Field(max_length=TAG_LENGTH)] = Field(
        default="", description="Only texts staff gave this tag; '' any."
    )


TAG_LENGTH = 40
"""Longest staff tag on a written answer."""
TAGS_PER_TEXT = 10
"""Most tags on one written answer."""
TEXT_REF = r"^[0-9a-f]{32}(\.[0-9]{1,2})?$"
"""A written answer's reference: a hash of its response (and the pin's number on a map)."""

Tag = Annotated[OneLine, Field(min_length=1, max_length=TAG_LENGTH)]


class AnswerText(BaseModel):
    """One free-text answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="What the resident wrote.")
    ref: str = Field(description="Reference for tagging it (not the response id).")
    tags: tuple[str, ...] = Field(default=(), description="Staff's tags on it, sorted.")


class TagCount(BaseModel):
    """How many of a question's written answers carry one tag."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tag: str = Field(description="The tag.")
    count: int = Field(description="Written answers with it.")


class AnswerTexts(BaseModel):
    """Reply to ``ListAnswerTexts``: one page, in an order that says nothing of who or when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    texts: tuple[AnswerText, ...] = Field(description="The page.")
    next_after: str | None = Field(description="Cursor of the next page; None at the end.")
    total: int = Field(description="All texts of the question (before the search).")
    tags: tuple[TagCount, ...] = Field(
        default=(), description="Every tag staff gave the question's texts, most used first."
    )


class TagAnswerText(Command):
    """Staff set the tags of one written answer (a free text or a pin's comment), to sort and
    count what residents wrote; the tags replace those it had (none removes them)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "tag_answer_text"

    round_id: str = Field(description="The round.")
    question: str = Field(pattern=r"^[a-z0-9_]{1,40}$", description="The question's key.")
    ref: str = Field(pattern=TEXT_REF, description="The text's ref (from AnswerTexts).")
    tags: tuple[Tag, ...] = Field(
        max_length=TAGS_PER_TEXT,
        description="Its tags from now on (case kept, duplicates dropped).",
    )
    tagged_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class GetInvitation(Query):
    """Look up a personal link's token; the reply is ``InvitationView`` or not found."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "get_invitation"

    token: str = Field(min_length=1, max_length=100, description="Token from the link.")


class EnterPaperAnswers(Command):
    """Staff enter the answers of a paper form a member sent back: the member counts as having
    answered (no reminders), and the answers are stored like any, naming no one."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "enter_paper_answers"

    round_id: str = Field(description="The round.")
    member_id: str = Field(
        min_length=1, max_length=100, description="The member whose form it is (its reference)."
    )
    answers: dict[str, Answer] = Field(
        max_length=50, description="Answer per question key, as in SubmitResponse."
    )
    entered_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class SubmitPollAnswer(Command):
    """Someone answers an open quick poll from its public link (no membership needed)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "submit_poll_answer"

    round_id: str = Field(description="The poll (a public round).")
    browser: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the answering browser's random cookie: one answer per browser.",
    )
    answers: dict[str, Answer] = Field(
        max_length=50, description="Answer per question key, as in SubmitResponse."
    )


POLL_SPACING_SECONDS = 20
"""Least time between two poll answers from one browser (the youth panel's rule)."""


class PollView(RoundLanguages):
    """A quick poll as the public sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: str = Field(description="The poll.")
    title: str = Field(description="Title.")
    purpose: str = Field(description="What the answers will be used for.")
    state: str = Field(description="open, or closed (and later) once it no longer takes answers.")
    questions: tuple[Question, ...] = Field(description="Questions.")
    answers: int = Field(description="Answers so far.")
    panel: str = Field(description="The panel it invites respondents to join.")


class ListPolls(Query):
    """The council's quick polls that are open or were, newest first; reply ``PollList``."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "list_polls"


class PollList(BaseModel):
    """Reply to ``ListPolls``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    polls: tuple[PollView, ...] = Field(description="Polls, newest first.")


class ResponseOutcome(Query):
    """How a ``SubmitResponse`` command went; the reply is ``Outcome``."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "response_outcome"

    command_id: str = Field(description="message_id of the SubmitResponse command.")


class MemberForgotten(Event):
    """rounds has forgotten an erased member: their panel entry, invitations and links (their
    answers were never theirs to begin with: responses name no one)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "member_forgotten"

    member_id: str = Field(description="The erased member.")


class GetMemberData(Query):
    """What rounds holds about one member (the panel entry and the invitations; never the
    answers: they name no one); the reply is ``PersonalData``."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "get_member_data"

    member_id: str = Field(description="The member.")


class PreviewTarget(Query):
    """How many of a panel's members a round with this target would invite if it opened now,
    and how many the rules leave out; the reply is ``TargetPreview``."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "preview_target"

    panel: str = Field(
        default="general",
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="The council's panel the round would ask.",
    )
    target: Target = Field(default_factory=Target, description="The target to count.")


class TargetPreview(BaseModel):
    """Reply to ``PreviewTarget``: counts only, never who."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    in_segment: int = Field(description="Active members of the panel in the segment.")
    paused: int = Field(description="Of those, left out: paused when it opens.")
    over_cap: int = Field(description="Left out: had the panel's most rounds in half a year.")
    rested: int = Field(description="Left out: invited within the target's rest days.")
    invited: int = Field(description="Would be invited (after the random sample, if any).")
