"""Whom a new round invites, in the portal: the form's segment, sample and rest days travel
to rounds; bad numbers stay on the form; the draft's page and the API preview the count."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.rounds import CreateRound, PreviewTarget, Target
from tests.portal.conftest import api_login, check_page, form_login, text_of
from tests.portal.fakes import FakeGateway

pytestmark = pytest.mark.usefixtures("accounts")
FORM = {
    "title": "Fritidsgården",
    "purpose": "Nämnden beslutar om öppettider i mars.",
    "q1_kind": "single_choice",
    "q1_text": "Vill du ha längre öppettider?",
    "q1_options": "Ja\nNej",
    "q2_kind": "free_text",
    "q2_text": "",
    "panel": "general",
}


async def test_a_round_for_a_sample_of_women_is_previewed_before_it_opens(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    page = await client.get("/t/gnosjo/staff/rounds/new")
    check_page(page.text)
    assert 'name="age_bands"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    form = {**FORM, "csrf_token": csrf.group(1)}
    bad = await client.post(
        "/t/gnosjo/staff/rounds/new", data={**form, "sample": "many", "rest_days": "999"}
    )
    assert bad.status_code == 400
    check_page(bad.text)
    assert gateway.sent(CreateRound) == []
    made = await client.post(
        "/t/gnosjo/staff/rounds/new",
        data={
            **form,
            "genders": ["female"],
            "age_bands": ["45-64"],
            "sample": "3",
            "rest_days": "30",
        },
    )
    assert made.status_code == 303
    [command] = gateway.sent(CreateRound)
    assert command.target == Target(
        genders=("female",), age_bands=("45-64",), sample=3, rest_days=30
    )
    shown = await client.get(made.headers["location"].split("?")[0])
    check_page(shown.text)
    assert "Om omgången öppnade nu skulle" in text_of(shown.text)
    assert gateway.asked(PreviewTarget)[-1].target == command.target

    await api_login(client, "gnosjo", "anna")
    preview = await client.get(f"/api/t/gnosjo/rounds/{command.round_id}/preview")
    assert preview.status_code == 200
    body = preview.json()
    assert body["invited"] <= 3
    assert set(body) == {"in_segment", "paused", "over_cap", "rested", "invited"}
