"""A member adds a mobile number from their page, re-confirmed by a code sent to it: a wrong
code, a sixth try, a used code and another member's number are refused; the right code
changes the member and the contact book, and the SMS never went to anyone else."""

from __future__ import annotations

import re

from contracts.membership import ChangeMyPhone, ConfirmPhoneChange, GetMyMembership, MyMembership
from devstack.testing import wait_until
from infra.queries import ask
from services.recruitment import sms_codes
from tests.conftest import Stack
from tests.service.test_self_service import T, _council, _member, _session, _settled, _sign_in_link

NEW = "+46701112233"


def _codes(stack: Stack, phone: str) -> list[str]:
    texts = [m["message"] for m in reversed(stack.devtools.sms.messages(number=phone))]
    return [m.group(1) for t in texts if (m := re.match(r"^(\d{6}) ", t))]


async def test_a_member_adds_a_mobile_number_confirmed_by_a_code_sent_to_it(
    stack: Stack,
) -> None:
    await _council(stack)
    member_id, email = await _member(stack, 1)
    _, other_email = await _member(stack, 2)
    session, _ = await _session(stack, await _sign_in_link(stack, email))
    other, _ = await _session(stack, await _sign_in_link(stack, other_email))

    bad = ChangeMyPhone(tenant=T, session=session, phone="12")
    assert (await _settled(stack, bad)).reason == "invalid_phone"
    stranger = ChangeMyPhone(tenant=T, session="x" * 43, phone=NEW)
    assert (await _settled(stack, stranger)).reason == "no_session"
    # Nothing pending: any code is wrong.
    early = ConfirmPhoneChange(tenant=T, session=session, code="123456")
    assert (await _settled(stack, early)).reason == "invalid_code"

    asked = ChangeMyPhone(tenant=T, session=session, phone="070-111 22 33")
    assert (await _settled(stack, asked)).status == "done"
    await wait_until(lambda: _codes(stack, NEW) or None, timeout=15, what="the code by SMS")
    [code] = _codes(stack, NEW)
    wrong = "000000" if code != "000000" else "111111"
    refused = ConfirmPhoneChange(tenant=T, session=session, code=wrong)
    assert (await _settled(stack, refused)).reason == "invalid_code"
    # The code is the member's own: another member's session cannot use it.
    theirs = ConfirmPhoneChange(tenant=T, session=other, code=code)
    assert (await _settled(stack, theirs)).reason == "invalid_code"

    right = ConfirmPhoneChange(tenant=T, session=session, code=code)
    assert (await _settled(stack, right)).status == "done"
    again = ConfirmPhoneChange(tenant=T, session=session, code=code)
    assert (await _settled(stack, again)).reason == "invalid_code"  # used up
    me = await ask(stack.nc, GetMyMembership(tenant=T, session=session), MyMembership)
    assert me is not None
    assert (me.phone, me.email) == (NEW, email)
    contacts = stack.services["dispatch"].runtime.db.contacts

    async def contact_book_knows() -> bool:
        doc = await contacts.find_one({"_id": f"{T}:{member_id}"})
        return doc is not None and doc.get("phone") == NEW

    await wait_until(contact_book_knows, timeout=15, what="the contact book's new number")
    recruitment = stack.services["recruitment"].runtime.db
    assert await recruitment.phone_changes.count_documents({}) == 0  # nothing kept

    # Now the number is taken. Asking for it answers as for any number (no one learns whose
    # it is); only whoever types its code hears it is another member's.
    taken = ChangeMyPhone(tenant=T, session=other, phone=NEW)
    assert (await _settled(stack, taken)).status == "done"
    await wait_until(lambda: len(_codes(stack, NEW)) == 2 or None, timeout=15, what="a code")
    typed = ConfirmPhoneChange(tenant=T, session=other, code=_codes(stack, NEW)[-1])
    assert (await _settled(stack, typed)).reason == "phone_taken"
    same = ChangeMyPhone(tenant=T, session=session, phone=NEW)
    assert (await _settled(stack, same)).reason == "same_phone"

    # Five wrong tries void a pending change: the right code then does nothing.
    other_number = "+46702223344"
    second = ChangeMyPhone(tenant=T, session=other, phone=other_number)
    assert (await _settled(stack, second)).status == "done"
    await wait_until(lambda: _codes(stack, other_number) or None, timeout=15, what="the code")
    [good] = _codes(stack, other_number)
    bad_code = "000000" if good != "000000" else "111111"
    for _ in range(sms_codes.MAX_ATTEMPTS):
        wrong_try = ConfirmPhoneChange(tenant=T, session=other, code=bad_code)
        assert (await _settled(stack, wrong_try)).reason == "invalid_code"
    late = ConfirmPhoneChange(tenant=T, session=other, code=good)
    assert (await _settled(stack, late)).reason == "invalid_code"
    me = await ask(stack.nc, GetMyMembership(tenant=T, session=other), MyMembership)
    assert me is not None
    assert me.phone == ""
