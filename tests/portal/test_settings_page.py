"""The panel's settings page and API: validation, a changed consent text as a new version,
and roles that may not change them."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.panels import ConfigurePanel
from services.portal.settings_pages import DEFAULT_CONSENT_TEXT
from tests.portal.conftest import PASSWORD, api_login, check_page, form_login
from tests.portal.fakes import FakeGateway

pytestmark = pytest.mark.usefixtures("accounts")


async def test_staff_change_the_settings_and_the_consent_text_becomes_a_new_version(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    page = await client.get("/t/gnosjo/staff/settings")
    check_page(page.text)
    assert "2026-1 (gällande)" in page.text
    assert "Syfte: vi använder" in page.text  # the built-in text, to start from
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    form = {
        "csrf_token": csrf.group(1),
        "name": "Ungdomspanelen",
        "remit": "Frågor om skola och fritid.",
        "min_age": "13",
        "connections": ["resident", "pupil"],
        "channels": ["sms"],
        "max_rounds_per_half_year": "3",
        "term_years": "2",
        "topics": "Skola\nFritid\n\n",
        "consent_text": DEFAULT_CONSENT_TEXT + "\n\nNy mening.",
    }
    bad = await client.post(
        "/t/gnosjo/staff/settings", data={**form, "min_age": "9", "channels": []}
    )
    assert bad.status_code == 400
    check_page(bad.text)
    assert gateway.sent(ConfigurePanel) == []
    saved = await client.post("/t/gnosjo/staff/settings", data=form)
    assert saved.status_code == 303
    [command] = gateway.sent(ConfigurePanel)
    settings = command.settings
    assert (settings.min_age, settings.connections, settings.channels) == (
        13,
        ("resident", "pupil"),
        ("sms",),
    )
    assert (settings.max_rounds_per_half_year, settings.term_years, settings.topics) == (
        3,
        2,
        ("Skola", "Fritid"),
    )
    assert command.consent_text.endswith("Ny mening.")
    after = await client.get(saved.headers["location"])
    assert "2026-2 (gällande)" in after.text


async def test_the_panel_api_and_roles(
    client: httpx.AsyncClient, gateway: FakeGateway, db: object
) -> None:
    from services.portal.accounts import create_account

    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    view = (await client.get("/api/t/gnosjo/panel")).json()
    assert view["consent_version"] == "2026-1"
    assert view["settings"]["min_age"] == 16
    body = {"settings": {**view["settings"], "min_age": 18}, "consent_text": "x" * 30}
    put = await client.put("/api/t/gnosjo/panel", json=body, headers=headers)
    assert put.status_code == 200
    assert gateway.sent(ConfigurePanel)[0].settings.min_age == 18
    short = await client.put(
        "/api/t/gnosjo/panel", json={**body, "consent_text": "kort"}, headers=headers
    )
    assert short.status_code == 400
    await create_account(db, "stina", PASSWORD, "gnosjo", "analyst")  # type: ignore[arg-type]
    analyst = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with analyst:
        token = await api_login(analyst, "gnosjo", "stina")
        refused = await analyst.put(
            "/api/t/gnosjo/panel", json=body, headers={"X-CSRF-Token": token}
        )
        assert refused.status_code == 403


async def test_the_join_page_follows_the_panels_settings(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    from contracts.panels import ConsentVersion, PanelSettings, PanelView
    from contracts.recruitment import EnrolMember
    from tests.portal.test_public_pages import JOIN

    gateway.panel = PanelView(
        panel="general",
        settings=PanelSettings(
            min_age=18, connections=("resident", "second_home"), topics=("Skola", "Trafik")
        ),
        consent_text="Vi sparar dina uppgifter för panelen.\n\nDu kan lämna när du vill.",
        consent_version="2026-3",
        consent_versions=(
            ConsentVersion(version="2026-1", since="", members=10),
            ConsentVersion(version="2026-3", since="2026-11-01", members=0),
        ),
    )
    page = await client.get("/t/gnosjo/join")
    check_page(page.text)
    assert "<p>Vi sparar dina uppgifter för panelen.</p>" in page.text
    assert 'name="consent_version" value="2026-3"' in page.text
    assert 'id="connection-second_home"' in page.text
    assert 'value="Trafik"' in page.text
    young = await client.post("/t/gnosjo/join", data={**JOIN, "birth_year": "2010"})
    assert young.status_code == 400
    assert "Du är yngre än panelen tar emot medlemmar." in young.text
    assert gateway.sent(EnrolMember) == []
    joined = await client.post(
        "/t/gnosjo/join",
        data={
            **JOIN,
            "connection": "second_home",
            "topics": ["Trafik", "Not offered"],
            "consent_version": "2026-3",
        },
    )
    assert joined.status_code == 303
    [command] = gateway.sent(EnrolMember)
    assert (command.connection, command.topics, command.consent_version) == (
        "second_home",
        ("Trafik",),
        "2026-3",
    )
    # A version the panel does not know is replaced by the current one.
    await client.post(
        "/t/gnosjo/join",
        data={**JOIN, "email": "b@example.se", "consent_version": "1999-1"},
    )
    assert gateway.sent(EnrolMember)[-1].consent_version == "2026-3"
    # The API refuses a connection the panel does not take.
    pupil = await client.post(
        "/api/t/gnosjo/members",
        json={
            "email": "c@example.se",
            "birth_year": 1990,
            "gender": "male",
            "district": "Hillerstorp",
            "consent": True,
            "connection": "pupil",
        },
    )
    assert pupil.status_code == 400
    assert "connection" in pupil.json()["errors"]


async def test_the_join_page_offers_only_the_panels_channels(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    from contracts.panels import PanelSettings
    from contracts.recruitment import EnrolMember
    from tests.portal.test_public_pages import JOIN

    gateway.panel = gateway.panel.model_copy(
        update={"settings": PanelSettings(channels=("email",))}
    )
    page = await client.get("/t/gnosjo/join")
    check_page(page.text)
    assert 'id="phone"' not in page.text
    by_sms = {**JOIN, "email": "", "phone": "070-123 45 67"}
    refused = await client.post("/t/gnosjo/join", data=by_sms)
    assert refused.status_code == 400
    assert "Den här panelen deltar via e-post" in refused.text
    api = await client.post(
        "/api/t/gnosjo/members",
        json={
            "phone": "070-123 45 67",
            "birth_year": 1990,
            "gender": "male",
            "district": "Hillerstorp",
            "consent": True,
        },
    )
    assert api.status_code == 400
    assert gateway.sent(EnrolMember) == []
