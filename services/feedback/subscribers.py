"""feedback's entry points on the bus: thin, each hands its message to a handler."""

from __future__ import annotations

from faststream.nats import NatsRouter

from contracts.feedback import FeedbackPublished, ListPublished, PublishedList, PublishFeedback
from contracts.round_lifecycle import ResultsPublished
from contracts.rounds import RoundClosed
from infra.queries import answers
from infra.service import Runtime, subscriber
from services.feedback import handlers

PUBLISHES = (FeedbackPublished,)
"""What this service publishes (through its outbox), for the AsyncAPI document."""


def build_router(rt: Runtime) -> NatsRouter:
    """Consumers and query responders of feedback, bound to this runtime."""
    router = NatsRouter()

    @subscriber(router, RoundClosed, "feedback_round_closed")
    async def on_closed(evt: RoundClosed) -> None:
        await handlers.round_closed(rt, evt)

    @subscriber(router, ResultsPublished, "feedback_results_published")
    async def on_results_published(evt: ResultsPublished) -> None:
        await handlers.results_published(rt, evt)

    @subscriber(router, PublishFeedback, "feedback_publish_feedback")
    async def on_publish(cmd: PublishFeedback) -> None:
        await handlers.publish_feedback(rt, cmd)

    @answers(router, ListPublished, "feedback")
    async def q_published(q: ListPublished) -> PublishedList:
        return await handlers.list_published(rt, q)

    return router
