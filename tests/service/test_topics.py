"""The topic backlog on the real stack: a committee's request put in, accepted, declined with a
reason, accepted again and turned into a round that links back to it; redelivered commands that
change nothing; another council neither sees nor changes the request."""

from __future__ import annotations

import uuid

import pytest

from contracts.rounds import CreateRound, GetRound, Question, RoundView
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
from devstack.rounds import wait_for_state
from devstack.testing import wait_until
from infra.bus import Rejected, RetryLater, publish
from infra.queries import ask
from services.rounds import topics
from tests.conftest import Stack, register_council

T = "gnosjo"


def _request(tenant: str = T) -> RequestTopic:
    return RequestTopic(
        tenant=tenant,
        topic_id=str(uuid.uuid4()),
        title="Skolskjuts",
        question="Hur tar sig barnen till skolan?",
        decision="Skolskjutsplanen 2027",
        needed_by="2027-03-01",
        asked_by="Barn- och utbildningsnämnden",
        contact="eva@gnosjo.se",
        requested_by="stig",
    )


async def _topic(stack: Stack, topic_id: str, tenant: str = T) -> TopicView | None:
    return await ask(stack.nc, GetTopic(tenant=tenant, topic_id=topic_id), TopicView)


async def _status(stack: Stack, topic_id: str, status: str) -> TopicView:
    async def there() -> TopicView | None:
        view = await _topic(stack, topic_id)
        return view if view is not None and view.status == status else None

    return await wait_until(there, timeout=15, what=f"topic {status}")


async def test_request_accept_decline_and_turn_into_a_round(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    request = _request()
    await publish(stack.js, request)
    view = await _status(stack, request.topic_id, "new")
    assert (view.asked_by, view.needed_by, view.requested_by) == (
        "Barn- och utbildningsnämnden",
        "2027-03-01",
        "stig",
    )
    await topics.request_topic(rt, request)  # redelivered: still one, still new
    listing = await ask(stack.nc, ListTopics(tenant=T), TopicList)
    assert listing is not None
    assert [t.topic_id for t in listing.topics] == [request.topic_id]

    decline = DeclineTopic(
        tenant=T, topic_id=request.topic_id, decided_by="anna", reason="Redan utrett."
    )
    await publish(stack.js, decline)
    view = await _status(stack, request.topic_id, "declined")
    assert (view.reason, view.decided_by) == ("Redan utrett.", "anna")
    accept = AcceptTopic(tenant=T, topic_id=request.topic_id, decided_by="anna")
    await publish(stack.js, accept)
    await _status(stack, request.topic_id, "accepted")
    # The decline redelivered after the acceptance changes nothing.
    await topics.decline_topic(rt, decline)
    await topics.accept_topic(rt, accept)
    assert (await _status(stack, request.topic_id, "accepted")).reason == ""

    round_id = str(uuid.uuid4())
    plan = PlanTopicRound(tenant=T, topic_id=request.topic_id, round_id=round_id, planned_by="anna")
    # The link waits for the round to be stored.
    with pytest.raises(RetryLater):
        await topics.plan_topic_round(rt, plan)
    await publish(stack.js, plan)
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Skolskjuts",
            purpose="Hur tar sig barnen till skolan?",
            questions=(Question(key="hur", kind="free_text", text="Hur?"),),
            created_by="anna",
        ),
    )
    await wait_for_state(stack.nc, T, round_id, "draft")
    view = await _status(stack, request.topic_id, "planned")
    assert (view.round_id, view.round_state, view.round_title) == (round_id, "draft", "Skolskjuts")

    async def linked() -> RoundView | None:
        found = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return found if found is not None and found.topic_id else None

    assert (await wait_until(linked, timeout=15, what="round linked")).topic_id == request.topic_id
    await topics.plan_topic_round(rt, plan)  # redelivered: nothing
    # A planned request is not declined; another round is not linked to it.
    with pytest.raises(Rejected):
        await topics.decline_topic(
            rt, DeclineTopic(tenant=T, topic_id=request.topic_id, decided_by="a", reason="x")
        )
    other = await _other_round(stack)
    with pytest.raises(Rejected, match="another round"):
        await topics.plan_topic_round(
            rt, PlanTopicRound(tenant=T, topic_id=request.topic_id, round_id=other, planned_by="a")
        )
    # Its round's results published: the request reads as done.
    await rt.db.rounds.update_one({"_id": round_id}, {"$set": {"state": "published"}})
    await _status(stack, request.topic_id, "done")
    done = await ask(stack.nc, ListTopics(tenant=T, status="done"), TopicList)
    assert done is not None
    assert len(done.topics) == 1


async def _other_round(stack: Stack) -> str:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Annat",
            purpose="Annat.",
            questions=(Question(key="hur", kind="free_text", text="Hur?"),),
            created_by="anna",
        ),
    )
    await wait_for_state(stack.nc, T, round_id, "draft")
    return round_id


async def test_another_council_neither_sees_nor_changes_a_request(stack: Stack) -> None:
    rt = stack.services["rounds"].runtime
    await register_council(stack, T)
    await register_council(stack, "vaxjo")
    request = _request()
    await topics.request_topic(rt, request)
    assert await _topic(stack, request.topic_id, "vaxjo") is None
    listing = await ask(stack.nc, ListTopics(tenant="vaxjo"), TopicList)
    assert listing is not None
    assert listing.topics == ()
    with pytest.raises(Rejected, match="unknown"):
        await topics.accept_topic(
            rt, AcceptTopic(tenant="vaxjo", topic_id=request.topic_id, decided_by="x")
        )
    with pytest.raises(Rejected, match="unknown"):
        await topics.decline_topic(
            rt,
            DeclineTopic(tenant="vaxjo", topic_id=request.topic_id, decided_by="x", reason="x"),
        )
    # The same id from another council is refused, not merged.
    with pytest.raises(Rejected, match="another council"):
        await topics.request_topic(rt, request.model_copy(update={"tenant": "vaxjo"}))
    view = await _topic(stack, request.topic_id)
    assert view is not None
    assert view.status == "new"
    assert view.title == "Skolskjuts"
