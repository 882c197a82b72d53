"""The edge: oversized bodies and invented methods refused, cookies and HSTS for HTTPS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from contracts.recruitment import EnrolMember
from services.portal.accounts import create_account
from services.portal.settings import PortalSettings
from tests.portal.conftest import PASSWORD, client_for, running
from tests.portal.fakes import FakeGateway

LIMIT = PortalSettings.model_fields["portal_max_body_bytes"].default
JOIN = {
    "email": "anna@example.se",
    "birth_year": "1980",
    "gender": "female",
    "district": "Centrum",
    "consent": "yes",
}


async def test_an_oversized_json_body_is_413_before_parsing(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    body = {**JOIN, "consent": True, "district": "x" * (LIMIT + 1)}
    response = await client.post("/api/t/gnosjo/members", json=body)
    assert response.status_code == 413
    assert "Too Large" in response.text
    assert gateway.sent(EnrolMember) == []


async def test_an_oversized_form_is_413(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    response = await client.post("/t/gnosjo/join", data={**JOIN, "district": "x" * (LIMIT + 1)})
    assert response.status_code == 413
    assert gateway.sent(EnrolMember) == []


async def test_a_body_without_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "anna@example.se", "district": "'
        for _ in range(LIMIT // 4096 + 2):
            yield b"x" * 4096
        yield b'"}'

    response = await client.post(
        "/api/t/gnosjo/members",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert gateway.sent(EnrolMember) == []


async def test_an_invented_method_is_counted_as_other(client: httpx.AsyncClient) -> None:
    for method in ("BREW", "X" * 40, "PROPFIND"):
        await client.request(method, "/t/gnosjo/")
    text = (await client.get("/metrics")).text
    assert 'method="other"' in text
    assert "BREW" not in text
    assert "PROPFIND" not in text


async def test_cookies_are_secure_and_hsts_is_sent_when_the_portal_is_https(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    production = settings.model_copy(update={"portal_url": "https://panel.region.se"})
    async with running(production, gateway) as application, client_for(application) as http:
        await create_account(application.state.portal.db, "anna", PASSWORD, "gnosjo", "staff")
        response = await http.post(
            "/api/t/gnosjo/session", json={"username": "anna", "password": PASSWORD}
        )
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        lang = await http.get("/?lang=en")
        assert "Secure" in lang.headers["set-cookie"]


async def test_the_local_stack_over_http_has_neither(client: httpx.AsyncClient) -> None:
    response = await client.get("/?lang=en")
    assert "Secure" not in response.headers["set-cookie"]
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize(
    "path", ["/t/gnosjo/join", f"/t/gnosjo/join/confirm/{'t' * 43}", "/t/gnosjo/staff/login"]
)
async def test_another_site_cannot_make_its_visitors_post_our_forms(
    client: httpx.AsyncClient, gateway: FakeGateway, path: str
) -> None:
    for origin in ("https://evil.example", "null"):
        response = await client.post(path, data=JOIN, headers={"origin": origin})
        assert response.status_code == 403
    assert gateway.commands == []


async def test_our_own_pages_and_clients_without_origin_may_post(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    own = await client.post("/t/gnosjo/join", data=JOIN, headers={"origin": "http://testserver"})
    public = await client.post(
        "/t/gnosjo/join", data=JOIN, headers={"origin": "http://127.0.0.1:8000"}
    )
    plain = await client.post("/t/gnosjo/join", data=JOIN)
    assert [own.status_code, public.status_code, plain.status_code] == [303, 303, 303]
    assert len(gateway.sent(EnrolMember)) == 3


async def test_metrics_and_detailed_health_only_for_the_ops_networks(app: FastAPI) -> None:
    outside = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.5", 4711)),
        base_url="http://testserver",
    )
    async with outside:
        assert (await outside.get("/metrics")).status_code == 404
        ready = await outside.get("/health/ready")
        assert set(ready.json()) == {"status"}  # no names of services or stores
        assert (await outside.get("/health/live")).status_code == 200
    inside = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 4711)),
        base_url="http://testserver",
    )
    async with inside:
        assert (await inside.get("/metrics")).status_code == 200
        assert "checks" in (await inside.get("/health/ready")).json()


async def test_the_ops_networks_are_configurable(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    monitoring = settings.model_copy(update={"portal_ops_networks": "10.20.0.0/16"})
    async with running(monitoring, gateway) as application:
        for host, status in (("10.20.3.4", 200), ("127.0.0.1", 404)):
            transport = httpx.ASGITransport(app=application, client=(host, 4711))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                assert (await http.get("/metrics")).status_code == status
