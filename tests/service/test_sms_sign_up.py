"""Sign-up by mobile number: an SMS code through dispatch confirms it, once, in time."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.dispatch import SendMessage
from contracts.recruitment import (
    ConfirmByCode,
    EnrolMember,
    EraseMember,
    ListTenants,
    Outcome,
    RegisterTenant,
    TenantList,
)
from contracts.rounds import (
    CreateRound,
    GetInvitation,
    GetRound,
    InvitationView,
    RoundView,
)
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish
from infra.outcomes import REPLY_HEADER
from infra.queries import ask
from infra.store import epoch_ms
from services.recruitment import expiry, sms_codes
from tests.conftest import PORTAL_URL, Stack, recruitment_outcome
from tests.service.test_slice import QUESTIONS

T = "kinda"
PHONE = "+46701234567"


async def _council(stack: Stack, country: str = "SE") -> None:
    await publish(stack.js, RegisterTenant(tenant=T, display_name="Kinda kommun", country=country))

    async def known() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and any(t.tenant == T for t in reply.tenants)

    await wait_until(known, timeout=10, what="the council")


def _sign_up(phone: str = PHONE, email: str = "") -> EnrolMember:
    return EnrolMember(
        tenant=T,
        member_id=str(uuid.uuid4()),
        phone=phone,
        email=email,
        birth_year=1988,
        gender="male",
        district="Kisa",
        consent_version="2026-1",
    )


async def _enrol(stack: Stack, command: EnrolMember) -> None:
    """Send a sign-up as the portal does, waiting for its outcome (so it is recorded)."""
    await publish(stack.js, command, headers={REPLY_HEADER: "outcome.testwaiter"})


def _texts(stack: Stack, phone: str = PHONE) -> list[str]:
    """The SMS sent to ``phone``, oldest first."""
    return [m["message"] for m in reversed(stack.devtools.sms.messages(number=phone))]


def _codes(stack: Stack, phone: str = PHONE) -> list[str]:
    return [m.group(1) for t in _texts(stack, phone) if (m := re.match(r"^(\d{6}) ", t))]


async def _code(stack: Stack, count: int = 1) -> str:
    await wait_until(lambda: len(_codes(stack)) >= count, timeout=15, what="the SMS code")
    return _codes(stack)[count - 1]


async def _confirm(stack: Stack, code: str, phone: str = PHONE) -> Outcome:
    command = ConfirmByCode(tenant=T, phone=phone, code=code)
    await publish(stack.js, command)
    outcome: Outcome = await recruitment_outcome(stack, T, command.message_id)
    return outcome


async def _counts(stack: Stack) -> tuple[int, int]:
    tenants = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
    assert tenants is not None
    [council] = [t for t in tenants.tenants if t.tenant == T]
    return council.members_active, council.members_pending


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_sign_up_by_mobile_is_confirmed_by_the_sms_code(stack: Stack) -> None:
    await _council(stack)
    # As a resident types it: the council's country reads it.
    await publish(stack.js, _sign_up("070-123 45 67"))
    code = await _code(stack)
    [text] = _texts(stack)
    assert "Kinda kommun" in text
    assert len(text) <= 160
    db = stack.services["recruitment"].runtime.db
    stored = await db.sms_codes.find_one({})
    assert stored is not None
    assert code not in str(stored)
    assert await _counts(stack) == (0, 1)
    assert (await _confirm(stack, code)).status == "done"
    # rounds learns of the new member (MemberEnrolled), without the number.
    panel = stack.services["rounds"].runtime.db.panelists
    entry = await wait_until(lambda: panel.find_one({}), timeout=10, what="rounds' panel entry")
    assert PHONE not in str(entry)
    assert await _counts(stack) == (1, 0)
    member = await db.members.find_one({"tenant": T, "state": "active"})
    assert member is not None
    assert member["phone"] == PHONE
    # dispatch's contact book keeps the number (and no address).
    contact = await wait_until(
        lambda: stack.services["dispatch"].runtime.db.contacts.find_one({"phone": PHONE}),
        timeout=10,
        what="the contact",
    )
    assert contact["email"] is None
    # The code is used up.
    reused = await _confirm(stack, code)
    assert (reused.status, reused.reason) == ("refused", "already_used")


async def test_wrong_codes_are_refused_and_void_the_code_after_five(stack: Stack) -> None:
    await _council(stack)
    await publish(stack.js, _sign_up())
    code = await _code(stack)
    for _ in range(sms_codes.MAX_ATTEMPTS):
        outcome = await _confirm(stack, _wrong(code))
        assert (outcome.status, outcome.reason) == ("refused", "invalid_code")
    # The right code no longer confirms, and says no more than a wrong one.
    late = await _confirm(stack, code)
    assert (late.status, late.reason) == ("refused", "invalid_code")
    assert await _counts(stack) == (0, 1)


async def test_an_expired_code_is_refused(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    await _council(stack)
    await publish(stack.js, _sign_up())
    code = await _code(stack)
    later = epoch_ms() + epoch_ms(sms_codes.CODE_TTL + timedelta(seconds=1))
    monkeypatch.setattr(sms_codes, "_now_ms", lambda: later)
    expired = await _confirm(stack, code)
    assert (expired.status, expired.reason) == ("refused", "invalid_code")


async def test_unknown_number_and_member_answer_like_a_wrong_code(stack: Stack) -> None:
    await _council(stack)
    for phone in ("+46709999999", "+4741234567", "12"):
        outcome = await _confirm(stack, "123456", phone)
        assert (outcome.status, outcome.reason) == ("refused", "invalid_code")


async def test_invalid_and_foreign_numbers_are_refused(stack: Stack) -> None:
    await _council(stack)
    # Not a number; a landline; a Norwegian mobile for a Swedish council.
    for phone in ("not a number", "08-123 456 78", "+4741234567"):
        command = _sign_up(phone)
        await _enrol(stack, command)
        outcome = await recruitment_outcome(stack, T, command.message_id)
        assert (outcome.status, outcome.reason) == ("refused", "rejected")
    await asyncio.sleep(0.5)
    assert stack.devtools.sms.messages() == []
    assert await _counts(stack) == (0, 0)


async def test_a_norwegian_council_takes_norwegian_numbers(stack: Stack) -> None:
    await _council(stack, "NO")
    await publish(stack.js, _sign_up("412 34 567"))
    await wait_until(
        lambda: len(_codes(stack, "+4741234567")) == 1, timeout=15, what="the SMS in Norway"
    )
    code = _codes(stack, "+4741234567")[0]
    assert (await _confirm(stack, code, "+4741234567")).status == "done"


async def test_signing_up_again_sends_one_sms_and_answers_the_same(stack: Stack) -> None:
    await _council(stack)
    first = _sign_up()
    await _enrol(stack, first)
    code = await _code(stack)
    # Again while pending (within the interval), then again as a member: no more SMS.
    again = _sign_up()
    await _enrol(stack, again)
    await recruitment_outcome(stack, T, again.message_id)
    assert (await _confirm(stack, code)).status == "done"
    member_again = _sign_up()
    await _enrol(stack, member_again)
    outcomes = [
        await recruitment_outcome(stack, T, c.message_id) for c in (first, again, member_again)
    ]
    assert {(o.status, o.reason) for o in outcomes} == {("done", None)}
    await asyncio.sleep(0.5)
    assert len(_texts(stack)) == 1
    assert await _counts(stack) == (1, 0)


async def test_a_new_code_after_the_interval_replaces_the_old(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _council(stack)
    await publish(stack.js, _sign_up())
    old = await _code(stack)
    later = epoch_ms() + epoch_ms(sms_codes.SMS_INTERVAL + timedelta(seconds=1))
    monkeypatch.setattr(sms_codes, "_now_ms", lambda: later)
    await publish(stack.js, _sign_up())
    new = await _code(stack, 2)
    if new != old:
        refused = await _confirm(stack, old)
        assert (refused.status, refused.reason) == ("refused", "invalid_code")
    assert (await _confirm(stack, new)).status == "done"


async def test_an_sms_outage_then_recovery_sends_the_code_exactly_once(stack: Stack) -> None:
    await _council(stack)
    stack.devtools.sms.outage = True
    command = _sign_up()
    await publish(stack.js, command)
    send_id = await wait_until(
        lambda: _send_attempted(stack), timeout=15, what="a send attempt during the outage"
    )
    await asyncio.sleep(0.5)
    assert _texts(stack) == []
    stack.devtools.sms.outage = False
    await _code(stack)  # retried with back-off (1 s)
    messages = stack.services["dispatch"].runtime.db.messages
    await wait_until(
        lambda: messages.find_one({"_id": send_id, "state": "sent"}),
        timeout=15,
        what="the send recorded",
    )
    await asyncio.sleep(1.5)
    assert len(_texts(stack)) == 1


async def _send_attempted(stack: Stack) -> str | None:
    doc = await stack.services["dispatch"].runtime.db.messages.find_one({"channel": "sms"})
    return None if doc is None else str(doc["_id"])


async def test_a_number_the_provider_refuses_is_recorded_rejected(stack: Stack) -> None:
    await _council(stack)
    # The simulator refuses a message over 1600 characters with 400: a permanent refusal.
    db = stack.services["dispatch"].runtime.db
    await db.contacts.insert_one(
        {"_id": f"{T}:m1", "member_id": "m1", "phone": PHONE, "council": "Kinda kommun"}
    )
    send = SendMessage(
        tenant=T,
        member_id="m1",
        channel="sms",
        template="feedback_published",
        params={"title": "x" * 1700, "link": "http://portal.test/r"},
    )
    await publish(stack.js, send)
    await wait_until(
        lambda: db.messages.find_one({"_id": send.message_id, "state": "rejected"}),
        timeout=15,
        what="the refusal recorded",
    )
    assert _texts(stack) == []


async def _member(stack: Stack) -> str:
    """A member who signed up with only a mobile number and confirmed by code; their id."""
    await publish(stack.js, _sign_up())
    assert (await _confirm(stack, await _code(stack))).status == "done"
    db = stack.services["recruitment"].runtime.db
    member = await db.members.find_one({"tenant": T, "phone": PHONE})
    assert member is not None
    return str(member["_id"])


async def test_a_member_with_only_a_phone_is_invited_to_a_round_by_sms(stack: Stack) -> None:
    await _council(stack)
    member_id = await _member(stack)
    panel = stack.services["rounds"].runtime.db.panelists
    await wait_until(
        lambda: panel.find_one({"_id": f"{T}:{member_id}"}), timeout=15, what="in rounds' panel"
    )
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(
            tenant=T,
            round_id=round_id,
            title="Kvällsbussar",
            purpose="Trafikplanen.",
            questions=QUESTIONS,
        ),
    )

    async def state(expected: str) -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return view is not None and view.state == expected

    await wait_until(lambda: state("draft"), timeout=15, what="round drafted")
    await open_now(stack.js, stack.nc, T, round_id)
    await wait_until(lambda: len(_texts(stack)) == 2, timeout=20, what="the invitation SMS")
    invitation = _texts(stack)[1]
    assert "Kinda kommun" in invitation
    assert "Kvällsbussar" in invitation
    match = re.search(rf"{re.escape(PORTAL_URL)}/t/{T}/a/([A-Za-z0-9_-]+)", invitation)
    assert match is not None
    view = await ask(stack.nc, GetInvitation(tenant=T, token=match.group(1)), InvitationView)
    assert view is not None
    assert view.status == "open"
    messages = stack.services["dispatch"].runtime.db.messages
    sent = await wait_until(
        lambda: messages.find_one({"template": "round_invitation", "state": "sent"}),
        timeout=10,
        what="the invitation recorded sent",
    )
    assert sent["channel"] == "sms"


async def _everything(stack: Stack) -> str:
    texts = []
    for service in stack.services.values():
        db = service.runtime.db
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                texts.append(f"{db.name}.{name} {json.dumps(doc, default=str)}")
    return "\n".join(texts)


async def test_an_erasure_leaves_neither_the_number_nor_the_member_id(stack: Stack) -> None:
    await _council(stack)
    member_id = await _member(stack)
    dispatch = stack.services["dispatch"].runtime.db
    await wait_until(
        lambda: dispatch.contacts.find_one({"phone": PHONE}), timeout=10, what="the contact"
    )
    assert PHONE in await _everything(stack)
    await publish(stack.js, EraseMember(tenant=T, member_id=member_id, requested_by="member"))

    async def forgotten() -> bool:
        text = await _everything(stack)
        return member_id not in text and PHONE not in text

    await wait_until(forgotten, timeout=20, what="the member forgotten everywhere")
    # The number can sign up afresh.
    await publish(stack.js, _sign_up())
    await wait_until(
        lambda: stack.services["recruitment"].runtime.db.members.find_one({"phone": PHONE}),
        timeout=15,
        what="a new sign-up",
    )


async def test_an_unconfirmed_sign_up_by_mobile_expires_with_its_code(stack: Stack) -> None:
    await _council(stack)
    await publish(stack.js, _sign_up())
    await _code(stack)
    rt = stack.services["recruitment"].runtime
    later = datetime.now(UTC) + timedelta(days=expiry.PENDING_DAYS, minutes=1)
    assert await expiry.expire_pending(rt, later) == 1
    assert await rt.db.sms_codes.count_documents({}) == 0
    assert await rt.db.member_phones.count_documents({}) == 0
    member = await rt.db.members.find_one({})
    assert member is not None
    assert member["state"] == "erased"
    assert "phone" not in member
    assert await _counts(stack) == (0, 0)
