"""The shared delivery policy against a real nats-server and document store."""

from __future__ import annotations

import json
from typing import Any

from faststream.nats import NatsRouter

from contracts.feedback import PublishFeedback
from contracts.subjects import subject_for
from devstack.testing import wait_until
from infra import bus
from infra.deadletter import list_dead_letters, replay
from infra.sealing import Sealer, is_sealed
from infra.service import Runtime, Service, ServiceSettings, subscriber
from infra.store import new_document
from tests.conftest import Infra


def probe_service(infra: Infra, seen: list[Any], fail_times: dict[str, int]) -> Service:
    """A service whose one handler records what it got and can fail on demand."""

    def build(rt: Runtime) -> NatsRouter:
        router = NatsRouter()

        @subscriber(router, PublishFeedback, "probe_publish_feedback")
        async def handle(cmd: PublishFeedback) -> None:
            left = fail_times.get(cmd.round_id, 0)
            if left:
                fail_times[cmd.round_id] = left - 1
                raise RuntimeError("transient")
            if cmd.round_id == "reject-me":
                raise bus.Rejected("no such round")
            seen.append(cmd)

        return router

    async def no_indexes(_: Any) -> None:
        return None

    return Service(
        "probe",
        build_router=build,
        indexes=no_indexes,
        outbox_collections=["things"],
        settings=ServiceSettings(
            **infra.bus("ops"), mongodb_url=infra.mongodb_url, seal_keys=infra.seal_keys
        ),
    )


async def test_policy_for_good_invalid_mismatched_rejected_and_transient(
    infra: Infra, monkeypatch: Any
) -> None:
    monkeypatch.setattr(bus, "BACKOFF_SECONDS", (0.1,))
    seen: list[Any] = []
    fail = {"flaky": 2}
    svc = probe_service(infra, seen, fail)
    await svc.start()
    nc = await infra.connect()
    js = nc.jetstream()
    try:
        good = PublishFeedback(tenant="gnosjo", round_id="r1", text="Tack!")
        await bus.publish(js, good)
        # A duplicate publish (same message_id) is dropped by the stream.
        await bus.publish(js, good)
        subject = subject_for(PublishFeedback, "gnosjo")
        await js.publish(subject, b"{not json", headers={"Nats-Msg-Id": "m-bad-json"})
        await js.publish(
            subject,
            json.dumps({"tenant": "gnosjo", "round_id": "r"}).encode(),
            headers={"Nats-Msg-Id": "m-missing-field"},
        )
        mismatched = PublishFeedback(tenant="kinda", round_id="r2", text="x")
        await js.publish(subject, mismatched.model_dump_json().encode())
        await bus.publish(js, PublishFeedback(tenant="gnosjo", round_id="reject-me", text="x"))
        await bus.publish(js, PublishFeedback(tenant="gnosjo", round_id="flaky", text="x"))

        await wait_until(lambda: len(seen) == 2, timeout=15, what="good and flaky handled")
        assert [c.round_id for c in seen] == ["r1", "flaky"]

        async def four_filed() -> bool:
            return len(await list_dead_letters(js)) == 4

        await wait_until(four_filed, timeout=10, what="four dead letters filed")
        letters = await list_dead_letters(js)
        # Bodies are sealed at rest (they can hold addresses, links and answers) …
        assert all(is_sealed(x.data) and b"reject-me" not in x.data for x in letters)
        # … and open to the installation's keys, whole.
        opened = [Sealer(infra.seal_keys).open(x.data) for x in letters]
        assert b"{not json" in opened
        assert any(b"reject-me" in body for body in opened)
        reasons = sorted(letter.reason for letter in letters)
        assert reasons == ["invalid", "invalid", "rejected", "rejected"]
        mismatch = [x for x in letters if "differs" in x.error]
        assert len(mismatch) == 1
        assert mismatch[0].subject == subject
        assert mismatch[0].consumer == "probe_publish_feedback"

        # Replaying the rejected one publishes it again: it is rejected again, nothing lost.
        rejected = next(x for x in letters if "no such round" in x.error)
        await replay(js, rejected.sequence, Sealer(infra.seal_keys))

        async def refiled() -> bool:
            return sum("no such round" in x.error for x in await list_dead_letters(js)) == 1

        await wait_until(refiled, timeout=10, what="replayed letter filed again")
    finally:
        await nc.close()
        await svc.stop()


async def test_exhausted_deliveries_are_dead_lettered(infra: Infra, monkeypatch: Any) -> None:
    monkeypatch.setattr(bus, "BACKOFF_SECONDS", (0.05,))
    seen: list[Any] = []
    svc = probe_service(infra, seen, {"doomed": 100})
    await svc.start()
    try:
        await svc.runtime.publish(PublishFeedback(tenant="ale", round_id="doomed", text="x"))

        async def filed() -> bool:
            return any(x.reason == "exhausted" for x in await list_dead_letters(svc.runtime.js))

        await wait_until(filed, timeout=20, what="exhausted message dead-lettered")
        letter = (await list_dead_letters(svc.runtime.js))[0]
        assert letter.delivered == str(bus.MAX_DELIVER)
        assert seen == []
        # The exception's text can quote what the handler held: sealed like the body.
        assert is_sealed(letter.error.encode())
        assert letter.summary(Sealer(infra.seal_keys))["error"] == "RuntimeError('transient')"
    finally:
        await svc.stop()


