"""The round builder's languages: staff pick the round's languages and fill in each other
language's texts next to the main ones; the form becomes a CreateRound with its translations,
the edit form shows them again, and the round's page says which texts are still missing."""

from __future__ import annotations

import html

import httpx
import pytest

from contracts.rounds import CreateRound, EditRound
from tests.portal.conftest import api_login, check_page, text_of
from tests.portal.fakes import FakeGateway
from tests.portal.test_round_builder import FORM, NEW, _csrf
from tests.portal.test_staff import login

pytestmark = pytest.mark.usefixtures("accounts")

LANGUAGES = {
    "main_language": "sv",
    "language_nb": "yes",
    "language_en": "yes",
    "tr_nb_title": "Parken",
    "tr_nb_purpose": "Samfunnsutvalget prioriterer.",
    "tr_nb_decision": "Oppgraderingen i kommunestyret",
    "tr_nb_park_text": "Bruker du parken?",
    "tr_nb_how_text": "Hvordan kommer du deg dit?",
    "tr_nb_how_options": "Går\nSykler\nBuss",
    "tr_nb_happy_text": "Hvor fornøyd er du?",
    "tr_nb_happy_high_label": "Veldig",
    "tr_nb_visits_unit": "ganger",
    "tr_en_title": "The park",
    "tr_en_how_options": "Walk\nCycle\nBus",
}


async def test_the_builder_round_trip_of_languages_and_translations(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    form = await client.get(NEW)
    check_page(form.text)
    assert 'name="main_language"' in form.text
    assert 'name="tr_nb_q1_text"' in form.text  # the empty question's fields, per language
    response = await client.post(NEW, data={**FORM, **LANGUAGES, "csrf_token": csrf})
    assert response.status_code == 303, text_of(response.text)
    [command] = gateway.sent(CreateRound)
    assert command.languages == ("sv", "nb", "en")
    nb, en = command.translations["nb"], command.translations["en"]
    assert (nb.title, nb.decision, nb.not_promised) == (
        "Parken",
        "Oppgraderingen i kommunestyret",
        "",
    )
    assert nb.questions["how"].options == ("Går", "Sykler", "Buss")
    assert nb.questions["happy"].high_label == "Veldig"
    assert nb.questions["visits"].unit == "ganger"
    assert "where" not in nb.questions  # nothing given: the main language's texts
    assert en.questions["how"].options == ("Walk", "Cycle", "Bus")
    # The answers' values stay the main language's.
    assert command.questions[1].options == ("Går", "Cyklar", "Buss")

    # The edit form shows them again, and saving it keeps them.
    edit_path = f"/t/gnosjo/staff/rounds/{command.round_id}/edit"
    page = await client.get(edit_path)
    assert page.status_code == 200
    check_page(page.text)
    shown = html.unescape(page.text)
    assert 'name="language_nb" value="yes" checked' in shown
    assert 'value="Bruker du parken?"' in shown
    assert "Går\nSykler\nBuss</textarea>" in shown
    assert 'value="ganger"' in shown
    saved = await client.post(
        edit_path,
        data={**FORM, **LANGUAGES, "tr_nb_title": "Parken 2027", "csrf_token": _csrf(page.text)},
    )
    assert saved.status_code == 303, text_of(saved.text)
    [edit] = gateway.sent(EditRound)
    assert edit.languages == ("sv", "nb", "en")
    assert edit.translations["nb"].title == "Parken 2027"
    assert edit.translations["nb"].questions["how"] == nb.questions["how"]

    # The round's page says which languages are complete and which texts are missing.
    round_page = await client.get(f"/t/gnosjo/staff/rounds/{command.round_id}")
    text = text_of(round_page.text)
    assert "Skriven på Svenska." in text
    # (The fake keeps no promise or introduction: only the questions' texts are missing.)
    assert (
        "Norsk bokmål: 4 texter visas fortfarande på huvudspråket: Fråga 3: Skala: vad det "
        "lägsta värdet betyder; Fråga 4: Fråga; Fråga 5: Fråga; Fråga 5: Svarsalternativ"
    ) in text
    assert "English: 10 texter visas fortfarande på huvudspråket" in text


async def test_options_of_another_count_are_refused_next_to_the_field(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    response = await client.post(
        NEW, data={**FORM, **LANGUAGES, "tr_nb_how_options": "Går\nSykler", "csrf_token": csrf}
    )
    assert response.status_code == 400
    assert "Ge lika många alternativ som frågan har" in text_of(response.text)
    assert gateway.sent(CreateRound) == []


async def test_an_unchecked_language_keeps_no_translation(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    csrf = await login(client, "gnosjo", "anna")
    data = {k: v for k, v in LANGUAGES.items() if k != "language_en"}
    response = await client.post(
        NEW, data={**FORM, **data, "main_language": "en", "csrf_token": csrf}
    )
    assert response.status_code == 303, text_of(response.text)
    [command] = gateway.sent(CreateRound)
    assert command.languages == ("en", "nb")
    assert set(command.translations) == {"nb"}


async def test_the_api_takes_languages_and_refuses_bad_translations(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    headers = {"X-CSRF-Token": await api_login(client, "gnosjo", "anna")}
    body = {
        "title": "Parken",
        "purpose": "Planen.",
        "questions": [
            {"key": "park", "kind": "single_choice", "text": "Vilken?", "options": ["A", "B"]}
        ],
        "languages": ["sv", "en"],
        "translations": {"en": {"title": "The park", "questions": {"park": {"text": "Which?"}}}},
    }
    created = await client.post("/api/t/gnosjo/rounds", headers=headers, json=body)
    assert created.status_code == 202, created.text
    [command] = gateway.sent(CreateRound)
    assert command.languages == ("sv", "en")
    assert command.translations["en"].questions["park"].text == "Which?"
    wrong = {**body, "translations": {"nb": {"title": "Parken"}}}
    refused = await client.post("/api/t/gnosjo/rounds", headers=headers, json=wrong)
    assert refused.status_code == 422
    assert len(gateway.sent(CreateRound)) == 1
