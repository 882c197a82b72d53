"""Bad input through the real bus: each gets a clear refusal or a recorded rejection."""

from __future__ import annotations

import uuid

from contracts.dispatch import SendMessage
from contracts.recruitment import (
    EnrolMember,
    ImportMember,
)
from contracts.subjects import subject_for
from devstack.testing import wait_until
from infra.bus import publish
from infra.deadletter import list_dead_letters
from tests.conftest import Stack, register_council


def _mail_count(stack: Stack, to: str) -> int:
    return int(stack.devtools.mailbox.list_mails(limit=1000, to=to)[1])


async def test_a_message_delivered_twice_has_one_effect(stack: Stack) -> None:
    await register_council(stack, "ale")
    member = str(uuid.uuid4())
    await publish(
        stack.js,
        ImportMember(
            tenant="ale",
            member_id=member,
            email="twice@ale.example",
            birth_year=1980,
            gender="female",
            district="Surte",
            consent_version="2026-1",
            source="paper",
        ),
    )
    mail = SendMessage(
        tenant="ale",
        member_id=member,
        template="feedback_published",
        params={"title": "T", "text": "X", "link": "http://l"},
    )
    data = mail.model_dump_json().encode()
    # Past the stream's duplicate window a redelivery arrives with a new Nats-Msg-Id.
    for attempt in range(3):
        await stack.js.publish(subject_for(mail), data, headers={"Nats-Msg-Id": f"re-{attempt}"})
    await wait_until(
        lambda: _mail_count(stack, "twice@ale.example") >= 1, timeout=15, what="the mail"
    )
    dispatch = stack.services["dispatch"]
    db = dispatch.runtime.db

    def handled() -> float:
        labels = {"subject": "send_message", "outcome": "handled"}
        return dispatch.registry.get_sample_value("radslag_deliveries_total", labels) or 0.0

    # Copies that met the first one mid-send are retried; all three end up handled.
    await wait_until(lambda: handled() >= 3, timeout=20, what="all three copies handled")
    assert _mail_count(stack, "twice@ale.example") == 1
    assert await db.messages.count_documents({"_id": mail.message_id}) == 1

    # A sign-up delivered twice makes one member and one opt-in mail.
    enrol = EnrolMember(
        tenant="ale",
        member_id=str(uuid.uuid4()),
        email="once@ale.example",
        birth_year=1990,
        gender="male",
        district="Surte",
        consent_version="2026-1",
    )
    for attempt in range(2):
        await stack.js.publish(
            subject_for(enrol),
            enrol.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"enrol-{attempt}"},
        )
    await wait_until(
        lambda: _mail_count(stack, "once@ale.example") >= 1, timeout=15, what="opt-in mail"
    )
    members = stack.services["recruitment"].runtime.db.members
    assert await members.count_documents({"email": "once@ale.example"}) == 1
    assert _mail_count(stack, "once@ale.example") == 1


async def test_unknown_council_and_unknown_template_are_dead_lettered(stack: Stack) -> None:
    await publish(
        stack.js,
        EnrolMember(
            tenant="nowhere",
            member_id=str(uuid.uuid4()),
            email="x@y.example",
            birth_year=1990,
            gender="male",
            district="D",
            consent_version="2026-1",
        ),
    )

    async def filed() -> bool:
        return any("unknown tenant" in x.error for x in await list_dead_letters(stack.js))

    await wait_until(filed, timeout=10, what="unknown council dead-lettered")
    await register_council(stack, "kinda")
    member = str(uuid.uuid4())
    await publish(
        stack.js,
        ImportMember(
            tenant="kinda",
            member_id=member,
            email="t@kinda.example",
            birth_year=1980,
            gender="other",
            district="Kisa",
            consent_version="2026-1",
            source="phone",
        ),
    )
    await publish(stack.js, SendMessage(tenant="kinda", member_id=member, template="nope"))

    async def template_filed() -> bool:
        return any("nope" in x.error for x in await list_dead_letters(stack.js))

    await wait_until(template_filed, timeout=15, what="unknown template dead-lettered")
    letter = next(x for x in await list_dead_letters(stack.js) if "nope" in x.error)
    assert letter.reason == "rejected"
    assert letter.consumer == "dispatch_send_message"


async def test_concurrent_copies_of_one_message_send_one_mail(stack: Stack) -> None:
    import asyncio

    from services.dispatch import handlers

    await register_council(stack, "tyreso")
    member = str(uuid.uuid4())
    rt = stack.services["dispatch"].runtime
    await rt.db.contacts.insert_one(
        {
            "_id": f"tyreso:{member}",
            "tenant": "tyreso",
            "member_id": member,
            "email": "race@tyreso.example",
            "locale": "sv",
        }
    )
    mail = SendMessage(
        tenant="tyreso",
        member_id=member,
        template="feedback_published",
        params={"title": "T", "text": "X", "link": "http://l"},
    )
    outcomes = await asyncio.gather(
        *(handlers.send_message(rt, mail) for _ in range(5)), return_exceptions=True
    )
    in_flight = [o for o in outcomes if isinstance(o, handlers.SendInFlight)]
    assert len(in_flight) + outcomes.count(None) == 5
    assert _mail_count(stack, "race@tyreso.example") == 1
    # A later redelivery finds it sent and does nothing.
    await handlers.send_message(rt, mail)
    assert _mail_count(stack, "race@tyreso.example") == 1
