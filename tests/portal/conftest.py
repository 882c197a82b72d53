"""Portal test fixtures: the app with a fake gateway and a real document store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from devstack.processes import start_store
from infra.store import Document
from services.portal.accounts import create_account
from services.portal.app import create_app
from services.portal.settings import PortalSettings
from tests.portal.fakes import FakeGateway

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded document store for every portal test (each test empties its collections)."""
    server = start_store(tmp_path_factory.mktemp("portal-store"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def settings(store_url: str) -> PortalSettings:
    return PortalSettings(
        mongodb_url=store_url,
        nats_url="nats://127.0.0.1:1",
        devtools_url=None,
        service_health_urls="",
        portal_outcome_wait_seconds=0.3,
        portal_rate_limit=100,
    )


@asynccontextmanager
async def running(settings: PortalSettings, gateway: FakeGateway) -> AsyncIterator[FastAPI]:
    """A started portal app (lifespan entered) with no accounts, sessions, login failures,
    rate-limit counts or audit entries."""
    application = create_app(settings, gateway)
    async with application.router.lifespan_context(application):
        db = application.state.portal.db
        await db.accounts.delete_many({})
        await db.sessions.delete_many({})
        await db.login_failures.delete_many({})
        await db.rate_limits.delete_many({})
        await db.audit.delete_many({})
        yield application


def client_for(application: FastAPI) -> httpx.AsyncClient:
    """An HTTP client talking to the app in process."""
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def app(settings: PortalSettings, gateway: FakeGateway) -> AsyncIterator[FastAPI]:
    async with running(settings, gateway) as application:
        yield application


@pytest.fixture
def db(app: FastAPI) -> AsyncDatabase[Document]:
    database: AsyncDatabase[Document] = app.state.portal.db
    return database


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


@pytest.fixture(scope="session")
def password_hash() -> str:
    """PASSWORD hashed once: argon2 is slow on purpose."""
    return PasswordHasher().hash(PASSWORD)


@pytest.fixture
async def accounts(db: AsyncDatabase[Document], password_hash: str) -> None:
    """Staff of gnosjo, staff of vaggeryd and a region admin, all with PASSWORD."""
    await create_account(db, "anna", PASSWORD, "gnosjo", "panel_manager")
    await db.accounts.insert_many(
        [
            {"_id": "ville", "password_hash": password_hash, "tenant": "vaggeryd", "role": "staff"},
            {
                "_id": "region",
                "password_hash": password_hash,
                "tenant": None,
                "role": "region_admin",
            },
        ]
    )


async def api_login(client: httpx.AsyncClient, tenant: str, username: str) -> str:
    """Sign in through the API; the cookie stays in the client. Returns the CSRF token."""
    response = await client.post(
        f"/api/t/{tenant}/session", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


LOGIN_TOKEN_RE = re.compile(r'name="login_token" value="([^"]+)"')


async def login_token(client: httpx.AsyncClient, path: str) -> str:
    """Open a login page (its cookie stays in the client); returns the form's hidden token."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = LOGIN_TOKEN_RE.search(page.text)
    assert match, "no login token on the page"
    return match.group(1)


async def form_login(
    client: httpx.AsyncClient, path: str, username: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    """Sign in through a login page as a browser does: open the form, then post it."""
    token = await login_token(client, path)
    return await client.post(
        path,
        data={"username": username, "password": password, "login_token": token, **extra},
    )


class PageCheck(HTMLParser):
    """Collects what the accessibility checks look at."""

    def __init__(self) -> None:
        super().__init__()
        self.html_lang: str | None = None
        self.h1 = 0
        self.labels: set[str] = set()
        self.inputs: list[tuple[str, str | None]] = []
        self.legends = 0
        self.radios = 0
        self.skip_link = False
        self._in_h1 = False
        self.h1_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.html_lang = a.get("lang")
        elif tag == "h1":
            self.h1 += 1
            self._in_h1 = True
        elif tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        elif tag in ("input", "textarea", "select"):
            kind = a.get("type") or tag
            if kind not in ("hidden", "submit"):
                self.inputs.append((kind, a.get("id")))
            if kind == "radio":
                self.radios += 1
        elif tag == "legend":
            self.legends += 1
        elif tag == "a" and a.get("href") == "#main":
            self.skip_link = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1_text += data


def check_page(html: str, lang: str = "sv") -> PageCheck:
    """Assert the basics every page must have; returns what was found."""
    page = PageCheck()
    page.feed(html)
    assert page.html_lang == lang
    assert page.h1 == 1, f"expected one h1, found {page.h1}"
    assert page.skip_link
    for kind, element_id in page.inputs:
        assert element_id, f"{kind} without an id"
        assert element_id in page.labels, f"{kind} #{element_id} has no label"
    if page.radios:
        assert page.legends >= 1
    return page


def text_of(html: str) -> str:
    """The visible text of a page, whitespace collapsed (for 'contains' checks)."""
    stripped = re.sub(r"<[^>]+>", " ", html)
    return " ".join(stripped.split())