async def test_outbox_relay_publishes_each_message_once(infra: Infra) -> None:
    seen: list[Any] = []
    svc = probe_service(infra, seen, {})
    await svc.start()
    try:
        messages = [PublishFeedback(tenant="tyreso", round_id=f"o{i}", text="x") for i in range(5)]
        await svc.runtime.db.things.insert_one(new_document({"_id": "doc"}, *messages))
        # Fast path and sweep may both publish: Nats-Msg-Id dedupe keeps it to one each.
        await svc.runtime.flush("things", ["doc"])
        await svc.runtime.flush("things", ["doc"])
        await wait_until(lambda: len(seen) == 5, timeout=10, what="outbox messages handled")
        doc = await svc.runtime.db.things.find_one({"_id": "doc"})
        assert doc is not None
        assert doc["outbox"] == {}
        assert doc["outbox_pending"] == 0
        info = await svc.runtime.js.stream_info("FEEDBACK_CMD")
        assert info.state.messages == 0  # work queue: all acked, none left
        assert sorted(c.round_id for c in seen) == [f"o{i}" for i in range(5)]
    finally:
        await svc.stop()


async def test_relay_repairs_a_count_that_claims_more_than_the_outbox_holds(
    infra: Infra,
) -> None:
    seen: list[Any] = []
    svc = probe_service(infra, seen, {})
    await svc.start()
    try:
        message = PublishFeedback(tenant="malmo", round_id="drift", text="x")
        doc = new_document({"_id": "drifted"}, message)
        doc["outbox_pending"] = 2  # as if the same entry had been added twice
        await svc.runtime.db.things.insert_one(doc)
        await svc.runtime.flush("things")
        await wait_until(lambda: len(seen) == 1, timeout=10, what="message handled")

        async def repaired() -> bool:
            stored = await svc.runtime.db.things.find_one({"_id": "drifted"})
            return stored is not None and stored["outbox_pending"] == 0

        # The entry is published at once; the next sweep sees an empty outbox and repairs.
        await wait_until(repaired, timeout=10, what="count repaired by the sweep")
        assert await svc.runtime.relay.flush("things") == 0  # returns instead of spinning
    finally:
        await svc.stop()


async def test_a_message_whose_last_delivery_got_no_answer_is_filed_by_its_streams_owner(
    infra: Infra,
) -> None:
    from nats.js.api import ConsumerConfig

    from services.feedback.app import create_service as feedback

    # feedback owns FEEDBACK_CMD and FEEDBACK_EVT: it alone may read them by sequence, so it
    # files what any of their consumers gave up on.
    owner = feedback(
        ServiceSettings(
            **infra.bus("feedback"), mongodb_url=infra.mongodb_url, seal_keys=infra.seal_keys
        )
    )
    await owner.start()
    nc = await infra.connect()
    js = nc.jetstream()
    try:
        # A consumer takes each message once and never answers, as a process that crashed
        # mid-handler would: a command (work queue) and an event (kept for other consumers).
        for stream, subject, durable in (
            ("FEEDBACK_CMD", "feedback.lund.cmd.crashy", "probe_crashy"),
            ("FEEDBACK_EVT", "feedback.lund.evt.crashy", "probe_crashy_evt"),
        ):
            sub = await js.pull_subscribe(
                subject,
                durable=durable,
                stream=stream,
                config=ConsumerConfig(max_deliver=1, ack_wait=0.5),
            )
            await js.publish(
                subject, b'{"tenant": "lund"}', headers={"Nats-Msg-Id": f"crash-{durable}"}
            )
            taken = await sub.fetch(1, timeout=5)
            assert len(taken) == 1  # taken, never acked

        async def filed() -> bool:
            consumers = {x.consumer for x in await list_dead_letters(js) if x.reason == "exhausted"}
            return consumers == {"probe_crashy", "probe_crashy_evt"}

        await wait_until(filed, timeout=15, what="advisories filed the messages")
        letters = {x.consumer: x for x in await list_dead_letters(js)}
        assert letters["probe_crashy"].subject == "feedback.lund.cmd.crashy"
        assert letters["probe_crashy"].original_message_id == "crash-probe_crashy"
        assert letters["probe_crashy_evt"].subject == "feedback.lund.evt.crashy"
        info = await js.stream_info("FEEDBACK_CMD")
        assert info.state.messages == 0  # removed from the work queue, not stuck there
        info = await js.stream_info("FEEDBACK_EVT")
        assert info.state.messages == 1  # an event stays for its other consumers
    finally:
        await nc.close()
        await owner.stop()
