"""Messages owned by ``feedback``: what the council did with the answers."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Event, Query


class PublishFeedback(Command):
    """Publish the council's feedback on a closed round to the panel and the public."""

    owner: ClassVar[str] = "feedback"
    name: ClassVar[str] = "publish_feedback"

    round_id: str = Field(description="The round the feedback is about.")
    text: str = Field(min_length=1, max_length=10000, description="The feedback text.")


class FeedbackPublished(Event):
    """Feedback on a round was published."""

    owner: ClassVar[str] = "feedback"
    name: ClassVar[str] = "feedback_published"

    round_id: str = Field(description="The round.")
    text: str = Field(description="The feedback text.")


class PublishedRound(BaseModel):
    """A round's public results page: the summary and what the council did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: str = Field(description="The round.")
    title: str = Field(description="Round title.")
    invited: int = Field(description="Members invited.")
    responded: int = Field(description="Members who answered.")
    feedback: str | None = Field(description="The council's feedback, once published.")
    published_at: datetime | None = Field(description="When the feedback was published.")
    results_published_at: datetime | None = Field(
        default=None, description="When the round's results were published; None: not yet."
    )


class ListPublished(Query):
    """The council's closed rounds with their feedback, newest first: for the public, those
    whose results are published (``PublishResults``)."""

    owner: ClassVar[str] = "feedback"
    name: ClassVar[str] = "list_published"

    only_published: bool = Field(
        default=True, description="Only rounds whose results are published (public page)."
    )


class PublishedList(BaseModel):
    """Reply to ``ListPublished``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rounds: tuple[PublishedRound, ...] = Field(description="Rounds, newest first.")
