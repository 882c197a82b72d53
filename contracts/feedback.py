"""Messages owned by ``feedback``: what the council did with the answers."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.envelope import Command, Event


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
