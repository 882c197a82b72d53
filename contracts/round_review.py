"""Messages owned by ``rounds`` about a round's methodology review: an optional step before
political approval, in which a methodologist (the council's ``analyst``) reads a draft and
approves its method or asks for changes.

    (no review) ─ask→ asked ─approve→ passed ─(an edit)→ stale ─ask→ asked …
                          └─ask changes→ changes_asked ─ask→ asked …

The review lives beside the round's state (a draft or returned round stays where it is). Once a
review was asked, the round can be submitted only when the method was approved for the revision
submitted: while it is asked, after changes were asked, or after an edit that came later than the
approval, ``SubmitRound`` is refused. Every step is recorded in the round's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.envelope import Command
from contracts.text import TrimmedText

ReviewStatus = Literal["asked", "changes_asked", "passed", "stale"]
"""Where a round's methodology review stands (see the module's docstring)."""

QuestionKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]


class AskReview(Command):
    """The panel manager asks for a methodology review of a draft (or returned) round."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "ask_review"

    round_id: str = Field(description="The round.")
    asked_by: str = Field(min_length=1, max_length=80, description="Staff username.")
    note: Annotated[TrimmedText, Field(max_length=2000)] = Field(
        default="", description="What the reviewer should look at in particular."
    )


class ApproveMethod(Command):
    """The reviewer approves the method of the revision read."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "approve_method"

    round_id: str = Field(description="The round.")
    reviewed_by: str = Field(min_length=1, max_length=80, description="Staff username.")
    comment: Annotated[TrimmedText, Field(max_length=2000)] = Field(
        default="", description="An optional remark kept in the history."
    )
    revision: int | None = Field(
        default=None, description="The round's revision the reviewer read (refused if edited)."
    )


class AskChanges(Command):
    """The reviewer asks the panel manager to change the round, saying what and why (for the
    round, and optionally per question)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "ask_changes"

    round_id: str = Field(description="The round.")
    reviewed_by: str = Field(min_length=1, max_length=80, description="Staff username.")
    comment: TrimmedText = Field(
        min_length=1, max_length=2000, description="What to change in the round, and why."
    )
    question_comments: dict[QuestionKey, Annotated[TrimmedText, Field(max_length=1000)]] = Field(
        default_factory=dict,
        max_length=50,
        description="Comments on single questions, by the question's key.",
    )
    revision: int | None = Field(
        default=None, description="The round's revision the reviewer read (refused if edited)."
    )


class ReviewView(BaseModel):
    """Where a round's methodology review stands, and the reviewer's last comments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: ReviewStatus = Field(description="asked, changes_asked, passed or stale.")
    asked_by: str = Field(description="Who asked for the review last.")
    note: str = Field(default="", description="The manager's note to the reviewer.")
    reviewed_by: str = Field(default="", description="Who decided last; '' before that.")
    reviewed_at: datetime | None = Field(default=None, description="When (UTC).")
    revision: int = Field(description="The round's revision the last step concerned.")
    comment: str = Field(default="", description="The reviewer's comment on the round.")
    question_comments: dict[str, str] = Field(
        default_factory=dict, description="The reviewer's comments by question key."
    )

    @property
    def blocks_submission(self) -> bool:
        """Whether the round may not be submitted for political approval now."""
        return self.status != "passed"
