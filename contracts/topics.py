"""Messages owned by ``rounds`` about the topic backlog: committees and departments ask for a
round on a topic (what they want to know, which decision it feeds and by when); staff accept or
decline the request and turn it into a round, which links back to it.

    new ─accept→ accepted ─plan→ planned ─(the round's results published)→ done
     └──────────decline (with a reason)──→ declined ─accept→ accepted …

A request is planned by linking it to a round drafted from it (``PlanTopicRound``); it reads as
done once that round's results are published (``TopicView.status``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Command, Query
from contracts.text import OneLine, TrimmedText

TopicStatus = Literal["new", "accepted", "planned", "declined", "done"]
"""Where a topic request stands (see the module's docstring)."""


class TopicAsks(BaseModel):
    """What a topic request asks: the part ``RequestTopic`` and the portal's API share."""

    title: OneLine = Field(min_length=1, max_length=200, description="The topic, in a line.")
    question: TrimmedText = Field(
        min_length=1, max_length=2000, description="What they want to know from residents."
    )
    decision: Annotated[TrimmedText, Field(max_length=500)] = Field(
        default="", description="Which decision the answers feed."
    )
    needed_by: str = Field(
        default="",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        description="By when the answers are needed (YYYY-MM-DD), or ''.",
    )
    asked_by: OneLine = Field(
        min_length=1, max_length=200, description="The committee or department asking."
    )
    contact: Annotated[OneLine, Field(max_length=200)] = Field(
        default="", description="Whom to contact about it (name, e-mail or phone)."
    )


class RequestTopic(TopicAsks, Command):
    """A committee or department puts a topic request into the council's backlog."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "request_topic"

    topic_id: str = Field(description="Id chosen by the sender (UUID text).")
    requested_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class AcceptTopic(Command):
    """Staff accept a new (or declined) request: a round will be made of it."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "accept_topic"

    topic_id: str = Field(description="The request.")
    decided_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class DeclineTopic(Command):
    """Staff decline a new or accepted request, saying why."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "decline_topic"

    topic_id: str = Field(description="The request.")
    decided_by: str = Field(min_length=1, max_length=80, description="Staff username.")
    reason: TrimmedText = Field(min_length=1, max_length=2000, description="Why not.")


class PlanTopicRound(Command):
    """A round was drafted from a request: link the two (the request becomes planned)."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "plan_topic_round"

    topic_id: str = Field(description="The request.")
    round_id: str = Field(description="The round drafted from it.")
    planned_by: str = Field(min_length=1, max_length=80, description="Staff username.")


class TopicView(BaseModel):
    """A topic request as staff see it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic_id: str = Field(description="The request.")
    title: str = Field(description="The topic.")
    question: str = Field(description="What they want to know.")
    decision: str = Field(description="Which decision it feeds.")
    needed_by: str = Field(description="By when (YYYY-MM-DD), or ''.")
    asked_by: str = Field(description="The committee or department asking.")
    contact: str = Field(description="Whom to contact.")
    status: TopicStatus = Field(description="Where it stands.")
    requested_by: str = Field(description="Staff username that put it in.")
    requested_at: datetime = Field(description="When (UTC).")
    decided_by: str = Field(default="", description="Who accepted or declined it last.")
    decided_at: datetime | None = Field(default=None, description="When (UTC).")
    reason: str = Field(default="", description="Why it was declined.")
    round_id: str = Field(default="", description="The round made of it, or ''.")
    round_state: str = Field(default="", description="That round's state, or ''.")
    round_title: str = Field(default="", description="That round's title, or ''.")


class ListTopics(Query):
    """The council's topic requests, newest first."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "list_topics"

    status: TopicStatus | None = Field(default=None, description="Only these; None: all.")


class TopicList(BaseModel):
    """The council's topic requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topics: tuple[TopicView, ...] = Field(description="Newest first.")


class GetTopic(Query):
    """One topic request of the council."""

    owner: ClassVar[str] = "rounds"
    name: ClassVar[str] = "get_topic"

    topic_id: str = Field(description="The request.")
