"""Several panels in the portal: staff add a youth panel and set its rules, residents sign up
for it on its own join page, an account limited to one panel sees only that panel (its
settings, rounds, members and figures), and a member chooses their panels on their page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contracts.membership import SearchMembers
from contracts.panels import ChangeMyPanels, ConfigurePanel, PanelSettings
from contracts.recruitment import EnrolMember, GetRepresentativeness
from contracts.rounds import CreateRound, ListRounds
from services.portal.accounts import create_account
from services.portal.settings_pages import DEFAULT_CONSENT_TEXT
from tests.portal.conftest import PASSWORD, api_login, check_page, form_login, text_of
from tests.portal.fakes import FakeGateway
from tests.portal.test_member_self_service import _signed_in

pytestmark = pytest.mark.usefixtures("accounts")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
YEAR = datetime.now(UTC).year


def _csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match
    return match.group(1)


async def _youth_panel(gateway: FakeGateway) -> None:
    await gateway.configure_panel(
        ConfigurePanel(
            tenant="gnosjo",
            panel="youth",
            settings=PanelSettings(name="Ungdomspanelen", min_age=13, max_age=19),
            consent_text=DEFAULT_CONSENT_TEXT,
        )
    )


async def test_staff_add_a_youth_panel_and_residents_join_it_on_its_own_page(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.tenants[0] = gateway.tenants[0].model_copy(
        update={"districts": ("Gnosjö centrum", "Hillerstorp")}
    )
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    page = await client.get("/t/gnosjo/staff/panels")
    check_page(page.text)
    assert "Medborgarpanelen" in text_of(page.text)
    assert "Lägg till en panel" in page.text
    csrf = _csrf(page.text)

    # A bad short name or a taken one is refused on the form; a good one adds the panel.
    for slug, status in (("Ung Panel", 400), ("general", 400)):
        bad = await client.post(
            "/t/gnosjo/staff/panels", data={"csrf_token": csrf, "panel": slug, "name": "Unga"}
        )
        assert bad.status_code == status
        check_page(bad.text)
    added = await client.post(
        "/t/gnosjo/staff/panels",
        data={"csrf_token": csrf, "panel": "youth", "name": "Ungdomspanelen"},
    )
    assert added.status_code == 303
    assert added.headers["location"].startswith("/t/gnosjo/staff/settings?panel=youth")
    [created] = gateway.sent(ConfigurePanel)
    assert (created.panel, created.settings.name) == ("youth", "Ungdomspanelen")

    # Its settings page: an age range and the districts it takes.
    settings = await client.get("/t/gnosjo/staff/settings?panel=youth")
    check_page(settings.text)
    assert "/t/gnosjo/join?panel=youth" in settings.text
    form = {
        "csrf_token": _csrf(settings.text),
        "panel": "youth",
        "name": "Ungdomspanelen",
        "owner": "Barn- och utbildningsnämnden",
        "remit": "Frågor om skola och fritid.",
        "min_age": "13",
        "max_age": "19",
        "districts": ["Hillerstorp"],
        "connections": ["resident", "pupil"],
        "channels": ["email", "sms"],
        "max_rounds_per_half_year": "4",
        "term_years": "",
        "topics": "",
        "consent_text": DEFAULT_CONSENT_TEXT,
    }
    wrong = await client.post("/t/gnosjo/staff/settings", data={**form, "max_age": "12"})
    assert wrong.status_code == 400
    saved = await client.post("/t/gnosjo/staff/settings", data=form)
    assert saved.status_code == 303
    command = gateway.sent(ConfigurePanel)[-1]
    assert command.panel == "youth"
    assert (command.settings.max_age, command.settings.districts, command.settings.owner) == (
        19,
        ("Hillerstorp",),
        "Barn- och utbildningsnämnden",
    )
    assert (await client.get("/t/gnosjo/staff/settings?panel=nosuch")).status_code == 404

    # The join page of the youth panel names it; a 40-year-old is told it is for others.
    resident = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with resident:
        join = await resident.get("/t/gnosjo/join?panel=youth")
        assert join.status_code == 200
        check_page(join.text)
        assert "Gå med i Ungdomspanelen" in text_of(join.text)
        assert (await resident.get("/t/gnosjo/join?panel=nosuch")).status_code == 404
        sign_up = {
            "email": "ung@example.se",
            "birth_year": str(YEAR - 15),
            "gender": "female",
            "district": "Hillerstorp",
            "consent": "yes",
            "panel": "youth",
        }
        old = await resident.post("/t/gnosjo/join", data={**sign_up, "birth_year": "1980"})
        assert old.status_code == 400
        assert "äldre än" in text_of(old.text)
        elsewhere = await resident.post(
            "/t/gnosjo/join", data={**sign_up, "district": "Gnosjö centrum"}
        )
        assert elsewhere.status_code == 400
        joined = await resident.post("/t/gnosjo/join", data=sign_up)
        assert joined.status_code == 303
    [enrol] = gateway.sent(EnrolMember)
    assert (enrol.panel, enrol.consent_version) == ("youth", "youth-2026-1")

    # The API lists and reads panels too.
    await api_login(client, "gnosjo", "anna")
    listed = (await client.get("/api/t/gnosjo/panels")).json()
    assert [p["panel"] for p in listed["panels"]] == ["general", "youth"]
    one = (await client.get("/api/t/gnosjo/panels/youth")).json()
    assert one["settings"]["max_age"] == 19


async def test_an_account_limited_to_one_panel_sees_only_that_panel(
    client: httpx.AsyncClient, gateway: FakeGateway, db: Any
) -> None:
    await _youth_panel(gateway)
    await create_account(db, "ung", PASSWORD, "gnosjo", "staff", panels=("youth",))
    await form_login(client, "/t/gnosjo/staff/login", "ung")

    page = await client.get("/t/gnosjo/staff/panels")
    check_page(page.text)
    assert "Ungdomspanelen" in text_of(page.text)
    assert "settings?panel=general" not in page.text
    assert "settings?panel=youth" in page.text
    assert "Lägg till en panel" not in page.text
    add = await client.post(
        "/t/gnosjo/staff/panels",
        data={"csrf_token": _csrf(page.text), "panel": "more", "name": "Fler"},
    )
    assert add.status_code == 403
    assert (await client.get("/t/gnosjo/staff/settings")).status_code == 404
    assert (await client.get("/t/gnosjo/staff/settings?panel=youth")).status_code == 200

    # Rounds, members and figures are asked for the youth panel only.
    assert (await client.get("/t/gnosjo/staff/")).status_code == 200
    assert gateway.asked(ListRounds)[-1].panels == ("youth",)
    assert (await client.get("/t/gnosjo/staff/members")).status_code == 200
    assert gateway.asked(SearchMembers)[-1].panels == ("youth",)
    assert (await client.get("/t/gnosjo/staff/members?panel=general")).status_code == 404
    assert (await client.get("/t/gnosjo/staff/panel")).status_code == 200
    assert gateway.asked(GetRepresentativeness)[-1].panel == "youth"

    # A new round asks the youth panel; naming another panel is refused.
    form_page = await client.get("/t/gnosjo/staff/rounds/new")
    check_page(form_page.text)
    round_form = {
        "csrf_token": _csrf(form_page.text),
        "title": "Fritidsgården",
        "purpose": "Nämnden beslutar om öppettider.",
        "q1_kind": "single_choice",
        "q1_text": "Vill du ha längre öppettider?",
        "q1_options": "Ja\nNej",
        "q2_kind": "free_text",
        "q2_text": "",
        "panel": "general",
    }
    refused = await client.post("/t/gnosjo/staff/rounds/new", data=round_form)
    assert refused.status_code == 400
    created = await client.post("/t/gnosjo/staff/rounds/new", data={**round_form, "panel": "youth"})
    assert created.status_code == 303
    assert gateway.sent(CreateRound)[-1].panel == "youth"

    # The API says the same.
    api = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with api:
        await api_login(api, "gnosjo", "ung")
        listed = (await api.get("/api/t/gnosjo/panels")).json()
        assert [p["panel"] for p in listed["panels"]] == ["youth"]
        assert (await api.get("/api/t/gnosjo/panels/general")).status_code == 404
        assert (await api.get("/api/t/gnosjo/panel")).status_code == 404


async def test_a_member_chooses_their_panels_on_their_page(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await _youth_panel(gateway)
    assert (await client.get("/t/gnosjo/me/panels")).status_code == 303  # not signed in
    csrf = await _signed_in(client)
    page = await client.get("/t/gnosjo/me/panels")
    assert page.status_code == 200
    check_page(page.text)
    assert "Ungdomspanelen" in text_of(page.text)
    assert "för andra åldrar" in text_of(page.text)  # the fake's youth panel takes no adult
    none = await client.post("/t/gnosjo/me/panels", data={"csrf_token": csrf})
    assert none.status_code == 400
    forged = await client.post("/t/gnosjo/me/panels", data={"panels": ["general"]})
    assert forged.status_code == 403
    saved = await client.post(
        "/t/gnosjo/me/panels",
        data={"csrf_token": csrf, "panels": ["general", "youth", "made-up"]},
    )
    assert saved.status_code == 303
    [change] = gateway.sent(ChangeMyPanels)
    assert change.panels == ("general", "youth")


async def test_a_vendor_file_is_imported_into_the_panel_chosen(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    from contracts.recruitment import ImportMembers
    from tests.portal.test_member_import import members_file

    await _youth_panel(gateway)
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    page = await client.get("/t/gnosjo/staff/import")
    check_page(page.text)
    assert 'name="panel"' in page.text
    data = {"csrf_token": _csrf(page.text), "source": "Netigate 2026", "panel": "nosuch"}
    files = {"members": ("netigate.csv", members_file(3))}
    refused = await client.post("/t/gnosjo/staff/import", data=data, files=files)
    assert refused.status_code == 400
    sent = await client.post("/t/gnosjo/staff/import", data={**data, "panel": "youth"}, files=files)
    assert sent.status_code == 303
    assert {c.panel for c in gateway.sent(ImportMembers)} == {"youth"}


async def test_a_limited_account_reaches_no_other_panels_campaigns_members_or_council_records(
    client: httpx.AsyncClient, gateway: FakeGateway, db: Any
) -> None:
    from contracts.campaigns import CreateCampaign

    await _youth_panel(gateway)
    for campaign_id, panel in (("c-general", "general"), ("c-youth", "youth")):
        await gateway.create_campaign(
            CreateCampaign(
                tenant="gnosjo",
                campaign_id=campaign_id,
                title=f"Brev {panel}",
                closes_on="2027-03-01",
                panel=panel,
            )
        )
    # Members: the fake's first is the general panel's; make the second a youth member.
    gateway.members[1] = gateway.members[1].model_copy(update={"panels": ("general", "youth")})
    general_only = gateway.members[0].member_id
    await create_account(db, "ung", PASSWORD, "gnosjo", "staff", panels=("youth",))
    csrf = await api_login(client, "gnosjo", "ung")
    headers = {"X-CSRF-Token": csrf}

    listed = (await client.get("/api/t/gnosjo/campaigns")).json()
    assert [c["campaign_id"] for c in listed["campaigns"]] == ["c-youth"]
    assert (await client.get("/api/t/gnosjo/campaigns/c-general")).status_code == 404
    assert (await client.get("/api/t/gnosjo/campaigns/c-youth")).status_code == 200
    letters = await client.get("/api/t/gnosjo/campaigns/c-general/letters.pdf")
    assert letters.status_code == 404
    assert (await client.get("/t/gnosjo/staff/campaigns/c-general")).status_code == 404

    # Another panel's member: no copy, no erasure; the member search shows only its panel.
    data = await client.get(f"/api/t/gnosjo/members/{general_only}/data")
    assert data.status_code == 404
    erase = await client.post(f"/api/t/gnosjo/members/{general_only}/erasure", headers=headers)
    assert erase.status_code == 404
    found = (await client.get("/api/t/gnosjo/members")).json()
    assert {tuple(m["panels"]) for m in found["members"]} == {("youth",)}

    # The council's records are not a panel's: audit, population, monthly history, contacts.
    assert (await client.get("/api/t/gnosjo/audit")).status_code == 403
    assert (await client.get("/api/t/gnosjo/panel/history")).status_code == 403
    assert (await client.get("/api/t/gnosjo/contacts/invalid")).status_code == 403
    population = await client.put(
        "/api/t/gnosjo/population?source=SCB",
        content=b"district,age_band,gender,population\n,16-29,female,1\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert population.status_code == 403
    assert (await client.get("/t/gnosjo/staff/audit")).status_code == 403
    assert (await client.get("/t/gnosjo/staff/panel")).status_code == 200  # its own figures
