"""Staff enter answers from returned paper forms."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.recruitment import Outcome
from contracts.rounds import EnterPaperAnswers
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import FakeGateway, round_view
from tests.portal.test_staff import ROUND, login
from tests.unit.test_questions import ALL

pytestmark = pytest.mark.usefixtures("accounts")
MEMBER = "5f0c2b9e-1d3a-4e6f-8a7b-9c0d1e2f3a4b"


async def _page(client: httpx.AsyncClient, gateway: FakeGateway) -> str:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="open", questions=ALL)
    await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/paper")
    assert page.status_code == 200
    check_page(page.text)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


async def test_a_paper_form_is_entered_for_its_member(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _page(client, gateway)
    response = await client.post(
        f"/t/gnosjo/staff/rounds/{ROUND}/paper",
        data={"csrf_token": csrf, "member": MEMBER, "park": "yes", "how": ["Walk"], "happy": "5"},
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/paper?notice=paper")
    [command] = gateway.sent(EnterPaperAnswers)
    assert (command.round_id, command.member_id, command.entered_by) == (ROUND, MEMBER, "anna")
    assert command.model_dump(mode="json")["answers"] == {
        "park": "yes",
        "how": ["Walk"],
        "happy": 5,
    }


async def test_paper_refusals_and_bad_entries_are_explained(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await _page(client, gateway)
    url = f"/t/gnosjo/staff/rounds/{ROUND}/paper"
    bad = await client.post(url, data={"csrf_token": csrf, "member": "", "happy": "7"})
    assert bad.status_code == 400
    text = text_of(bad.text)
    assert "Ange medlemsreferensen som står på blanketten." in text
    assert "Ange ett tal inom det angivna intervallet." in text
    gateway.response = Outcome(status="refused", reason="already_answered")
    twice = await client.post(url, data={"csrf_token": csrf, "member": MEMBER, "park": "no"})
    assert twice.status_code == 400
    assert "Den medlemmen har redan svarat på den här omgången." in text_of(twice.text)
    # Without the form's CSRF token nothing is sent.
    forged = await client.post(url, data={"member": MEMBER, "park": "no"})
    assert forged.status_code == 403
    assert len(gateway.sent(EnterPaperAnswers)) == 1


async def test_another_councils_round_has_no_paper_page(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("vaggeryd", ROUND)] = round_view(ROUND, state="open", questions=ALL)
    await login(client, "gnosjo", "anna")
    assert (await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/paper")).status_code == 404
