"""The claim rules of persisted timers (``infra.timers``) against the document store: a timer is
claimed only once due and only by one claimant while its lease holds; a lease that ran out is
claimed again; only the claim that ran it marks it done; setting it again with the same
generation changes nothing, with another one replaces it (voiding a claim on it); a cancelled
timer is never claimed; and the loop retries a failing action instead of dropping it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from devstack.processes import start_store
from infra import timers
from infra.bus import RetryLater
from infra.store import Document, connect
from infra.timers import Timer, TimerLoop, TimerSettings

NOW = 1_800_000_000_000
LEASE = 30_000


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_store(tmp_path_factory.mktemp("timers-store"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def collection(store_url: str, tmp_path: Path) -> AsyncIterator[AsyncCollection[Document]]:
    client = connect(store_url)
    coll = client["radslag_test"][f"timers_{tmp_path.name[-12:]}"]
    await coll.delete_many({})
    await coll.create_index([("state", 1), ("due_ms", 1)])
    try:
        yield coll
    finally:
        await coll.drop()
        await client.close()


def timer(timer_id: str = "round:r1:close", due_ms: int = NOW, generation: str = "g1") -> Document:
    return timers.timer_document(
        timer_id,
        tenant="gnosjo",
        group="r1",
        action="round_close",
        due_ms=due_ms,
        generation=generation,
        params={"round_id": "r1"},
    )


async def test_a_timer_is_claimed_once_due_and_by_one_claimant(
    collection: AsyncCollection[Document],
) -> None:
    await timers.set_timer(collection, timer(due_ms=NOW + 1000))
    assert await timers.claim_due(collection, "a", NOW, LEASE) is None  # not due yet
    claimed = await timers.claim_due(collection, "a", NOW + 1000, LEASE)
    assert claimed is not None
    found, claim = claimed
    assert (found.timer_id, found.action, found.params, found.attempts) == (
        "round:r1:close",
        "round_close",
        {"round_id": "r1"},
        1,
    )
    # Held: nobody else gets it while the lease lasts, and the holder renews it.
    assert await timers.claim_due(collection, "b", NOW + 2000, LEASE) is None
    assert await timers.renew(collection, found.timer_id, claim, NOW + 2000 + LEASE)
    assert await timers.claim_due(collection, "b", NOW + 1000 + LEASE + 1, LEASE) is None
    assert await timers.finish(collection, found.timer_id, claim, NOW + 3000)
    doc = await collection.find_one({"_id": found.timer_id})
    assert doc is not None
    assert (doc["state"], doc["owner"], doc["fired_ms"]) == ("done", "a", NOW + 3000)
    # Done: never claimed again.
    assert await timers.claim_due(collection, "b", NOW + 10 * LEASE, LEASE) is None


async def test_a_lease_that_ran_out_is_claimed_again_and_voids_the_first_claim(
    collection: AsyncCollection[Document],
) -> None:
    await timers.set_timer(collection, timer())
    first = await timers.claim_due(collection, "dead replica", NOW, LEASE)
    assert first is not None
    assert await timers.claim_due(collection, "b", NOW + LEASE - 1, LEASE) is None
    second = await timers.claim_due(collection, "b", NOW + LEASE + 1, LEASE)
    assert second is not None
    assert second[0].attempts == 2
    # The first claimant woke up: its claim no longer marks anything.
    assert not await timers.renew(collection, first[0].timer_id, first[1], NOW + 2 * LEASE)
    assert not await timers.finish(collection, first[0].timer_id, first[1], NOW + LEASE + 2)
    assert await timers.finish(collection, second[0].timer_id, second[1], NOW + LEASE + 3)


async def test_two_claimants_at_once_get_each_timer_once(
    collection: AsyncCollection[Document],
) -> None:
    for n in range(20):
        await timers.set_timer(collection, timer(f"round:r{n}:open", due_ms=NOW - n))

    async def claim_all(owner: str) -> list[str]:
        won = []
        while (claimed := await timers.claim_due(collection, owner, NOW, LEASE)) is not None:
            won.append(claimed[0].timer_id)
        return won

    a, b = await asyncio.gather(claim_all("a"), claim_all("b"))
    assert sorted(a + b) == sorted(f"round:r{n}:open" for n in range(20))
    assert not set(a) & set(b)


async def test_set_again_same_generation_keeps_another_replaces(
    collection: AsyncCollection[Document],
) -> None:
    assert await timers.set_timer(collection, timer(generation="schedule"))
    claimed = await timers.claim_due(collection, "a", NOW, LEASE)
    assert claimed is not None
    # A redelivered command sets the same generation: the claim and the timer stay as they are.
    assert not await timers.set_timer(collection, timer(due_ms=NOW + 5, generation="schedule"))
    doc = await collection.find_one({"_id": "round:r1:close"})
    assert doc is not None
    assert (doc["due_ms"], doc["owner"]) == (NOW, "a")
    # An extension sets another generation: replaced while it runs, the old claim void.
    later = NOW + 7 * 24 * 3600 * 1000
    assert await timers.set_timer(collection, timer(due_ms=later, generation="extension"))
    assert not await timers.finish(collection, "round:r1:close", claimed[1], NOW + 1)
    doc = await collection.find_one({"_id": "round:r1:close"})
    assert doc is not None
    assert (doc["state"], doc["due_ms"], doc["generation"]) == ("pending", later, "extension")
    assert await timers.claim_due(collection, "b", NOW + LEASE + 1, LEASE) is None
    assert await timers.claim_due(collection, "b", later, LEASE) is not None


async def test_a_cancelled_timer_is_never_claimed(collection: AsyncCollection[Document]) -> None:
    await timers.set_timer(collection, timer("round:r1:open"))
    await timers.set_timer(collection, timer("round:r1:close"))
    running = await timers.claim_due(collection, "a", NOW, LEASE)
    assert running is not None
    assert await timers.cancel_group(collection, "gnosjo", "r1") == 2
    assert await timers.claim_due(collection, "b", NOW + 10 * LEASE, LEASE) is None
    # The one that was running when its group was cancelled did run: it is marked done.
    assert await timers.finish(collection, running[0].timer_id, running[1], NOW + 1)
    states = {d["_id"]: d["state"] async for d in collection.find({})}
    assert sorted(states.values()) == ["cancelled", "done"]


async def test_the_loop_runs_due_timers_and_retries_failures(
    collection: AsyncCollection[Document],
) -> None:
    clock = [NOW]
    ran: list[str] = []
    failures = {"round:r1:reminder:1": 1}

    async def act(t: Timer) -> None:
        if failures.get(t.timer_id):
            failures[t.timer_id] -= 1
            raise RuntimeError("the store hiccupped")
        if t.timer_id == "round:r1:close" and "round:r1:open" not in ran:
            raise RetryLater("not open yet", 5.0)
        ran.append(t.timer_id)

    loop = TimerLoop(
        collection,
        {"round_close": act},
        TimerSettings(lease_seconds=30, poll_seconds=0.01),
        owner="me",
        clock=lambda: clock[0],
    )
    await timers.set_timer(collection, timer("round:r1:close", due_ms=NOW))
    await timers.set_timer(collection, timer("round:r1:reminder:1", due_ms=NOW))
    await timers.set_timer(collection, timer("round:r1:open", due_ms=NOW + 1))
    await timers.set_timer(collection, timer("round:r1:later", due_ms=NOW + 60_000))
    assert await loop.run_due() == 2  # close (not yet: retried), reminder (failed: retried)
    assert ran == []
    clock[0] = NOW + 1_001  # the reminder's retry (1 s) and the opening are due
    assert await loop.run_due() == 2
    assert ran == ["round:r1:reminder:1", "round:r1:open"]
    clock[0] = NOW + 5_001  # the close's own retry delay
    assert await loop.run_due() == 1
    assert ran[-1] == "round:r1:close"
    docs = {d["_id"]: d async for d in collection.find({})}
    assert docs["round:r1:reminder:1"]["attempts"] == 2
    assert "RuntimeError" in docs["round:r1:reminder:1"]["last_error"]
    assert docs["round:r1:close"]["attempts"] == 2
    assert {d["state"] for i, d in docs.items() if i != "round:r1:later"} == {"done"}
    assert docs["round:r1:later"]["state"] == "pending"


async def test_an_action_without_a_handler_is_kept_not_dropped(
    collection: AsyncCollection[Document],
) -> None:
    loop = TimerLoop(collection, {}, TimerSettings(), owner="me", clock=lambda: NOW)
    await timers.set_timer(collection, timer())
    assert await loop.run_due() == 1
    doc = await collection.find_one({"_id": "round:r1:close"})
    assert doc is not None
    assert doc["state"] == "pending"
    assert doc["lease_until_ms"] > NOW
