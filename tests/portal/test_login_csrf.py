"""Login CSRF: no other site can sign a visitor into an account of its choosing."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from infra.store import Document
from services.portal.accounts import FREE_FAILURES, create_account
from services.portal.settings import PortalSettings
from tests.portal.conftest import (
    LOGIN_TOKEN_RE,
    PASSWORD,
    check_page,
    client_for,
    form_login,
    login_token,
    running,
    text_of,
)
from tests.portal.fakes import FakeGateway

pytestmark = pytest.mark.usefixtures("accounts")

EXPIRED = "Inloggningsformuläret hade gått ut. Logga in igen."


@pytest.mark.parametrize("path", ["/t/gnosjo/staff/login", "/region/login"])
async def test_a_login_without_the_forms_token_is_refused_and_counts_nothing(
    client: httpx.AsyncClient, db: AsyncDatabase[Document], path: str
) -> None:
    await client.get(path)  # the cookie is there; the field is not
    username = "region" if path == "/region/login" else "anna"
    for password in [PASSWORD] + ["wrong wrong"] * FREE_FAILURES:
        response = await client.post(path, data={"username": username, "password": password})
        assert response.status_code == 403
        assert "radslag_session" not in client.cookies
    assert EXPIRED in text_of(response.text)
    check_page(response.text)
    # No password was checked: nothing towards the account's lock or the address's limit.
    assert await db.login_failures.count_documents({}) == 0
    assert [d async for d in db.rate_limits.find({}) if str(d["_id"]).startswith("login:")] == []
    # The refusal shows a fresh form that works.
    match = LOGIN_TOKEN_RE.search(response.text)
    assert match
    signed_in = await client.post(
        path, data={"username": username, "password": PASSWORD, "login_token": match.group(1)}
    )
    assert signed_in.status_code == 303
    assert "radslag_session" in client.cookies


async def test_a_token_from_another_browser_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    path = "/t/gnosjo/staff/login"
    attacker_token = await login_token(client, path)  # the attacker's own browser
    async with client_for(app) as victim:  # the same portal, another browser
        data = {"username": "anna", "password": PASSWORD, "login_token": attacker_token}
        # Without a cookie of its own, and with one from its own login page.
        assert (await victim.post(path, data=data)).status_code == 403
        await victim.get(path)
        assert (await victim.post(path, data=data)).status_code == 403
        # A cookie of the attacker's choosing does not help without the portal's key.
        victim.cookies.set("radslag_login", "a" * 43)
        forged = {**data, "login_token": "a" * 43}
        assert (await victim.post(path, data=forged)).status_code == 403
        assert "radslag_session" not in victim.cookies
        # The victim's own form works.
        assert (await form_login(victim, path, "anna")).status_code == 303


async def test_the_login_page_cookie_is_strict_short_lived_and_cleared_on_login(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/t/gnosjo/staff/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("radslag_login=")
    for attribute in ("HttpOnly", "Max-Age=3600", "Path=/", "SameSite=strict"):
        assert attribute.lower() in cookie.lower(), attribute
    # A second tab reuses the cookie, so both tabs' forms work.
    assert await login_token(client, "/t/gnosjo/staff/login") == await login_token(
        client, "/t/gnosjo/staff/login"
    )
    signed_in = await form_login(client, "/t/gnosjo/staff/login", "anna")
    assert signed_in.status_code == 303
    assert 'radslag_login=""' in ",".join(signed_in.headers.get_list("set-cookie"))


async def test_over_https_the_cookie_is_a_host_only_secure_cookie(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    production = settings.model_copy(update={"portal_url": "https://panel.region.se"})
    async with running(production, gateway) as application, client_for(application) as http:
        page = await http.get("/t/gnosjo/staff/login")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith("__Host-radslag_login=")
        assert "Secure" in cookie
        assert "Domain" not in cookie


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}],
)
async def test_the_api_login_takes_only_json(
    client: httpx.AsyncClient, db: AsyncDatabase[Document], headers: dict[str, str]
) -> None:
    # What another site's page can make a browser send without a CORS preflight.
    body = b'{"username": "anna", "password": "correct horse battery"}'
    response = await client.post("/api/t/gnosjo/session", content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["detail"] == "send the credentials as application/json"
    assert "radslag_session" not in client.cookies
    assert await db.login_failures.count_documents({}) == 0
    json = await client.post(
        "/api/t/gnosjo/session", content=body, headers={"content-type": "application/json"}
    )
    assert json.status_code == 200


async def test_the_openapi_document_names_the_415(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    responses = document["paths"]["/api/t/{tenant}/session"]["post"]["responses"]
    assert "415" in responses


async def test_the_installation_key_is_shared_by_replicas(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    # A form from one replica is accepted by another.
    async with (
        running(settings, gateway) as replica_a,
        running(settings, gateway) as replica_b,
        client_for(replica_a) as a,
    ):
        await create_account(replica_a.state.portal.db, "anna", PASSWORD, "gnosjo", "staff")
        token = await login_token(a, "/t/gnosjo/staff/login")
        transport = httpx.ASGITransport(app=replica_b)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=a.cookies
        ) as b:
            response = await b.post(
                "/t/gnosjo/staff/login",
                data={"username": "anna", "password": PASSWORD, "login_token": token},
            )
            assert response.status_code == 303
