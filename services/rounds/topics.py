"""The topic backlog: committees' and departments' requests for a round, and the rounds staff
make of them (``contracts.topics`` has the life of a request).

One document per request in ``topics``, its ``_id`` the id its sender chose. A decision is one
guarded update: it matches only the state it starts from and a request that has not seen the
command yet (``steps.<key>``, derived from the command's message id, is set in the same update
and keeps who took the step and when), so a redelivered command changes nothing, even after
later steps. Linking a round sets the request's ``round_id`` first and then the round's
``topic_id``: both are plain sets, and a redelivery finishes what a crash left half done.
"""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from contracts.envelope import Command
from contracts.topics import (
    AcceptTopic,
    DeclineTopic,
    GetTopic,
    ListTopics,
    PlanTopicRound,
    RequestTopic,
    TopicList,
    TopicView,
)
from infra.bus import Rejected, RetryLater
from infra.service import Runtime
from infra.store import Document, epoch_ms, from_epoch_ms
from infra.tokens import derived_id

DONE_ROUND_STATES = frozenset({"published", "archived"})
"""A planned request is done once its round's results are out."""


def _key(cmd: Command) -> str:
    return derived_id(cmd.message_id, "topic_step")


async def request_topic(rt: Runtime, cmd: RequestTopic) -> None:
    """Put a request into the council's backlog; a redelivered command changes nothing."""
    try:
        await rt.db.topics.insert_one(
            {
                "_id": cmd.topic_id,
                "tenant": cmd.tenant,
                "title": cmd.title,
                "question": cmd.question,
                "decision": cmd.decision,
                "needed_by": cmd.needed_by,
                "asked_by": cmd.asked_by,
                "contact": cmd.contact,
                "state": "new",
                "requested_by": cmd.requested_by,
                "requested_at_ms": epoch_ms(cmd.occurred_at),
                "round_id": "",
                "steps": {},
            }
        )
    except DuplicateKeyError:
        existing = await rt.db.topics.find_one({"_id": cmd.topic_id}, {"tenant": 1})
        if existing is not None and existing["tenant"] != cmd.tenant:
            raise Rejected("topic id belongs to another council") from None


async def _decide(
    rt: Runtime,
    cmd: Command,
    topic_id: str,
    sources: tuple[str, ...],
    target: str,
    changes: Document,
    by: str,
) -> None:
    """Take a request from one of ``sources`` to ``target``, once per command."""
    key = _key(cmd)
    doc = await rt.db.topics.find_one({"_id": topic_id, "tenant": cmd.tenant})
    if doc is None:
        raise Rejected("unknown topic request")
    if key in (doc.get("steps") or {}):
        return  # redelivered: done before
    state = str(doc["state"])
    if state == target:
        return  # a second click: there already
    if state not in sources:
        raise Rejected(f"a {state} topic request cannot become {target}")
    step = {"step": target, "by": by, "at_ms": epoch_ms()}
    result = await rt.db.topics.update_one(
        {"_id": topic_id, "tenant": cmd.tenant, "state": state, f"steps.{key}": {"$exists": False}},
        {"$set": {**changes, "state": target, f"steps.{key}": step}},
    )
    if not result.matched_count:
        raise RetryLater("the topic request changed meanwhile", 0.2)


async def accept_topic(rt: Runtime, cmd: AcceptTopic) -> None:
    """Staff accept a new (or earlier declined) request."""
    changes = {"decided_by": cmd.decided_by, "decided_at_ms": epoch_ms(), "reason": ""}
    await _decide(rt, cmd, cmd.topic_id, ("new", "declined"), "accepted", changes, cmd.decided_by)


async def decline_topic(rt: Runtime, cmd: DeclineTopic) -> None:
    """Staff decline a new or accepted request, with the reason the askers will read."""
    changes = {"decided_by": cmd.decided_by, "decided_at_ms": epoch_ms(), "reason": cmd.reason}
    await _decide(rt, cmd, cmd.topic_id, ("new", "accepted"), "declined", changes, cmd.decided_by)


