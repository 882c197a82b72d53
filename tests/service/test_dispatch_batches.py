"""dispatch sends in batches; every guarantee still holds for each message of a batch.

One batch of invitations holds copies of one command (delivered together, and again later),
poison (an unknown template, a body that is not a command) and a crash: dispatch is stopped
while part of the batch is on its way to a stalled SMTP server, and a new instance (a new
owner) takes over. In the end every member has exactly one mail, the poison alone is
dead-lettered, and each message is recorded sent with one ``MessageSent``.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from contracts.dispatch import SendMessage
from contracts.subjects import subject_for
from devstack.devtools import DevTools
from devstack.testing import wait_until
from infra import bus
from infra.deadletter import list_dead_letters
from infra.service import Service
from services.dispatch import mailroom
from services.dispatch.app import DispatchSettings, create_service
from tests.conftest import Infra

T = "ale"
MEMBERS = 40


def _dispatch(infra: Infra, tools: DevTools) -> Service:
    return create_service(
        DispatchSettings(
            **infra.bus("dispatch"),
            mongodb_url=infra.mongodb_url,
            seal_keys=infra.seal_keys,
            smtp_port=tools.smtp_port,
            smtp_connections=8,
        )
    )


def _invitation(member: str) -> SendMessage:
    return SendMessage(
        tenant=T,
        member_id=member,
        template="round_invitation",
        params={"title": "Bussar", "purpose": "Trafikplanen", "link": f"http://l/{member}"},
    )


def _mails(tools: DevTools) -> dict[str, int]:
    counts: dict[str, int] = {}
    for mail in tools.mailbox.list_mails(limit=10_000)[0]:
        for to in mail.rcpt_tos:
            counts[to] = counts.get(to, 0) + 1
    return counts


async def test_a_batch_with_copies_poison_and_a_crash_sends_each_mail_once(
    infra: Infra, devtools: DevTools, monkeypatch: Any
) -> None:
    # Short timings so a crash is recovered in seconds (production: 60 s ack wait, 45 s lease).
    monkeypatch.setattr(bus, "ACK_WAIT_SECONDS", 3.0)
    monkeypatch.setattr(bus, "BACKOFF_SECONDS", (0.2, 0.5, 1.0))
    monkeypatch.setattr(mailroom, "CLAIM_LEASE", timedelta(seconds=2))
    monkeypatch.setattr(mailroom, "HEARTBEAT_SECONDS", 0.5)
    first = _dispatch(infra, devtools)
    await first.start()
    # The test publishes and inspects as ops: dispatch itself may not send itself commands.
    nc = await infra.connect()
    js = nc.jetstream()
    members = [str(uuid.uuid4()) for _ in range(MEMBERS)]
    await first.runtime.db.contacts.insert_many(
        [
            {"_id": f"{T}:{m}", "tenant": T, "member_id": m, "email": f"{m}@ale.example"}
            for m in members
        ]
    )
    commands = [_invitation(m) for m in members]
    twin = commands[0]
    poison = SendMessage(tenant=T, member_id=members[1], template="nope")
    subject = subject_for(twin)

    # Let 10 mails through, then stall the SMTP server: the rest of the batch is claimed and
    # on its way when dispatch goes down.
    sent_before = 0

    def stall_after_ten() -> None:
        nonlocal sent_before
        if devtools.mailbox.count() >= 10 and sent_before == 0:
            devtools.smtp.pause()
            sent_before = devtools.mailbox.count()

    original_store = devtools.mailbox.store

    def store(*args: Any) -> Any:
        summary = original_store(*args)
        stall_after_ten()
        return summary

    monkeypatch.setattr(devtools.mailbox, "store", store)
    # The same command twice at once (a publisher's retry past the duplicate window has a new
    # Nats-Msg-Id), the poison, a body that is no command, and everyone's invitation.
    for copy in ("a", "b"):
        await js.publish(subject, twin.model_dump_json().encode(), headers={"Nats-Msg-Id": copy})
    await bus.publish(js, poison)
    await js.publish(subject, json.dumps({"tenant": T, "template": "x"}).encode())
    for cmd in commands[1:]:
        await bus.publish(js, cmd)

    await wait_until(lambda: devtools.smtp.held > 0, timeout=15, what="sends held by the stall")
    claims = first.runtime.extras["mailroom"]
    assert claims.batching[0] < claims.batching[1]  # deliveries shared store round trips
    # The crash: stop while mails are held mid-send (their handlers are cancelled, nothing
    # is acked, the claims stay with the dead owner until their lease runs out).
    first.broker.config.broker_config.graceful_timeout = 0.5
    await first.stop()
    left = await _claims_left(infra, {c.message_id for c in commands})
    assert left  # claims of the stopped instance, mails not yet sent

    second = _dispatch(infra, devtools)
    await second.start()
    try:
        devtools.smtp.resume()
        assert sent_before >= 10

        def everyone_has_mail() -> bool:
            return len(_mails(devtools)) >= MEMBERS

        await wait_until(everyone_has_mail, timeout=60, what="a mail for every member")
        db = second.runtime.db

        async def all_sent() -> bool:
            docs = await db.messages.find({}, {"state": 1, "outbox_pending": 1}).to_list()
            return len(docs) == MEMBERS and all(
                d["state"] == "sent" and not d.get("outbox_pending") for d in docs
            )

        await wait_until(all_sent, timeout=30, what="every message recorded sent, published")
        # The new instance took the left claims over once their lease ran out.
        taken = await db.messages.find({"_id": {"$in": list(left)}}, {"owner": 1}).to_list()
        assert {d["owner"] for d in taken} == {second.runtime.extras["mailroom"].owner}
        # Again later: a third copy of the twin finds it sent and sends nothing.
        await js.publish(subject, twin.model_dump_json().encode(), headers={"Nats-Msg-Id": "c"})

        async def nothing_left() -> bool:
            state = await js.consumer_info("DISPATCH_CMD", "dispatch_send_message")
            return not (state.num_pending or state.num_ack_pending or state.num_redelivered)

        await wait_until(nothing_left, timeout=30, what="every delivery acked")
        mails = _mails(devtools)
        assert set(mails) == {f"{m}@ale.example" for m in members}
        assert set(mails.values()) == {1}  # exactly one mail each, across the crash

        letters = await list_dead_letters(js)
        assert sorted(x.reason for x in letters) == ["invalid", "rejected"]
        assert any("nope" in x.error for x in letters)
        assert all(x.original_message_id != twin.message_id for x in letters)

        info = await js.stream_info("DISPATCH_EVT")
        assert info.state.messages == MEMBERS  # one MessageSent per message
    finally:
        devtools.smtp.resume()
        await second.stop()
        await nc.close()


async def _claims_left(infra: Infra, ids: set[str]) -> set[str]:
    from infra.store import connect, database

    client = connect(infra.mongodb_url)
    try:
        docs = await (
            database(client, "dispatch")
            .messages.find({"_id": {"$in": list(ids)}, "state": "sending"}, {"_id": 1})
            .to_list()
        )
        return {d["_id"] for d in docs}
    finally:
        await client.close()


async def test_a_claim_renewed_by_the_heartbeat_is_taken_over_after_a_crash(
    infra: Infra, devtools: DevTools, monkeypatch: Any
) -> None:
    """The lease a heartbeat wrote still compares with the time (the embedded store keeps a
    datetime written by ``$set`` as a string: leases are numbers for that reason)."""
    monkeypatch.setattr(bus, "ACK_WAIT_SECONDS", 3.0)
    monkeypatch.setattr(bus, "BACKOFF_SECONDS", (0.2, 0.5, 1.0))
    monkeypatch.setattr(mailroom, "CLAIM_LEASE", timedelta(seconds=2))
    first = _dispatch(infra, devtools)
    await first.start()
    member = str(uuid.uuid4())
    await first.runtime.db.contacts.insert_one(
        {"_id": f"{T}:{member}", "tenant": T, "member_id": member, "email": "renewed@ale.example"}
    )
    devtools.smtp.pause()
    command = _invitation(member)
    nc = await infra.connect()
    await bus.publish(nc.jetstream(), command)
    await wait_until(lambda: devtools.smtp.held > 0, timeout=15, what="the send held")
    assert await first.runtime.extras["mailroom"].renew() == 1  # the heartbeat
    first.broker.config.broker_config.graceful_timeout = 0.5
    await first.stop()

    second = _dispatch(infra, devtools)
    await second.start()
    try:
        devtools.smtp.resume()
        await wait_until(
            lambda: _mails(devtools).get("renewed@ale.example") == 1,
            timeout=30,
            what="the mail sent by the new instance",
        )
        doc = await second.runtime.db.messages.find_one({"_id": command.message_id})
        assert doc is not None
        assert doc["owner"] == second.runtime.extras["mailroom"].owner
        assert await list_dead_letters(nc.jetstream()) == []
    finally:
        devtools.smtp.resume()
        await second.stop()
        await nc.close()
