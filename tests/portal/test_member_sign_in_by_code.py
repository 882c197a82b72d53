"""Members' sign-in by a code sent by SMS, and their choice of channel, in the portal (fake
gateway): the sign-in form takes an address or a number, the code page opens the session as
the mailed link does, refusals say why, rate limits per client and per number, the JSON API;
the channel on the join page and the member's page."""

from __future__ import annotations

import re

import httpx

from contracts.membership import (
    ChangeMyDetails,
    OpenMemberSessionByCode,
    RequestSignIn,
    RequestSignInCode,
)
from contracts.panels import PanelSettings
from contracts.recruitment import EnrolMember, Outcome
from infra.tokens import token_hash
from services.portal.membership import MEMBER_COOKIE
from services.portal.settings import PortalSettings
from tests.portal.conftest import check_page, client_for, running, text_of
from tests.portal.fakes import FakeGateway

ME = "/t/gnosjo/me"
API = "/api/t/gnosjo/me"
PHONE = "+46701234567"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DETAILS = {
    "birth_year": "1990",
    "gender": "male",
    "district": "Hillerstorp",
    "locale": "sv",
}


async def test_a_number_gets_the_code_page_and_the_same_answer_for_anyone(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    page = await client.get(ME)
    assert "E-postadress eller mobilnummer" in text_of(page.text)
    answers = []
    for typed, number in (("070-123 45 67", PHONE), ("+46 70 999 99 99", "+46709999999")):
        response = await client.post(f"{ME}/sign-in", data={"contact": typed})
        assert response.status_code == 200
        check_page(response.text)
        assert f'value="{number}"' in response.text  # the number, filled in
        answers.append(text_of(response.text))
    assert answers[0] == answers[1]
    assert "Ange koden från sms:et" in answers[0]
    assert [c.phone for c in gateway.sent(RequestSignInCode)] == [PHONE, "+46709999999"]
    assert gateway.sent(RequestSignIn) == []
    # An address still gets a link; neither, nor a landline or a foreign number, gets anything.
    mailed = await client.post(f"{ME}/sign-in", data={"contact": "Anna@Example.se"})
    assert mailed.status_code == 200
    assert [c.email for c in gateway.sent(RequestSignIn)] == ["anna@example.se"]
    for bad, words in (
        ("", "Ange din e-postadress eller ditt mobilnummer."),
        ("hello", "Ange din e-postadress eller ditt mobilnummer."),
        ("08-123 456 78", "Ange ett svenskt mobilnummer"),
        ("+47 412 34 567", "Ange ett svenskt mobilnummer"),
    ):
        response = await client.post(f"{ME}/sign-in", data={"contact": bad})
        assert response.status_code == 400, bad
        check_page(response.text)
        assert words in text_of(response.text), bad
    assert len(gateway.sent(RequestSignInCode)) == 2


async def test_the_code_opens_a_session_like_the_mailed_link(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    form = await client.get(f"{ME}/code")
    assert form.status_code == 200
    check_page(form.text)
    response = await client.post(f"{ME}/code", data={"phone": "070-123 45 67", "code": "123 456"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == ME
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    session = client.cookies[MEMBER_COOKIE]
    [opened] = gateway.sent(OpenMemberSessionByCode)
    assert (opened.phone, opened.code) == (PHONE, "123456")
    # Only the session's hash goes on the bus.
    assert opened.session_hash == token_hash(session)
    assert session not in opened.model_dump_json()
    me = await client.get(ME)
    assert me.status_code == 200
    assert "anna@example.se" in me.text


async def test_wrong_expired_and_used_codes_say_why_and_give_no_cookie(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    for reason, status, words in (
        ("invalid_code", 400, "Koden är fel eller gäller inte längre"),
        ("expired", 410, "Koden har gått ut"),
        ("already_used", 409, "Koden har redan använts"),
    ):
        gateway.self_service["open_member_session_by_code"] = Outcome(
            status="refused", reason=reason
        )
        response = await client.post(f"{ME}/code", data={"phone": PHONE, "code": "123456"})
        assert response.status_code == status, reason
        check_page(response.text)
        assert words in text_of(response.text), reason
        assert 'value="123456"' not in response.text  # the code field is emptied
        assert MEMBER_COOKIE not in client.cookies
    # A code that cannot be one, or no number, never reaches recruitment.
    sent = len(gateway.sent(OpenMemberSessionByCode))
    for data in ({"phone": PHONE, "code": "12ab56"}, {"phone": "", "code": "123456"}):
        response = await client.post(f"{ME}/code", data=data)
        assert response.status_code == 400
        check_page(response.text)
    assert len(gateway.sent(OpenMemberSessionByCode)) == sent
    gateway.self_service["open_member_session_by_code"] = Outcome(status="pending")
    assert (
        await client.post(f"{ME}/code", data={"phone": PHONE, "code": "123456"})
    ).status_code == (202)


async def test_code_requests_and_tries_are_limited_per_client_and_per_number(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    limited = settings.model_copy(update={"portal_rate_limit": 2})
    async with running(limited, gateway) as application:
        asked, tried = [], []
        # From ever new clients, one number: the number's own limits hold.
        for n in range(3):
            transport = httpx.ASGITransport(app=application, client=(f"203.0.113.{n}", 4711))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                asked.append(
                    (await http.post(f"{ME}/sign-in", data={"contact": PHONE})).status_code
                )
                code = {"phone": PHONE, "code": f"00000{n}"}
                tried.append((await http.post(f"{ME}/code", data=code)).status_code)
        assert asked == [200, 200, 429]
        assert tried == [303, 303, 429]
        # One client, ever new numbers: the client's limit holds.
        async with client_for(application) as http:
            codes = [
                (await http.post(f"{ME}/sign-in", data={"contact": f"07012345{n}0"})).status_code
                for n in range(3)
            ]
        assert codes == [200, 200, 429]
        assert len(gateway.sent(RequestSignInCode)) == 4


async def test_the_json_api_signs_in_by_code(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    asked = await client.post(f"{API}/sign-in/sms", json={"phone": "070-123 45 67"})
    assert asked.status_code == 202
    assert [c.phone for c in gateway.sent(RequestSignInCode)] == [PHONE]
    bad = await client.post(f"{API}/sign-in/sms", json={"phone": "08-123 456 78"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"phone"}
    for reason, status in (("invalid_code", 404), ("expired", 410), ("already_used", 409)):
        gateway.self_service["open_member_session_by_code"] = Outcome(
            status="refused", reason=reason
        )
        refused = await client.post(f"{API}/session/code", json={"phone": PHONE, "code": "123456"})
        assert refused.status_code == status, reason
        assert refused.json()["detail"] == reason
    malformed = await client.post(f"{API}/session/code", json={"phone": PHONE, "code": "12"})
    assert malformed.status_code == 400
    assert set(malformed.json()["errors"]) == {"code"}
    del gateway.self_service["open_member_session_by_code"]
    opened = await client.post(f"{API}/session/code", json={"phone": PHONE, "code": "123456"})
    assert opened.status_code == 200, opened.text
    csrf = opened.json()["csrf_token"]
    me = await client.get(API)
    assert me.status_code == 200
    assert me.json()["csrf_token"] == csrf
    paths = (await client.get("/api/openapi.json")).json()["paths"]
    assert "/api/t/{tenant}/me/sign-in/sms" in paths
    responses = paths["/api/t/{tenant}/me/session/code"]["post"]["responses"]
    assert {"200", "404", "409", "410"} <= set(responses)


async def _signed_in(client: httpx.AsyncClient) -> str:
    response = await client.post(f"{ME}/code", data={"phone": PHONE, "code": "123456"})
    assert response.status_code == 303
    page = await client.get(ME)
    match = CSRF_RE.search(page.text)
    assert match
    return match.group(1)


async def test_a_member_with_both_chooses_sms_on_their_page(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.me = gateway.me.model_copy(update={"phone": PHONE})
    csrf = await _signed_in(client)
    page = await client.get(ME)
    check_page(page.text)
    assert "Hur vi når dig" in text_of(page.text)
    assert 'id="channel-email" name="channel" value="email" checked' in page.text
    saved = await client.post(
        f"{ME}/details", data={**DETAILS, "channel": "sms", "csrf_token": csrf}
    )
    assert saved.status_code == 303
    assert gateway.sent(ChangeMyDetails)[-1].channel == "sms"
    wrong = await client.post(
        f"{ME}/details", data={**DETAILS, "channel": "fax", "csrf_token": csrf}
    )
    assert wrong.status_code == 400
    check_page(wrong.text)
    # Recruitment's refusal shows on the form.
    gateway.self_service["change_my_details"] = Outcome(status="refused", reason="sms_not_offered")
    refused = await client.post(
        f"{ME}/details", data={**DETAILS, "channel": "sms", "csrf_token": csrf}
    )
    assert refused.status_code == 400
    assert "skickar inte sina meddelanden via SMS" in text_of(refused.text)
    # The JSON API takes it too.
    del gateway.self_service["change_my_details"]
    api = await client.put(
        API,
        json={**DETAILS, "birth_year": 1990, "channel": "email"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 200, api.text
    assert gateway.sent(ChangeMyDetails)[-1].channel == "email"


async def test_no_channel_choice_without_a_number_or_where_sms_is_not_offered(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _signed_in(client)  # the member has only an address
    page = await client.get(ME)
    assert 'name="channel"' not in page.text
    await client.post(f"{ME}/details", data={**DETAILS, "channel": "sms", "csrf_token": csrf})
    assert gateway.sent(ChangeMyDetails)[-1].channel is None
    gateway.me = gateway.me.model_copy(update={"phone": PHONE, "channels_offered": ("email",)})
    csrf = await _signed_in(client)
    assert 'name="channel"' not in (await client.get(ME)).text


async def test_a_member_with_only_a_number_sees_it_and_can_save_details(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.me = gateway.me.model_copy(update={"email": "", "phone": PHONE, "channel": "sms"})
    csrf = await _signed_in(client)
    page = await client.get(ME)
    check_page(page.text)
    assert f"med mobilnumret {PHONE}" in text_of(page.text)
    saved = await client.post(f"{ME}/details", data={**DETAILS, "csrf_token": csrf})
    assert saved.status_code == 303, saved.text
    assert gateway.sent(ChangeMyDetails)[-1].channel is None


JOIN = {
    "email": "a@example.se",
    "phone": "070-123 45 67",
    "birth_year": "1980",
    "gender": "female",
    "district": "Centrum",
    "consent": "yes",
}


async def test_the_join_page_offers_the_channel_where_the_panel_has_both(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    form = await client.get("/t/gnosjo/join")
    check_page(form.text)
    assert 'name="channel" value="sms"' in form.text
    joined = await client.post("/t/gnosjo/join", data={**JOIN, "channel": "sms"})
    assert joined.status_code == 303
    assert gateway.sent(EnrolMember)[-1].channel == "sms"
    default = await client.post("/t/gnosjo/join", data=JOIN)
    assert default.status_code == 303
    assert gateway.sent(EnrolMember)[-1].channel == "email"
    # SMS chosen without a number is shown on the form.
    no_number = await client.post("/t/gnosjo/join", data={**JOIN, "phone": "", "channel": "sms"})
    assert no_number.status_code == 400
    assert "Ange ditt mobilnummer för att få panelens meddelanden via SMS." in text_of(
        no_number.text
    )
    api = await client.post(
        "/api/t/gnosjo/members",
        json={
            **JOIN,
            "birth_year": 1980,
            "consent": True,
            "channel": "sms",
        },
    )
    assert api.status_code == 202, api.text
    assert gateway.sent(EnrolMember)[-1].channel == "sms"


async def test_a_panel_by_email_only_offers_no_channel_and_takes_none(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.panel = gateway.panel.model_copy(
        update={"settings": PanelSettings(channels=("email",))}
    )
    form = await client.get("/t/gnosjo/join")
    assert 'name="channel"' not in form.text
    refused = await client.post(
        "/api/t/gnosjo/members",
        json={**JOIN, "phone": "", "birth_year": 1980, "consent": True, "channel": "sms"},
    )
    assert refused.status_code == 400
    assert "channel" in refused.json()["errors"]
    assert gateway.sent(EnrolMember) == []
