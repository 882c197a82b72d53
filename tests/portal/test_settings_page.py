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
