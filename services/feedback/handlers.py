"""feedback's use cases: one function per message."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from contracts.feedback import (
    FeedbackPublished,
    ListPublished,
    PublishedList,
    PublishedRound,
    PublishFeedback,
)
from contracts.round_lifecycle import ResultsPublished
from contracts.rounds import RoundClosed
from infra.bus import Rejected
from infra.service import Runtime
from infra.store import Document, with_outbox


class RoundNotClosedYet(Exception):
    """Feedback came before the round's summary arrived; retried with back-off."""


async def round_closed(rt: Runtime, evt: RoundClosed) -> None:
    """Keep the closed round's summary; feedback can now be written for it.

    Keyed by council and round: a round id already held by another council's summary is
    refused (dead-lettered), never written over.
    """
    try:
        await rt.db.summaries.update_one(
            {"_id": evt.round_id, "tenant": evt.tenant},
            {
                "$set": {
                    "title": evt.title,
                    "invited": evt.invited,
                    "responded": evt.responded,
                    "closed_at": evt.occurred_at,
                },
                "$setOnInsert": {"state": "awaiting_feedback"},
            },
            upsert=True,
        )
    except DuplicateKeyError:
        raise Rejected("the round belongs to another council") from None


async def results_published(rt: Runtime, evt: ResultsPublished) -> None:
    """The round's results are public: the public results page lists it from now on, with the
    council's feedback once there is some. It may come before the round's ``RoundClosed``."""
    try:
        await rt.db.summaries.update_one(
            {"_id": evt.round_id, "tenant": evt.tenant},
            {
                "$set": {
                    "title": evt.title,
                    "invited": evt.invited,
                    "responded": evt.responded,
                    "results": "published",
                    "results_published_at": evt.occurred_at,
                },
                "$setOnInsert": {"state": "awaiting_feedback", "closed_at": evt.occurred_at},
            },
            upsert=True,
        )
    except DuplicateKeyError:
        raise Rejected("the round belongs to another council") from None


async def publish_feedback(rt: Runtime, cmd: PublishFeedback) -> None:
    """Publish the council's feedback once; the panel is told by rounds and dispatch."""
    summary = await rt.db.summaries.find_one({"_id": cmd.round_id, "tenant": cmd.tenant})
    if summary is None:
        raise RoundNotClosedYet(cmd.round_id)
    if summary["state"] == "published":
        return
    result = await rt.db.summaries.update_one(
        {"_id": cmd.round_id, "tenant": cmd.tenant, "state": "awaiting_feedback"},
        with_outbox(
            {
                "$set": {
                    "state": "published",
                    "feedback": cmd.text,
                    "published_at": datetime.now(UTC),
                }
            },
            FeedbackPublished.follow(cmd, round_id=cmd.round_id, text=cmd.text),
        ),
    )
    if result.matched_count:
        await rt.flush("summaries", [cmd.round_id])


def _view(doc: Document) -> PublishedRound:
    return PublishedRound(
        round_id=doc["_id"],
        title=doc["title"],
        invited=doc["invited"],
        responded=doc["responded"],
        feedback=doc.get("feedback"),
        published_at=doc.get("published_at"),
        results_published_at=doc.get("results_published_at"),
    )


async def list_published(rt: Runtime, q: ListPublished) -> PublishedList:
    """The council's closed rounds (for the public only those whose results are published),
    newest first."""
    query: Document = {"tenant": q.tenant}
    if q.only_published:
        query["results"] = "published"
    docs = await rt.db.summaries.find(query).sort("closed_at", -1).to_list()
    return PublishedList(rounds=tuple(_view(d) for d in docs))
