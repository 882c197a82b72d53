"""The member's page for a new mobile number: a code is asked for, typed, and refusals
(a wrong code, a number of another member, a forged form) are shown on the form."""

from __future__ import annotations

import httpx

from contracts.membership import ChangeMyPhone, ConfirmPhoneChange
from contracts.recruitment import Outcome
from services.portal.membership import MEMBER_COOKIE
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import FakeGateway
from tests.portal.test_member_self_service import _signed_in

PHONE = "/t/gnosjo/me/phone"


async def test_a_member_adds_a_number_by_typing_the_code_sent_to_it(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    assert (await client.get(PHONE)).status_code == 303  # not signed in
    csrf = await _signed_in(client)
    page = await client.get(PHONE)
    assert page.status_code == 200
    check_page(page.text)
    forged = await client.post(PHONE, data={"phone": "070-111 22 33"})
    assert forged.status_code == 403
    bad = await client.post(PHONE, data={"csrf_token": csrf, "phone": "12"})
    assert bad.status_code == 400
    assert "Ange ett mobilnummer" in text_of(bad.text)
    assert gateway.sent(ChangeMyPhone) == []

    sent = await client.post(PHONE, data={"csrf_token": csrf, "phone": "070-111 22 33"})
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{PHONE}?sent=1"
    [asked] = gateway.sent(ChangeMyPhone)
    assert (asked.phone, asked.session) == ("+46701112233", client.cookies[MEMBER_COOKIE])
    code_page = await client.get(f"{PHONE}?sent=1")
    check_page(code_page.text)
    assert 'autocomplete="one-time-code"' in code_page.text

    short = await client.post(f"{PHONE}/code", data={"csrf_token": csrf, "code": "12"})
    assert short.status_code == 400
    gateway.self_service["confirm_phone_change"] = Outcome(status="refused", reason="invalid_code")
    wrong = await client.post(f"{PHONE}/code", data={"csrf_token": csrf, "code": "123 456"})
    assert wrong.status_code == 400
    assert "Koden är fel" in text_of(wrong.text)
    gateway.self_service.pop("confirm_phone_change")
    right = await client.post(f"{PHONE}/code", data={"csrf_token": csrf, "code": "123456"})
    assert right.status_code == 303
    assert right.headers["location"] == "/t/gnosjo/me?notice=saved"
    assert [c.code for c in gateway.sent(ConfirmPhoneChange)] == ["123456", "123456"]

    # The API does the same, with the session's CSRF header.
    gateway.self_service["change_my_phone"] = Outcome(status="refused", reason="phone_taken")
    taken = await client.post(
        "/api/t/gnosjo/me/phone", json={"phone": "0702223344"}, headers={"X-CSRF-Token": csrf}
    )
    assert taken.status_code == 409
    assert taken.json()["reason"] == "phone_taken"
