"""A council's team page and API: a manager adds an account limited to the youth panel (its
password shown once), changes it, removes it; limited accounts and analysts manage nothing;
another council's username is not taken over; everyone changes their own password."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from contracts.panels import ConfigurePanel, PanelSettings
from services.portal.accounts import authenticate, create_account
from services.portal.settings_pages import DEFAULT_CONSENT_TEXT
from tests.portal.conftest import PASSWORD, api_login, check_page, form_login, text_of
from tests.portal.fakes import FakeGateway

pytestmark = pytest.mark.usefixtures("accounts")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match
    return match.group(1)


async def test_a_manager_adds_an_account_for_the_youth_panel_and_changes_it(
    client: httpx.AsyncClient, gateway: FakeGateway, db: Any
) -> None:
    await gateway.configure_panel(
        ConfigurePanel(
            tenant="gnosjo",
            panel="youth",
            settings=PanelSettings(name="Ungdomspanelen"),
            consent_text=DEFAULT_CONSENT_TEXT,
        )
    )
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    page = await client.get("/t/gnosjo/staff/team")
    check_page(page.text)
    assert "anna" in text_of(page.text)
    csrf = _csrf(page.text)
    form = {"csrf_token": csrf, "username": "Ung.Ansvarig", "role": "staff", "panels": "youth"}

    # Bad input stays on the form: an unknown panel, a role a council does not give, a
    # region admin's or another council's username, one's own account.
    for bad in (
        {"panels": "nosuch"},
        {"role": "region_admin"},
        {"username": "region"},
        {"username": "ville"},
        {"username": "anna"},
    ):
        refused = await client.post("/t/gnosjo/staff/team", data={**form, **bad})
        assert refused.status_code == 400, bad
        check_page(refused.text)
    assert (await db.accounts.find_one({"_id": "ville"}))["tenant"] == "vaggeryd"

    made = await client.post("/t/gnosjo/staff/team", data=form)
    assert made.status_code == 200
    password = re.search(r"<code>([A-Za-z0-9_-]{16})</code>", made.text)
    assert password, "the new password is shown once"
    account = await authenticate(db, "ung.ansvarig", password.group(1))
    assert account is not None
    assert (account.tenant, account.role, account.panels) == ("gnosjo", "staff", ("youth",))
    again = await client.get("/t/gnosjo/staff/team")
    assert password.group(1) not in again.text
    assert "Ungdomspanelen" in text_of(again.text)

    # The new account sees only its panel and does not manage the team.
    holder = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with holder:
        await form_login(holder, "/t/gnosjo/staff/login", "ung.ansvarig", password.group(1))
        assert (await holder.get("/t/gnosjo/staff/team")).status_code == 403
        assert (await holder.get("/t/gnosjo/staff/settings")).status_code == 404
        # Its holder changes the password: a wrong current one or a mismatch is refused.
        pw_page = await holder.get("/t/gnosjo/staff/password")
        check_page(pw_page.text)
        pw_csrf = _csrf(pw_page.text)
        new = "ett långt nytt lösenord"
        for current, repeat in ((password.group(1), "annat"), ("fel lösenord", new)):
            wrong = await holder.post(
                "/t/gnosjo/staff/password",
                data={"csrf_token": pw_csrf, "current": current, "new": new, "repeat": repeat},
            )
            assert wrong.status_code == 400
        changed = await holder.post(
            "/t/gnosjo/staff/password",
            data={"csrf_token": pw_csrf, "current": password.group(1), "new": new, "repeat": new},
        )
        assert changed.status_code == 303
        assert (await holder.get("/t/gnosjo/staff/panels")).status_code == 200  # still in
    assert await authenticate(db, "ung.ansvarig", new) is not None

    # Widening it to every panel keeps the password and ends its sessions; removing it ends
    # the account.
    widened = await client.post(
        "/t/gnosjo/staff/team",
        data={"csrf_token": csrf, "username": "ung.ansvarig", "role": "analyst"},
    )
    assert widened.status_code == 303
    account = await authenticate(db, "ung.ansvarig", new)
    assert account is not None
    assert (account.role, account.panels) == ("analyst", ())
    assert await db.sessions.count_documents({"username": "ung.ansvarig"}) == 0
    removed = await client.post(
        "/t/gnosjo/staff/team/remove", data={"csrf_token": csrf, "username": "ung.ansvarig"}
    )
    assert removed.status_code == 303
    assert await db.accounts.find_one({"_id": "ung.ansvarig"}) is None
    own = await client.post(
        "/t/gnosjo/staff/team/remove", data={"csrf_token": csrf, "username": "anna"}
    )
    assert own.status_code == 400


async def test_the_team_api_and_who_may_use_it(
    client: httpx.AsyncClient, gateway: FakeGateway, db: Any
) -> None:
    csrf = await api_login(client, "gnosjo", "anna")
    headers = {"X-CSRF-Token": csrf}
    made = await client.put(
        "/api/t/gnosjo/team/kalle", json={"role": "analyst", "panels": []}, headers=headers
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["role"], body["panels"]) == ("analyst", [])
    assert len(body["password"]) >= 16
    changed = await client.put(
        "/api/t/gnosjo/team/kalle", json={"role": "staff", "panels": ["general"]}, headers=headers
    )
    assert changed.json()["password"] is None
    team = (await client.get("/api/t/gnosjo/team")).json()
    assert {(a["username"], a["role"], tuple(a["panels"])) for a in team["accounts"]} == {
        ("anna", "panel_manager", ()),
        ("kalle", "staff", ("general",)),
    }
    taken = await client.put("/api/t/gnosjo/team/ville", json={"role": "staff"}, headers=headers)
    assert taken.status_code == 409
    unknown = await client.put(
        "/api/t/gnosjo/team/x1", json={"role": "staff", "panels": ["nosuch"]}, headers=headers
    )
    assert unknown.status_code == 400
    assert (await client.delete("/api/t/gnosjo/team/kalle", headers=headers)).status_code == 204
    assert (await client.delete("/api/t/gnosjo/team/kalle", headers=headers)).status_code == 404

    await create_account(db, "stina", PASSWORD, "gnosjo", "analyst")
    analyst = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with analyst:
        await api_login(analyst, "gnosjo", "stina")
        assert (await analyst.get("/api/t/gnosjo/team")).status_code == 403
