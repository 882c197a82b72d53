"""Messages owned by ``rounds`` about a round's life cycle: political approval, the schedule and
its reminders, publishing the results and archiving.

    draft ─submit→ submitted ─approve→ approved ─schedule→ scheduled ─open→ open ─close→ closed
      ↑               │ return (with a comment)                                       │ publish
      └── edit ── returned ─submit→ submitted …                 archived ←archive─ published

An edit of a submitted, approved or scheduled round sends it back to draft. Opening and
closing happen at the scheduled times (persisted timers) or by hand; reminders go at the days
after opening that staff chose. Every step is recorded with who took it and when
(``RoundStep``, in ``RoundView.history``).

Creating and editing a round, approving, opening and closing it are in ``contracts.rounds``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.envelope import Command, Event
from contracts.text import TrimmedText

DEFAULT_OPEN_DAYS = 7
"""A round stays open this many days unless staff choose otherwise (the seeds' advice)."""
DEFAULT_REMINDER_DAYS = (3,)
"""One reminder, three days after opening, unless staff choose otherwise (the seeds' advice:
most answers arrive within three days)."""
MAX_REMINDERS = 5

RoundState = Literal[
    "draft",
    "submitted",
    "returned",
    "approved",
    "scheduled",
    "open",
    "closed",
    "published",
    "archived",
]
"""Where a round is in its life cycle (see the module's docstring)."""

StepName = Literal[
    "created",
    "edited",
    "submitted",
    "returned",
    "approved",
    "scheduled",
    "extended",
    "opened",
    "closed",
    "results_published",
    "archived",
    "review_asked",
    "method_approved",
    "changes_asked",
]
"""A recorded step of a round's life cycle (the last three: its methodology review)."""


class RoundStep(BaseModel):
    """One recorded step of a round's life cycle: what, who, when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: StepName = Field(description="What was done.")
    state: RoundState = Field(description="The round's state after it.")
    by: str = Field(description="Staff username; empty when the schedule did it.")
    at: datetime = Field(description="When (UTC).")
    comment: str = Field(
        default="", description="The steering group's comment on a return, or the reviewer's."
    )
    question_comments: dict[str, str] = Field(
        default_factory=dict, description="A review's comments on single questions, by key."
    )


class RoundSchedule(BaseModel):
    """When a round opens and closes, and the days after opening its reminders go."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    open_at: datetime = Field(description="When it opens (UTC).")
    close_at: datetime = Field(description="When it closes (UTC); moved by an extension.")
    reminder_days: tuple[int, ...] = Field(description="Days after opening, ascending.")


class ReminderView(BaseModel):
    """One reminder of a scheduled round: when it is due and how many it reached."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(description="1 for the first reminder, 2 for the second …")
    days: int = Field(description="Days after the scheduled opening.")
    due_at: datetime = Field(description="When it is due (UTC).")
    state: Literal["waiting", "sending", "sent", "not_sent"] = Field(
        description="waiting: not due yet; not_sent: the round closed (or was sent back) first."
    )
    sent: int = Field(description="Members reminded (invited, not answered when it went).")
    sent_at: datetime | None = Field(description="When it went out (UTC); None until then.")


def _check_reminders(days: tuple[int, ...], open_at: datetime, close_at: datetime) -> None:
    if list(days) != sorted(set(days)):
        raise ValueError("reminder days must be ascending, each once")
    if days and open_at + timedelta(days=days[-1]) >= close_at:
        raise ValueError("every reminder must be due before the round closes")


class SubmitRound(Command):
    """The panel manager submits a draft (or a returned round) to the steering group."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "submit_round"

    round_id: str = Field(description="The round.")
    submitted_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class ReturnRound(Command):
    """The steering group returns a submitted round to the panel manager, saying why."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "return_round"

    round_id: str = Field(description="The round.")
    returned_by: str = Field(min_length=1, max_length=80, description="Staff username.")
    comment: TrimmedText = Field(
        min_length=1, max_length=2000, description="What to change before it is submitted again."
    )
    revision: int | None = Field(
        default=None,
        description="The round's revision the steering group read (refused if edited since).",
    )


class ScheduleRound(Command):
    """Schedule an approved round: it opens and closes at these times by itself, and reminds
    the members who have not answered at the chosen days after opening."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "schedule_round"

    round_id: str = Field(description="The round.")
    open_at: datetime = Field(description="When it opens (UTC); a past time opens it at once.")
    close_at: datetime | None = Field(
        default=None, description=f"When it closes (UTC); None: {DEFAULT_OPEN_DAYS} days later."
    )
    reminder_days: tuple[int, ...] = Field(
        default=DEFAULT_REMINDER_DAYS,
        max_length=MAX_REMINDERS,
        description="Days after opening to remind who has not answered, e.g. (3, 6).",
    )
    scheduled_by: str = Field(min_length=1, max_length=80, description="Staff username.")

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if any(not 1 <= d <= 90 for d in self.reminder_days):
            raise ValueError("reminder days are 1 to 90")
        if self.close_at is not None and self.close_at <= self.open_at:
            raise ValueError("a round closes after it opens")
        _check_reminders(self.reminder_days, self.open_at, self.closes)
        return self

    @property
    def closes(self) -> datetime:
        """When the round closes: the time given, or the default days after opening."""
        return self.close_at or self.open_at + timedelta(days=DEFAULT_OPEN_DAYS)


class ExtendRound(Command):
    """Move a scheduled or open round's closing to a new time (later, or earlier but still in
    the future); closing at once is ``CloseRound``."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "extend_round"

    round_id: str = Field(description="The round.")
    close_at: datetime = Field(description="The new closing time (UTC).")
    extended_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class PublishResults(Command):
    """Publish a closed round's results: the public results page lists it from now on."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "publish_results"

    round_id: str = Field(description="The round.")
    published_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class ArchiveRound(Command):
    """Archive a round whose results are published: its work is done."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "archive_round"

    round_id: str = Field(description="The round.")
    archived_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class ResultsPublished(Event):
    """A round's results were published (the public results page shows it)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "results_published"

    round_id: str = Field(description="The round.")
    title: str = Field(description="The round's title.")
    invited: int = Field(description="How many members were invited.")
    responded: int = Field(description="How many answered.")
