"""Member self-service in the portal (fake gateway): the sign-in pages and cookie, the
member's page and its forms, CSRF and Origin checks, councils kept apart, rate limits, and
the JSON API for the same actions."""

from __future__ import annotations

import json
import re

import httpx
from fastapi import FastAPI

from contracts.membership import (
    ChangeMyDetails,
    ChangeMyEmail,
    CloseMemberSession,
    ConfirmEmailChange,
    EraseMyMembership,
    OpenMemberSession,
    PauseMembership,
    RequestSignIn,
    ResumeMembership,
)
from contracts.personal_data import PersonalData
from contracts.recruitment import Outcome
from infra.tokens import token_hash
from services.portal.membership import MEMBER_COOKIE
from services.portal.settings import PortalSettings
from tests.portal.conftest import check_page, client_for, running, text_of
from tests.portal.fakes import TOKEN, FakeGateway

ME = "/t/gnosjo/me"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DETAILS = {
    "birth_year": "1990",
    "gender": "male",
    "district": "Hillerstorp",
    "locale": "en",
    "heard_from": "friend",
    "works_for_council": "no",
}


async def _signed_in(client: httpx.AsyncClient) -> str:
    """Sign in through the mailed link's page; returns the page's CSRF token."""
    response = await client.post(f"{ME}/sign-in/{TOKEN}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == ME
    page = await client.get(ME)
    assert page.status_code == 200
    match = CSRF_RE.search(page.text)
    assert match, "no CSRF token on the member's page"
    return match.group(1)


async def test_sign_in_asks_for_an_address_and_answers_the_same_for_anyone(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    page = await client.get(ME)
    assert page.status_code == 200
    check_page(page.text)
    assert "Logga in" in text_of(page.text)
    answers = []
    for email in (" Anna@Example.se ", "nobody@example.se"):
        response = await client.post(f"{ME}/sign-in", data={"contact": email})
        assert response.status_code == 200
        check_page(response.text)
        answers.append(text_of(response.text))
    assert answers[0] == answers[1]
    assert [c.email for c in gateway.sent(RequestSignIn)] == [
        "anna@example.se",
        "nobody@example.se",
    ]
    bad = await client.post(f"{ME}/sign-in", data={"contact": "not an address"})
    assert bad.status_code == 400
    check_page(bad.text)
    assert len(gateway.sent(RequestSignIn)) == 2


async def test_the_mailed_link_needs_a_press_and_gives_a_safe_cookie(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    # Opening the link (a mail scanner does) uses nothing up.
    page = await client.get(f"{ME}/sign-in/{TOKEN}")
    assert page.status_code == 200
    check_page(page.text)
    assert gateway.sent(OpenMemberSession) == []
    response = await client.post(f"{ME}/sign-in/{TOKEN}")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert f"{MEMBER_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # the test portal runs over http
    session = client.cookies[MEMBER_COOKIE]
    [opened] = gateway.sent(OpenMemberSession)
    # Only the session's hash goes on the bus; the portal stores nothing about members.
    assert opened.session_hash == token_hash(session)
    assert session not in opened.model_dump_json()
    me = await client.get(ME)
    assert me.status_code == 200
    check_page(me.text)
    assert "anna@example.se" in me.text


async def test_secure_cookie_over_https(settings: PortalSettings, gateway: FakeGateway) -> None:
    https = settings.model_copy(update={"portal_url": "https://gnosjo.panel.example"})
    async with running(https, gateway) as app, client_for(app) as client:
        response = await client.post(f"{ME}/sign-in/{TOKEN}")
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


async def test_expired_used_and_bad_links_say_so(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    for reason, status, words in (
        ("expired", 410, "gått ut"),
        ("already_used", 409, "redan använts"),
        ("unknown_token", 404, "fungerar inte"),
    ):
        gateway.self_service["open_member_session"] = Outcome(status="refused", reason=reason)
        response = await client.post(f"{ME}/sign-in/{TOKEN}")
        assert response.status_code == status, reason
        check_page(response.text)
        assert words in text_of(response.text), reason
        assert MEMBER_COOKIE not in client.cookies
    malformed = await client.get(f"{ME}/sign-in/short")
    assert malformed.status_code == 404


async def test_changes_need_the_sessions_csrf_token_and_a_same_site_origin(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _signed_in(client)
    refused = await client.post(f"{ME}/details", data=DETAILS)
    assert refused.status_code == 403
    wrong = await client.post(f"{ME}/details", data={**DETAILS, "csrf_token": "x" * 64})
    assert wrong.status_code == 403
    foreign = await client.post(
        f"{ME}/details",
        data={**DETAILS, "csrf_token": csrf},
        headers={"origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert gateway.sent(ChangeMyDetails) == []

    saved = await client.post(f"{ME}/details", data={**DETAILS, "csrf_token": csrf})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{ME}?notice=saved"
    [change] = gateway.sent(ChangeMyDetails)
    assert change.session == client.cookies[MEMBER_COOKIE]
    assert (change.birth_year, change.gender, change.locale) == (1990, "male", "en")
    assert (change.heard_from, change.works_for_council) == ("friend", False)
    invalid = await client.post(
        f"{ME}/details", data={**DETAILS, "birth_year": "19x", "csrf_token": csrf}
    )
    assert invalid.status_code == 400
    check_page(invalid.text)
    assert len(gateway.sent(ChangeMyDetails)) == 1


async def test_a_session_of_one_council_is_useless_on_another(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _signed_in(client)
    other = await client.get("/t/vaggeryd/me")
    assert other.status_code == 200
    assert "anna@example.se" not in other.text  # the sign-in form, not the details
    change = await client.post("/t/vaggeryd/me/details", data={**DETAILS, "csrf_token": csrf})
    assert change.status_code == 303
    assert change.headers["location"] == "/t/vaggeryd/me?notice=no_session"
    data = await client.get("/t/vaggeryd/me/data")
    assert data.status_code == 303
    api = await client.get("/api/t/vaggeryd/me")
    assert api.status_code == 401
    assert gateway.sent(ChangeMyDetails) == []


async def test_address_change_pause_and_sign_out(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _signed_in(client)
    moved = await client.post(f"{ME}/email", data={"email": "New@Example.se", "csrf_token": csrf})
    assert moved.headers["location"] == f"{ME}?notice=email_sent"
    assert [c.email for c in gateway.sent(ChangeMyEmail)] == ["new@example.se"]
    gateway.self_service["change_my_email"] = Outcome(status="refused", reason="same_email")
    same = await client.post(f"{ME}/email", data={"email": "anna@example.se", "csrf_token": csrf})
    assert same.status_code == 400
    check_page(same.text)

    # The link sent to the new address: a page, then the button.
    link = await client.get(f"{ME}/email/{TOKEN}")
    check_page(link.text)
    assert gateway.sent(ConfirmEmailChange) == []
    confirmed = await client.post(f"{ME}/email/{TOKEN}")
    assert confirmed.status_code == 200
    gateway.self_service["confirm_email_change"] = Outcome(status="refused", reason="already_used")
    again = await client.post(f"{ME}/email/{TOKEN}")
    assert again.status_code == 409

    too_far = await client.post(f"{ME}/pause", data={"until": "2999-01-01", "csrf_token": csrf})
    assert too_far.status_code == 400
    check_page(too_far.text)
    assert gateway.sent(PauseMembership) == []
    from datetime import UTC, datetime, timedelta

    day = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    paused = await client.post(f"{ME}/pause", data={"until": day, "csrf_token": csrf})
    assert paused.headers["location"] == f"{ME}?notice=paused"
    assert [c.until for c in gateway.sent(PauseMembership)] == [day]
    resumed = await client.post(f"{ME}/resume", data={"csrf_token": csrf})
    assert resumed.headers["location"] == f"{ME}?notice=resumed"
    assert len(gateway.sent(ResumeMembership)) == 1

    out = await client.post(f"{ME}/sign-out", data={"csrf_token": csrf})
    assert out.headers["location"] == f"{ME}?notice=signed_out"
    assert len(gateway.sent(CloseMemberSession)) == 1
    assert MEMBER_COOKIE not in client.cookies
    page = await client.get(f"{ME}?notice=signed_out")
    assert "anna@example.se" not in page.text


async def test_the_copy_holds_every_services_part(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.member_data["recruitment"] = PersonalData(
        service="recruitment", sections={"membership": [{"email": "anna@example.se"}]}
    )
    await _signed_in(client)
    response = await client.get(f"{ME}/data")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    body = json.loads(response.text)
    assert body["member_id"] == "m-1"
    assert [s["service"] for s in body["services"]] == ["recruitment", "rounds", "dispatch"]
    # A service that does not answer fails the copy instead of leaving its part out.
    gateway.down.add("get_member_data")
    assert (await client.get(f"{ME}/data")).status_code == 503


async def test_erasure_is_asked_on_a_page_and_ends_the_session(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _signed_in(client)
    ask = await client.get(f"{ME}/erase")
    assert ask.status_code == 200
    check_page(ask.text)
    assert gateway.sent(EraseMyMembership) == []
    assert (await client.post(f"{ME}/erase", data={})).status_code == 403
    done = await client.post(f"{ME}/erase", data={"csrf_token": csrf})
    assert done.status_code == 200
    check_page(done.text)
    assert len(gateway.sent(EraseMyMembership)) == 1
    assert MEMBER_COOKIE not in client.cookies


async def test_sign_in_requests_are_limited_per_client_and_per_address(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    limited = settings.model_copy(update={"portal_rate_limit": 2})
    async with running(limited, gateway) as application:
        statuses = []
        # From ever new clients, the same address: the address's own limit holds.
        for n in range(3):
            transport = httpx.ASGITransport(app=application, client=(f"203.0.113.{n}", 4711))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.post(f"{ME}/sign-in", data={"contact": "anna@example.se"})
                statuses.append(response.status_code)
        assert statuses == [200, 200, 429]
        # One client, ever new addresses: the client's limit holds.
        async with client_for(application) as http:
            codes = [
                (await http.post(f"{ME}/sign-in", data={"contact": f"x{n}@example.se"})).status_code
                for n in range(3)
            ]
        assert codes == [200, 200, 429]
        assert len(gateway.sent(RequestSignIn)) == 4


async def test_the_json_api_does_the_same(
    app: FastAPI, client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    api = "/api/t/gnosjo/me"
    gateway.member_data["recruitment"] = PersonalData(service="recruitment", sections={})
    assert (await client.post(f"{api}/sign-in", json={"email": "anna@example.se"})).status_code == (
        202
    )
    assert (await client.get(api)).status_code == 401
    opened = await client.post(f"{api}/session", json={"token": TOKEN})
    assert opened.status_code == 200, opened.text
    csrf = opened.json()["csrf_token"]
    me = await client.get(api)
    assert me.status_code == 200
    assert me.json()["membership"]["email"] == "anna@example.se"
    body = {"birth_year": 1990, "gender": "male", "district": "Hillerstorp", "locale": "sv"}
    assert (await client.put(api, json=body)).status_code == 403
    changed = await client.put(api, json=body, headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 200
    assert changed.json()["status"] == "done"
    headers = {"X-CSRF-Token": csrf}
    assert (await client.get(f"{api}/data")).status_code == 200
    assert (await client.put(f"{api}/pause", json={"until": "x"}, headers=headers)).status_code == (
        400
    )
    assert (await client.delete(f"{api}/pause", headers=headers)).status_code == 200
    gateway.self_service["open_member_session"] = Outcome(status="refused", reason="expired")
    assert (await client.post(f"{api}/session", json={"token": TOKEN})).status_code == 410
    erased = await client.post(f"{api}/erasure", headers=headers)
    assert erased.status_code == 200
    assert (await client.get(api)).status_code == 401
    paths = (await client.get("/api/openapi.json")).json()["paths"]
    for path in ("", "/sign-in", "/session", "/email", "/email/confirm", "/pause", "/data"):
        assert f"/api/t/{{tenant}}/me{path}" in paths, path
    assert "/api/t/{tenant}/me/erasure" in paths


async def test_members_choose_the_topics_they_follow(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.me = gateway.me.model_copy(
        update={"topics": ("Skola",), "topics_offered": ("Skola", "Trafik")}
    )
    csrf = await _signed_in(client)
    page = await client.get(ME)
    check_page(page.text)
    assert 'value="Skola" checked' in page.text
    assert 'value="Trafik">' in page.text
    saved = await client.post(
        f"{ME}/details",
        data={
            **DETAILS,
            "csrf_token": csrf,
            "topics_shown": "yes",
            "topics": ["Trafik", "Not offered"],
        },
    )
    assert saved.status_code == 303
    [change] = gateway.sent(ChangeMyDetails)
    assert change.topics == ("Trafik",)
    # A form without the topics leaves them as they are.
    await client.post(f"{ME}/details", data={**DETAILS, "csrf_token": csrf})
    assert gateway.sent(ChangeMyDetails)[-1].topics is None