async def plan_topic_round(rt: Runtime, cmd: PlanTopicRound) -> None:
    """Link a request and the round drafted from it: the request is planned (a new one is
    accepted by that), the round names the request it came from.

    Retried while the round is not stored yet (its ``CreateRound`` may still be on its way);
    refused for a declined request, one linked to another round, or a round made from another
    request."""
    found = await rt.db.rounds.find_one(
        {"_id": cmd.round_id, "tenant": cmd.tenant}, {"topic_id": 1}
    )
    if found is None:
        raise RetryLater("the round is not stored yet", 1.0)
    if found.get("topic_id") not in (None, "", cmd.topic_id):
        raise Rejected("the round was made from another topic request")
    doc = await rt.db.topics.find_one({"_id": cmd.topic_id, "tenant": cmd.tenant})
    if doc is None:
        raise Rejected("unknown topic request")
    linked = str(doc.get("round_id") or "")
    if linked and linked != cmd.round_id:
        raise Rejected("the topic request is planned as another round")
    if not linked:
        changes = {"round_id": cmd.round_id, "planned_by": cmd.planned_by}
        await _decide(
            rt, cmd, cmd.topic_id, ("new", "accepted"), "planned", changes, cmd.planned_by
        )
    await rt.db.rounds.update_one(
        {"_id": cmd.round_id, "tenant": cmd.tenant}, {"$set": {"topic_id": cmd.topic_id}}
    )


def _view(doc: Document, rounds: dict[str, Document]) -> TopicView:
    round_doc = rounds.get(str(doc.get("round_id") or ""))
    round_state = str(round_doc["state"]) if round_doc else ""
    status = str(doc["state"])
    if status == "planned" and round_state in DONE_ROUND_STATES:
        status = "done"
    decided_ms = doc.get("decided_at_ms")
    return TopicView.model_validate(
        {
            "topic_id": doc["_id"],
            "title": doc["title"],
            "question": doc["question"],
            "decision": doc.get("decision") or "",
            "needed_by": doc.get("needed_by") or "",
            "asked_by": doc["asked_by"],
            "contact": doc.get("contact") or "",
            "status": status,
            "requested_by": doc["requested_by"],
            "requested_at": from_epoch_ms(int(doc["requested_at_ms"])),
            "decided_by": doc.get("decided_by") or "",
            "decided_at": from_epoch_ms(int(decided_ms)) if decided_ms is not None else None,
            "reason": doc.get("reason") or "",
            "round_id": doc.get("round_id") or "",
            "round_state": round_state,
            "round_title": str(round_doc["title"]) if round_doc else "",
        }
    )


async def _rounds_of(rt: Runtime, tenant: str, docs: list[Document]) -> dict[str, Document]:
    ids = [d["round_id"] for d in docs if d.get("round_id")]
    if not ids:
        return {}
    found = rt.db.rounds.find({"_id": {"$in": ids}, "tenant": tenant}, {"title": 1, "state": 1})
    return {r["_id"]: r async for r in found}


async def list_topics(rt: Runtime, q: ListTopics) -> TopicList:
    """The council's requests, newest first (only those of ``q.status``, if given)."""
    docs = await rt.db.topics.find({"tenant": q.tenant}).sort("requested_at_ms", -1).to_list()
    rounds = await _rounds_of(rt, q.tenant, docs)
    views = [_view(d, rounds) for d in docs]
    return TopicList(topics=tuple(v for v in views if q.status in (None, v.status)))


async def get_topic(rt: Runtime, q: GetTopic) -> TopicView | None:
    """One request of the council, or None (also for another council's)."""
    doc = await rt.db.topics.find_one({"_id": q.topic_id, "tenant": q.tenant})
    if doc is None:
        return None
    return _view(doc, await _rounds_of(rt, q.tenant, [doc]))
