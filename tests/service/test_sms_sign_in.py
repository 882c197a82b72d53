"""Members sign in by a code sent by SMS, and choose the channel panel messages reach them by,
over the real services: recruitment texts the code through dispatch, the code opens a session
once, in time, for an active member's number only; a member who prefers SMS gets round
invitations by SMS, while sign-in links and address confirmations keep to e-mail."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import pytest

from contracts.membership import (
    ChangeMyDetails,
    GetMyMembership,
    MyMembership,
    OpenMemberSession,
    OpenMemberSessionByCode,
    RequestSignIn,
    RequestSignInCode,
)
from contracts.panels import ConfigurePanel, PanelSettings
from contracts.recruitment import ConfirmMembership, Outcome
from contracts.rounds import CreateRound, GetRound, RoundView
from devstack.rounds import open_round as open_now
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from infra.store import epoch_ms
from infra.tokens import new_token, token_hash
from services.recruitment import sign_in_codes, sms_codes
from tests.conftest import PORTAL_URL, Stack, recruitment_outcome
from tests.service.test_slice import QUESTIONS
from tests.service.test_sms_sign_up import PHONE, T, _code, _codes, _confirm, _council, _sign_up
from tests.service.test_sms_sign_up import _texts as _sms_to

OTHER = "+46709999999"


async def _settled(stack: Stack, command: RequestSignInCode | OpenMemberSessionByCode) -> Outcome:
    await publish(stack.js, command)
    outcome: Outcome = await recruitment_outcome(stack, T, command.message_id)
    return outcome


async def _sms_member(stack: Stack) -> str:
    """A member who joined with only a mobile number (confirmed by the sign-up code); their id."""
    await publish(stack.js, _sign_up())
    assert (await _confirm(stack, await _code(stack))).status == "done"
    member = await stack.services["recruitment"].runtime.db.members.find_one({"phone": PHONE})
    assert member is not None
    return str(member["_id"])


async def _sign_in_code(stack: Stack, count: int, phone: str = "070-123 45 67") -> str:
    """Ask for a sign-in code; the ``count``-th code texted to the number (sign-up's first)."""
    assert (await _settled(stack, RequestSignInCode(tenant=T, phone=phone))).status == "done"
    return await _code(stack, count)


async def _open(stack: Stack, code: str, phone: str = PHONE) -> tuple[str, Outcome]:
    session = new_token()
    command = OpenMemberSessionByCode(
        tenant=T, phone=phone, code=code, session_hash=token_hash(session)
    )
    return session, await _settled(stack, command)


async def _me(stack: Stack, session: str) -> MyMembership | None:
    return await ask(stack.nc, GetMyMembership(tenant=T, session=session), MyMembership)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_member_with_only_a_number_signs_in_by_the_sms_code(stack: Stack) -> None:
    await _council(stack)
    member_id = await _sms_member(stack)
    code = await _sign_in_code(stack, 2)
    text = _sms_to(stack)[1]
    assert "logga in" in text
    assert "Kinda kommun" in text
    assert len(text) <= 160
    stored = await stack.services["recruitment"].runtime.db.sign_in_codes.find_one({})
    assert stored is not None
    assert code not in str(stored)
    assert PHONE not in str(stored)
    session, opened = await _open(stack, code)
    assert opened.status == "done"
    me = await _me(stack, session)
    assert me is not None
    assert (me.member_id, me.email, me.phone, me.channel) == (member_id, "", PHONE, "sms")
    # The code works once; a new session cannot be had with it.
    _, reused = await _open(stack, code)
    assert (reused.status, reused.reason) == ("refused", "already_used")
    # The SMS went through dispatch, recorded like every message.
    messages = stack.services["dispatch"].runtime.db.messages
    sent = await wait_until(
        lambda: messages.find_one({"template": "member_sign_in_code", "state": "sent"}),
        timeout=10,
        what="the sign-in SMS recorded",
    )
    assert sent["channel"] == "sms"


async def test_wrong_codes_are_refused_and_the_sixth_try_fails_even_when_right(
    stack: Stack,
) -> None:
    await _council(stack)
    await _sms_member(stack)
    code = await _sign_in_code(stack, 2)
    for _ in range(sms_codes.MAX_ATTEMPTS):
        _, wrong = await _open(stack, _wrong(code))
        assert (wrong.status, wrong.reason) == ("refused", "invalid_code")
    session, sixth = await _open(stack, code)
    assert (sixth.status, sixth.reason) == ("refused", "invalid_code")
    assert await _me(stack, session) is None


async def test_an_expired_code_is_refused_as_expired(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _council(stack)
    await _sms_member(stack)
    code = await _sign_in_code(stack, 2)
    later = epoch_ms() + epoch_ms(sms_codes.CODE_TTL + timedelta(seconds=1))
    monkeypatch.setattr(sign_in_codes, "_now_ms", lambda: later)
    session, expired = await _open(stack, code)
    assert (expired.status, expired.reason) == ("refused", "expired")
    assert await _me(stack, session) is None
    # A wrong code, expired or not, is only wrong.
    _, wrong = await _open(stack, _wrong(code))
    assert wrong.reason == "invalid_code"


async def test_unknown_and_pending_numbers_get_no_sms_and_the_same_answer(stack: Stack) -> None:
    await _council(stack)
    # A pending sign-up (its confirmation code sent, not typed).
    await publish(stack.js, _sign_up())
    signup_code = await _code(stack)
    for phone in (PHONE, OTHER, "not a number", "08-123 456 78"):
        outcome = await _settled(stack, RequestSignInCode(tenant=T, phone=phone))
        assert (outcome.status, outcome.reason) == ("done", None), phone
    await asyncio.sleep(1.0)
    assert len(_sms_to(stack)) == 1  # only the sign-up's code
    assert _sms_to(stack, OTHER) == []
    # Nor does the sign-up's code sign anyone in; nor any code for a number without one.
    for phone, code in ((PHONE, signup_code), (OTHER, "123456"), ("12", "123456")):
        _, refused = await _open(stack, code, phone)
        assert (refused.status, refused.reason) == ("refused", "invalid_code"), phone


async def test_one_sms_per_number_at_a_time_and_again_soon_after_use(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _council(stack)
    await _sms_member(stack)
    first = await _sign_in_code(stack, 2)
    again = await _settled(stack, RequestSignInCode(tenant=T, phone=PHONE))
    assert again.status == "done"
    await asyncio.sleep(1.0)
    assert len(_codes(stack)) == 2  # the code sent stays the one to use
    assert (await _open(stack, first))[1].status == "done"
    later = epoch_ms() + epoch_ms(sign_in_codes.AGAIN_AFTER_USE + timedelta(seconds=1))
    monkeypatch.setattr(sign_in_codes, "_now_ms", lambda: later)
    second = await _sign_in_code(stack, 3)
    session, opened = await _open(stack, second)
    assert opened.status == "done"
    assert await _me(stack, session) is not None


# -- the channel panel messages reach a member by ----------------------------------------------

EMAIL = "both@example.se"


def _mail_links(stack: Stack, path: str) -> list[str]:
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=EMAIL)
    pattern = rf"{re.escape(PORTAL_URL)}/t/{T}/{path}/([A-Za-z0-9_-]+)"
    texts = [stack.devtools.mailbox.get_mail(item.id).text for item in items]
    return [m.group(1) for text in texts if (m := re.search(pattern, text))]


async def _member_with_both(stack: Stack, channel: str, phone: str = PHONE) -> str:
    """A member who signed up with an address and a number, preferring ``channel``."""
    command = _sign_up(phone, EMAIL).model_copy(update={"channel": channel})
    await publish(stack.js, command)
    await wait_until(lambda: _mail_links(stack, "join/confirm"), timeout=15, what="opt-in mail")
    confirm = ConfirmMembership(tenant=T, token=_mail_links(stack, "join/confirm")[0])
    await publish(stack.js, confirm)
    assert (await recruitment_outcome(stack, T, confirm.message_id)).status == "done"
    contacts = stack.services["dispatch"].runtime.db.contacts
    await wait_until(
        lambda: contacts.find_one({"member_id": command.member_id, "channel": channel}),
        timeout=15,
        what="the contact book's channel",
    )
    panelists = stack.services["rounds"].runtime.db.panelists
    await wait_until(
        lambda: panelists.find_one({"_id": f"{T}:{command.member_id}"}),
        timeout=15,
        what="the member in rounds",
    )
    return command.member_id


async def _open_round(stack: Stack, title: str) -> None:
    round_id = str(uuid.uuid4())
    await publish(
        stack.js,
        CreateRound(tenant=T, round_id=round_id, title=title, purpose="Plan.", questions=QUESTIONS),
    )

    async def state(expected: str) -> bool:
        view = await ask(stack.nc, GetRound(tenant=T, round_id=round_id), RoundView)
        return view is not None and view.state == expected

    await wait_until(lambda: state("draft"), timeout=15, what="round drafted")
    await open_now(stack.js, stack.nc, T, round_id)


def _mail_texts(stack: Stack) -> list[str]:
    items, _ = stack.devtools.mailbox.list_mails(limit=100, to=EMAIL)
    return [stack.devtools.mailbox.get_mail(item.id).text for item in items]


async def test_a_member_who_prefers_sms_gets_rounds_by_sms_and_links_by_mail(
    stack: Stack,
) -> None:
    await _council(stack)
    await _member_with_both(stack, "sms")
    await _open_round(stack, "Kvällsbussar")
    await wait_until(
        lambda: any("Kvällsbussar" in t for t in _sms_to(stack)), timeout=20, what="SMS invite"
    )
    assert not any("Kvällsbussar" in s for s in _mail_texts(stack))
    # A sign-in link goes to the address asked for, whatever the member prefers.
    ask_link = RequestSignIn(tenant=T, email=EMAIL)
    await publish(stack.js, ask_link)
    await wait_until(lambda: _mail_links(stack, "me/sign-in"), timeout=15, what="sign-in mail")
    assert not any("logga in" in t for t in _sms_to(stack))

    # The member switches to e-mail on their own page: the next round comes by mail.
    session = new_token()
    link = _mail_links(stack, "me/sign-in")[0]
    opened = OpenMemberSession(tenant=T, token=link, session_hash=token_hash(session))
    await publish(stack.js, opened)
    assert (await recruitment_outcome(stack, T, opened.message_id)).status == "done"
    me = await _me(stack, session)
    assert me is not None
    assert (me.email, me.phone, me.channel) == (EMAIL, PHONE, "sms")
    change = ChangeMyDetails(
        tenant=T,
        session=session,
        birth_year=me.birth_year,
        gender=me.gender,
        district=me.district,
        locale=me.locale,
        channel="email",
    )
    await publish(stack.js, change)
    assert (await recruitment_outcome(stack, T, change.message_id)).status == "done"
    contacts = stack.services["dispatch"].runtime.db.contacts
    await wait_until(
        lambda: contacts.find_one({"member_id": me.member_id, "channel": "email"}),
        timeout=15,
        what="the contact book back on e-mail",
    )
    texts_before = len(_sms_to(stack))
    await _open_round(stack, "Skolskjutsar")
    await wait_until(
        lambda: any("Skolskjutsar" in s for s in _mail_texts(stack)),
        timeout=20,
        what="the invitation by mail",
    )
    assert len(_sms_to(stack)) == texts_before


async def test_channel_changes_that_cannot_be_are_refused(stack: Stack) -> None:
    await _council(stack)
    await _sms_member(stack)
    session, _ = await _open(stack, await _sign_in_code(stack, 2))
    me = await _me(stack, session)
    assert me is not None
    details = {
        "tenant": T,
        "session": session,
        "birth_year": me.birth_year,
        "gender": me.gender,
        "district": me.district,
        "locale": me.locale,
    }
    # Without an address, e-mail cannot be chosen.
    no_email = ChangeMyDetails(**details, channel="email")
    await publish(stack.js, no_email)
    assert (await recruitment_outcome(stack, T, no_email.message_id)).reason == "no_email"
    # A member with both cannot choose SMS once the panel no longer offers it.
    await _member_with_both(stack, "email", OTHER)
    both_session = new_token()
    ask_link = RequestSignIn(tenant=T, email=EMAIL)
    await publish(stack.js, ask_link)
    await wait_until(lambda: _mail_links(stack, "me/sign-in"), timeout=15, what="sign-in mail")
    opened = OpenMemberSession(
        tenant=T, token=_mail_links(stack, "me/sign-in")[0], session_hash=token_hash(both_session)
    )
    await publish(stack.js, opened)
    assert (await recruitment_outcome(stack, T, opened.message_id)).status == "done"
    configure = ConfigurePanel(
        tenant=T,
        settings=PanelSettings(channels=("email",)),
        consent_text="Vi behandlar dina uppgifter enligt GDPR, för panelens syfte.",
    )
    await publish(stack.js, configure)
    assert (await recruitment_outcome(stack, T, configure.message_id)).status == "done"
    both = await _me(stack, both_session)
    assert both is not None
    assert (both.channel, both.channels_offered) == ("email", ("email",))
    to_sms = ChangeMyDetails(**{**details, "session": both_session}, channel="sms")
    await publish(stack.js, to_sms)
    assert (await recruitment_outcome(stack, T, to_sms.message_id)).reason == "sms_not_offered"
