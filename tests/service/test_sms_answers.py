"""Answering a short round by SMS, one question at a time (rounds' side of ``SmsReceived``).

A member who joined with only a mobile number gets a short round's first question by SMS with
numbered answers; each reply (as dispatch passes it on) moves to the next question shown, a
reply that is not one of the numbers is explained, a redelivered reply changes nothing, and the
last answer stores the response (channel sms) and thanks the member.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from contracts.dispatch import SmsReceived
from contracts.rounds import (
    CreateRound,
    GetRound,
    Question,
    RoundView,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish, publish_raw
from infra.queries import ask
from services.dispatch import inbound
from services.rounds import reminders, tallies
from tests.conftest import Stack
from tests.service.test_sms_sign_in import _sms_member
from tests.service.test_sms_sign_up import PHONE, T, _council
from tests.service.test_sms_sign_up import _texts as _sms_to

QUESTIONS = (
    Question(key="park", kind="yes_no", text="Använder du parken?"),
    Question(
        key="often",
        kind="single_choice",
        text="Hur ofta?",
        options=("Varje dag", "Varje vecka", "Sällan"),
        show_if={"question": "park", "answers": ["yes"]},
    ),
    Question(key="happy", kind="scale", text="Hur nöjd är du?", scale_max=5),
)


async def _round(stack: Stack, questions: tuple[Question, ...] = QUESTIONS) -> str:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T, round_id=round_id, title="Parken", purpose="Plan.", questions=questions
        ),
    )

    await open_now(stack.js, stack.nc, T, round_id)
    return round_id


async def _reply(stack: Stack, member_id: str, text: str, count: int) -> SmsReceived:
    """The member replies; returns the event, once the ``count``-th SMS to them has come."""
    event = SmsReceived(tenant=T, member_id=member_id, text=text)
    await publish(stack.js, event)
    await wait_until(lambda: len(_sms_to(stack)) >= count, timeout=15, what=f"SMS {count}")
    return event


async def test_a_short_round_is_answered_by_sms_one_question_at_a_time(stack: Stack) -> None:
    await _council(stack)
    member_id = await _sms_member(stack)
    sent_before = len(_sms_to(stack))
    round_id = await _round(stack)
    await wait_until(
        lambda: len(_sms_to(stack)) > sent_before, timeout=20, what="the SMS invitation"
    )
    invitation = _sms_to(stack)[-1]
    assert "Fråga 1/3: Använder du parken? 1=Ja 2=Nej Svara med siffran." in invitation
    assert f"/t/{T}/a/" in invitation  # the web is there too
    n = len(_sms_to(stack))
    await _reply(stack, member_id, "7", n + 1)
    assert _sms_to(stack)[-1].startswith("Vi förstod inte svaret. Svara med en av siffrorna.")
    first = await _reply(stack, member_id, " 1 ", n + 2)
    assert "Fråga 2/3: Hur ofta? 1=Varje dag 2=Varje vecka 3=Sällan" in _sms_to(stack)[-1]
    # The same reply delivered again (past the duplicate window) moves nothing, sends nothing.
    await publish_raw(
        stack.js,
        f"dispatch.{T}.evt.sms_received",
        first.model_dump_json().encode(),
        f"copy-{first.message_id}",
    )
    await _reply(stack, member_id, "varje vecka", n + 3)  # the answer's words do too
    assert "Fråga 3/3: Hur nöjd är du? 1=1 2=2 3=3 4=4 5=5" in _sms_to(stack)[-1]
    await _reply(stack, member_id, "4", n + 4)
    assert _sms_to(stack)[-1].startswith("Tack för dina svar!")
    assert len(_sms_to(stack)) == n + 4

    rt = stack.services["rounds"].runtime
    [response] = await rt.db.responses.find({"round_id": round_id}).to_list()
    assert response["answers"] == {"park": "yes", "often": "Varje vecka", "happy": 4}
    assert response["channel"] == "sms"
    assert member_id not in str(response)
    invitation_doc = await rt.db.invitations.find_one({"_id": f"{round_id}:{member_id}"})
    assert invitation_doc is not None
    assert invitation_doc["state"] == "answered"
    session = await rt.db.sms_sessions.find_one({"_id": f"{round_id}:{member_id}"})
    assert session is not None
    assert session["answers"] == ""  # nothing of the answers stays next to the member
    view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
    assert view is not None
    assert view.responded == 1
    kept = await tallies.kept(rt, T, round_id, len(QUESTIONS))
    assert tallies.nonzero(kept) == tallies.nonzero(await tallies.recount(rt, T, round_id))
    # A later reply answers nothing more.
    await publish(stack.js, SmsReceived(tenant=T, member_id=member_id, text="1"))
    await publish(stack.js, SmsReceived(tenant=T, member_id="nobody", text="1"))
    info = await stack.js.consumer_info("DISPATCH_EVT", "rounds_sms_received")
    assert info is not None


async def test_a_round_too_long_or_with_other_kinds_is_not_answered_by_sms(stack: Stack) -> None:
    await _council(stack)
    member_id = await _sms_member(stack)
    sent_before = len(_sms_to(stack))
    await _round(stack, (*QUESTIONS, Question(key="why", kind="free_text", text="Varför?")))
    await wait_until(
        lambda: len(_sms_to(stack)) > sent_before, timeout=20, what="the SMS invitation"
    )
    assert "Fråga 1/" not in _sms_to(stack)[-1]
    await publish(stack.js, SmsReceived(tenant=T, member_id=member_id, text="1"))
    rt = stack.services["rounds"].runtime

    async def handled() -> bool:
        info = await stack.js.consumer_info("DISPATCH_EVT", "rounds_sms_received")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_until(handled, timeout=15, what="the reply handled")
    assert await rt.db.sms_sessions.count_documents({}) == 0


async def test_replies_come_in_through_dispatchs_inbound_webhook(stack: Stack) -> None:
    await _council(stack)
    await _sms_member(stack)
    sent_before = len(_sms_to(stack))
    round_id = await _round(stack)
    await wait_until(
        lambda: len(_sms_to(stack)) > sent_before, timeout=20, what="the SMS invitation"
    )
    dispatch = stack.services["dispatch"].runtime
    app = FastAPI()
    app.include_router(inbound.router(dispatch, "s3cret-path"))
    n = len(_sms_to(stack))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dispatch"
    ) as client:
        form = {"id": "elks-1", "from": PHONE, "to": "+46766860000", "message": "2"}
        # A wrong secret is nothing; the right one takes the reply, once however often posted.
        assert (await client.post("/sms/inbound/guess", data=form)).status_code == 404
        for _ in range(2):
            assert (await client.post("/sms/inbound/s3cret-path", data=form)).status_code == 200
        # An unknown number is taken (the provider must not retry) and goes nowhere.
        stranger = {**form, "id": "elks-2", "from": "+46709999999"}
        assert (await client.post("/sms/inbound/s3cret-path", data=stranger)).status_code == 200
    # "2" = no: the question on how often is skipped, the scale comes next.
    await wait_until(lambda: len(_sms_to(stack)) > n, timeout=15, what="the next question")
    assert "Fråga 3/3: Hur nöjd är du?" in _sms_to(stack)[-1]
    assert await inbound.receive_sms(dispatch, "elks-3", PHONE, "5") == 1
    await wait_until(lambda: len(_sms_to(stack)) > n + 1, timeout=15, what="the thanks")
    assert len(_sms_to(stack)) == n + 2
    rt = stack.services["rounds"].runtime
    [response] = await rt.db.responses.find({"round_id": round_id}).to_list()
    assert response["answers"] == {"park": "no", "happy": 5}
    # Nothing of the texts rests in dispatch once published.
    kept = await dispatch.db.inbound_sms.find({}).to_list()
    assert len(kept) == 2
    assert all(not doc.get("outbox") for doc in kept)


async def test_a_reminder_by_sms_asks_the_first_question_unless_the_member_is_answering(
    stack: Stack,
) -> None:
    await _council(stack)
    member_id = await _sms_member(stack)
    sent_before = len(_sms_to(stack))
    round_id = await _round(stack)
    rt = stack.services["rounds"].runtime

    async def written() -> bool:
        doc = await rt.db.rounds.find_one({"_id": round_id})
        return doc is not None and doc.get(reminders.WRITTEN) == "yes"

    await wait_until(written, timeout=20, what="the invitations written")
    await wait_until(
        lambda: len(_sms_to(stack)) > sent_before, timeout=20, what="the SMS invitation"
    )
    assert "Fråga 1/3" in _sms_to(stack)[-1]
    await rt.db.rounds.update_one({"_id": round_id}, {"$set": {"reminder_days": [1, 2]}})
    n = len(_sms_to(stack))
    await reminders.send_reminders(rt, T, round_id, 1)
    await wait_until(lambda: len(_sms_to(stack)) > n, timeout=20, what="the first reminder")
    first = _sms_to(stack)[-1]
    assert "påminnelse om Parken" in first
    assert "Fråga 1/3: Använder du parken? 1=Ja 2=Nej Svara med siffran." in first
    # The member answers the first question; the next reminder does not ask it again.
    await _reply(stack, member_id, "2", n + 2)
    await reminders.send_reminders(rt, T, round_id, 2)
    await wait_until(lambda: len(_sms_to(stack)) > n + 2, timeout=20, what="the second reminder")
    second = _sms_to(stack)[-1]
    assert "påminnelse om enkäten Parken" in second
    assert "Fråga" not in second
    assert f"/t/{T}/a/" in second
