"""The results page and API for every kind of question, and the written answers by pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts.rounds import (
    GetResults,
    InvitationChannelRate,
    ListAnswerTexts,
    RoundResults,
    Weighting,
)
from services.rounds import results as computed
from services.rounds import tallies
from tests.portal.conftest import api_login, check_page, text_of
from tests.portal.fakes import FakeGateway, round_view
from tests.portal.test_staff import ROUND, login
from tests.unit.test_questions import ALL, _people

pytestmark = pytest.mark.usefixtures("accounts")


def _results(gateway: FakeGateway, monkeypatch: Any) -> None:
    view = round_view(ROUND, state="closed", questions=ALL)
    gateway.rounds[("gnosjo", ROUND)] = view
    people = _people(
        30,
        {
            "park": "yes",
            "how": ["Walk", "Bus"],
            "happy": 4,
            "visits": 10,
            "why": "Quiet",
            "rank": ["Lights", "Toilets", "Benches"],
            "place": [{"district": "Kisa", "category": "Nice"}],
        },
    ) + _people(10, {"park": "no", "happy": 2, "visits": 20}, gender="male")
    kept = tallies.sum_cells(ALL, people)
    figures = RoundResults(
        round=view,
        response_rate=80.0,
        suppression_threshold=5,
        questions=computed.question_results(ALL, kept),
        by_day=computed.by_day(kept, 50),
        by_channel=computed.by_channel(kept),
        by_invitation=(
            InvitationChannelRate(channel="email", invited=40, answered=30, percent=75.0),
            InvitationChannelRate(channel="sms", invited=8, answered=6, percent=75.0),
            InvitationChannelRate(channel="not_sent", invited=2, answered=0, percent=0.0),
        ),
    )

    async def get_results(query: GetResults) -> RoundResults | None:
        gateway._asked(query)
        return figures if (query.tenant, query.round_id) == ("gnosjo", ROUND) else None

    monkeypatch.setattr(gateway, "get_results", get_results)
    gateway.answer_texts[("gnosjo", ROUND, "why")] = [f"Svar {n}" for n in range(120)]


async def test_the_results_page_shows_every_kind(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    response = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    assert response.status_code == 200
    check_page(response.text)
    text = text_of(response.text)
    assert "Panelens svar är ingen undersökning av alla invånare" in text
    assert "95 % konfidensintervall" in text
    assert "59,8 %–85,8 %" in text  # yes: 30 of 40
    assert "Medelvärde 3,5" in text  # the scale
    assert "Rangordning i fråga 6" in text
    assert "Markerade platser i fråga 7, efter kommundel" in text
    assert "Fråga 1 per kommundel" in text
    assert "Svar per dag" in text
    assert "Personlig länk" in text
    assert "Svarsfrekvens efter hur inbjudan skickades" in text
    assert "Inbjuden via sms 8 6 75 %" in text
    assert "Inbjudan inte skickad 2 0 0 %" in text
    # Ten written answers, and a way to all of them.
    assert text.count("Svar ") >= 10
    assert "Läs och sök bland alla 120 skrivna svar" in text
    [texts] = gateway.asked(ListAnswerTexts)
    assert texts.limit == 10


async def test_written_answers_page_by_page_and_by_search(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    url = f"/t/gnosjo/staff/rounds/{ROUND}/texts/why"
    first = await client.get(url)
    assert first.status_code == 200
    check_page(first.text)
    assert text_of(first.text).count("Svar ") == 50
    assert "after=50" in first.text
    found = await client.get(url, params={"search": "svar 11"})
    assert "Svar 110" in found.text
    assert "Svar 12" not in text_of(found.text)
    assert (await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/texts/nope")).status_code == 404


async def test_the_api_pages_written_answers(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    csrf = await api_login(client, "gnosjo", "anna")
    url = f"/api/t/gnosjo/rounds/{ROUND}/questions/why/texts"
    page = await client.get(url, params={"limit": 100}, headers={"X-CSRF-Token": csrf})
    assert page.status_code == 200
    body = page.json()
    assert (len(body["texts"]), body["total"], body["next_after"]) == (100, 120, "100")
    assert (
        await client.get(f"/api/t/gnosjo/rounds/{ROUND}/questions/Bad!/texts")
    ).status_code == 404
    results = (await client.get(f"/api/t/gnosjo/rounds/{ROUND}/results")).json()
    assert results["questions"][2]["mean"] == 3.5


async def test_weighted_results_show_both_figures_and_the_method(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    view = round_view(ROUND, state="closed", questions=ALL[:1])
    people = _people(30, {"park": "yes"}) + _people(10, {"park": "no"}, gender="male")
    kept = tallies.sum_cells(ALL[:1], people)
    weights = {("30-44", "female", "Kisa"): 0.5, ("30-44", "male", "Kisa"): 2.5}
    figures = RoundResults(
        round=view,
        response_rate=80.0,
        suppression_threshold=5,
        questions=computed.question_results(ALL[:1], kept, weights=weights),
        weighting=Weighting(
            applied=True,
            description="Svaren är viktade efter befolkningen i Gnosjö kommun (SCB 2025).",
            description_en="Weighted to the population of Gnosjö kommun (SCB 2025).",
            effective_n=31.2,
        ),
    )

    async def get_results(query: GetResults) -> RoundResults | None:
        return figures

    monkeypatch.setattr(gateway, "get_results", get_results)
    gateway.rounds[("gnosjo", ROUND)] = view
    await login(client, "gnosjo", "anna")
    response = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    text = text_of(response.text)
    assert "Svaren är viktade efter befolkningen i Gnosjö kommun (SCB 2025)." in text
    assert "Panelens svar är ingen undersökning" not in text
    assert "Viktad andel" in text
    assert "75 %" in text  # unweighted yes, side by side with …
    assert "37,5 %" in text  # … the weighted one (15 of 40)
    english = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results?lang=en")
    assert "Weighted to the population of Gnosjö kommun" in text_of(english.text)


async def test_staff_preview_a_round_as_residents_will_see_it(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(ROUND, state="draft", questions=ALL)
    await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/preview")
    assert page.status_code == 200
    check_page(page.text)
    text = text_of(page.text)
    assert "Förhandsvisning: så här ser invånarna omgången." in text
    assert 'type="checkbox" id="how-2" name="how" value="Bike"' in page.text
    assert "disabled" in page.text
    assert 'name="save"' not in page.text
    phone = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/preview?size=phone")
    assert '<body class="preview-phone">' in phone.text
    assert "Visa i full bredd" in text_of(phone.text)
    other = "1b3c8a9e-5a1f-4a57-9a0e-6c3d1f7e2b10"
    assert (await client.get(f"/t/gnosjo/staff/rounds/{other}/preview")).status_code == 404
