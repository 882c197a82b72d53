"""Signing up by mobile number on the portal: the form, the code page and the JSON API."""

from __future__ import annotations

import httpx
import pytest

from contracts.recruitment import ConfirmByCode, EnrolMember, Outcome, TenantView
from services.portal.settings import PortalSettings
from tests.portal.conftest import check_page, client_for, running, text_of
from tests.portal.fakes import FakeGateway

JOIN = {
    "phone": "070-123 45 67",
    "birth_year": "1980",
    "gender": "female",
    "district": "Centrum",
    "consent": "yes",
}
API_JOIN = {
    "phone": "+46 70 123 45 67",
    "birth_year": 1980,
    "gender": "female",
    "district": "Centrum",
    "consent": True,
}


async def test_the_join_form_offers_a_mobile_number(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/gnosjo/join")
    page = check_page(response.text)
    assert ("tel", "phone") in page.inputs
    assert "Mobilnummer" in text_of(response.text)


async def test_a_sign_up_by_mobile_lands_on_the_code_page(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post("/t/gnosjo/join", data=JOIN)
    assert response.status_code == 200
    check_page(response.text)
    assert "Ange koden från sms:et" in text_of(response.text)
    assert 'value="+46701234567"' in response.text  # the number, filled in
    [command] = gateway.sent(EnrolMember)
    assert (command.phone, command.email) == ("+46701234567", "")


async def test_a_sign_up_with_both_is_confirmed_by_mail(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post("/t/gnosjo/join", data={**JOIN, "email": "a@example.se"})
    assert response.status_code == 303
    assert response.headers["location"] == "/t/gnosjo/join/sent"
    [command] = gateway.sent(EnrolMember)
    assert (command.phone, command.email) == ("+46701234567", "a@example.se")


@pytest.mark.parametrize("phone", ["12345", "08-123 456 78", "+47 412 34 567", "070-12a"])
async def test_an_invalid_or_foreign_number_is_shown_on_the_form(
    client: httpx.AsyncClient, gateway: FakeGateway, phone: str
) -> None:
    response = await client.post("/t/gnosjo/join", data={**JOIN, "phone": phone})
    assert response.status_code == 400
    assert "Ange ett svenskt mobilnummer" in text_of(response.text)
    assert gateway.sent(EnrolMember) == []


async def test_neither_address_nor_number_is_an_error(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post("/t/gnosjo/join", data={**JOIN, "phone": ""})
    assert response.status_code == 400
    assert "Ange din e-postadress eller ditt mobilnummer." in text_of(response.text)
    api = await client.post("/api/t/gnosjo/members", json={**API_JOIN, "phone": " "})
    assert api.status_code == 400
    assert set(api.json()["errors"]) == {"email"}
    assert gateway.sent(EnrolMember) == []


async def test_a_norwegian_council_takes_norwegian_numbers(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.tenants.append(
        TenantView(
            tenant="halden",
            display_name="Halden kommune",
            country="NO",
            members_active=0,
            members_pending=0,
        )
    )
    response = await client.post("/t/halden/join", data={**JOIN, "phone": "412 34 567"})
    assert response.status_code == 200
    assert gateway.sent(EnrolMember)[0].phone == "+4741234567"
    refused = await client.post("/t/halden/join", data=JOIN)  # a Swedish number
    assert refused.status_code == 400
    assert "Ange ett norskt mobilnummer" in text_of(refused.text)


async def test_the_code_page_confirms(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    form = await client.get("/t/gnosjo/join/code")
    assert form.status_code == 200
    check_page(form.text)
    response = await client.post(
        "/t/gnosjo/join/code", data={"phone": "0701234567", "code": "123 456"}
    )
    assert response.status_code == 200
    assert "Välkommen" in text_of(response.text)
    [command] = gateway.sent(ConfirmByCode)
    assert (command.phone, command.code) == ("+46701234567", "123456")


async def test_a_code_that_does_not_confirm_is_one_error(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.membership = Outcome(status="refused", reason="invalid_code")
    response = await client.post(
        "/t/gnosjo/join/code", data={"phone": "0701234567", "code": "123456"}
    )
    assert response.status_code == 400
    assert "Koden är fel eller gäller inte längre" in text_of(response.text)
    bad = await client.post("/t/gnosjo/join/code", data={"phone": "0701234567", "code": "12"})
    assert bad.status_code == 400
    assert len(gateway.sent(ConfirmByCode)) == 1  # a malformed code is not sent


async def test_the_api_signs_up_and_confirms_by_code(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    response = await client.post("/api/t/gnosjo/members", json=API_JOIN)
    assert response.status_code == 202
    assert response.json()["confirm_by"] == "code"
    confirmed = await client.post(
        "/api/t/gnosjo/members/confirm-code", json={"phone": "+46701234567", "code": "654321"}
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "done"
    gateway.membership = Outcome(status="refused", reason="invalid_code")
    wrong = await client.post(
        "/api/t/gnosjo/members/confirm-code", json={"phone": "+46701234567", "code": "000000"}
    )
    assert wrong.status_code == 404
    assert wrong.json()["reason"] == "invalid_code"
    gateway.membership = Outcome(status="refused", reason="already_used")
    used = await client.post(
        "/api/t/gnosjo/members/confirm-code", json={"phone": "+46701234567", "code": "654321"}
    )
    assert used.status_code == 409
    bad = await client.post(
        "/api/t/gnosjo/members/confirm-code", json={"phone": "+4741234567", "code": "x"}
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"phone", "code"}


async def test_the_api_documents_the_code_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    route = schema["paths"]["/api/t/{tenant}/members/confirm-code"]
    assert set(route) == {"post"}
    assert {"200", "202", "404", "409", "429"} <= set(route["post"]["responses"])
    assert "phone" in schema["components"]["schemas"]["SignUpRequest"]["properties"]


async def test_codes_for_one_number_are_limited_from_any_address(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    limited = settings.model_copy(update={"portal_rate_limit": 3})
    gateway.membership = Outcome(status="refused", reason="invalid_code")
    async with running(limited, gateway) as application:
        statuses = []
        for n in range(5):
            transport = httpx.ASGITransport(app=application, client=(f"203.0.113.{n}", 4711))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post(
                    "/api/t/gnosjo/members/confirm-code",
                    json={"phone": "0701234567", "code": f"00000{n}"},
                )
                statuses.append(response.status_code)
        assert statuses == [404, 404, 404, 429, 429]
        async with client_for(application) as other:
            # Another number is not held up by it.
            response = await other.post(
                "/api/t/gnosjo/members/confirm-code",
                json={"phone": "0701234568", "code": "000000"},
            )
            assert response.status_code == 404
