"""Messages owned by ``rounds``: questionnaires, their life cycle, invitations and responses."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Event


class Question(BaseModel):
    """One question of a round."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9_]{1,40}$", description="Stable key within the round.")
    kind: Literal["single_choice", "free_text"] = Field(description="How it is answered.")
    text: str = Field(min_length=1, max_length=500, description="The question as shown.")
    options: tuple[str, ...] = Field(
        default=(), max_length=20, description="Answer options (single choice only)."
    )


class CreateRound(Command):
    """Draft a new question round."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "create_round"

    round_id: str = Field(description="Id chosen by the sender (UUID text).")
    title: str = Field(min_length=1, max_length=200, description="Title shown to residents.")
    purpose: str = Field(
        min_length=1, max_length=2000, description="What the answers will be used for."
    )
    questions: tuple[Question, ...] = Field(min_length=1, max_length=50, description="Questions.")


class ApproveRound(Command):
    """The steering group approves a drafted round."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "approve_round"

    round_id: str = Field(description="The round.")
    approved_by: str = Field(description="Staff account that approved it.")


class OpenRound(Command):
    """Open an approved round: invite the panel's active members."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "open_round"

    round_id: str = Field(description="The round.")


class CloseRound(Command):
    """Close an open round; no more answers are taken."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "close_round"

    round_id: str = Field(description="The round.")


class SubmitResponse(Command):
    """A resident answers through their personal link."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "submit_response"

    token: str = Field(min_length=20, max_length=100, description="Token from the personal link.")
    answers: dict[str, str] = Field(
        max_length=50, description="Answer per question key (option text, or free text)."
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
