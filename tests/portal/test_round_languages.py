"""A round's languages on the residents' pages: the answer page, the one-click pick page,
quick polls and the preview show the round's texts (and the page's own words) in the chosen
language, while what they post stays the main language's option texts."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.languages import RoundTranslation
from contracts.questions import QuestionTranslation
from contracts.rounds import (
    InvitationView,
    PollView,
    Promise,
    Question,
    SubmitPollAnswer,
    SubmitResponse,
)
from tests.portal.conftest import check_page, text_of
from tests.portal.fakes import TOKEN, FakeGateway, round_view
from tests.portal.test_staff import ROUND, login

PARK = Question(
    key="park", kind="single_choice", text="Vilken park besöker du?", options=("Norra", "Södra")
)
HOW = Question(
    key="how",
    kind="multiple_choice",
    text="Hur tar du dig dit?",
    options=("Till fots", "Cykel", "Buss"),
)
HAPPY = Question(
    key="happy", kind="scale", text="Hur trivs du?", low_label="Inte alls", high_label="Mycket"
)
QUESTIONS = (PARK, HOW, HAPPY)
NB = RoundTranslation(
    title="Parkene våre",
    purpose="Parkplanen vedtas i mai.",
    decision="Parkplanen 2027",
    questions={
        "park": QuestionTranslation(text="Hvilken park besøker du?", options=("Nordre", "Søndre")),
        "how": QuestionTranslation(text="Hvordan kommer du deg dit?", options=("Til fots", "", "")),
        "happy": QuestionTranslation(text="Hvor godt trives du?", high_label="Veldig godt"),
    },
)
EN = RoundTranslation(
    title="Our parks",
    purpose="The park plan is decided in May.",
    questions={
        "park": QuestionTranslation(text="Which park do you visit?", options=("North", "South")),
        "how": QuestionTranslation(
            text="How do you get there?", options=("On foot", "Bike", "Bus")
        ),
    },
)


def _open(gateway: FakeGateway, *, languages: tuple[str, ...] = ("sv", "nb", "en")) -> None:
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView.model_validate(
        {
            "status": "open",
            "title": "Våra parker",
            "purpose": "Parkplanen beslutas i maj.",
            "questions": QUESTIONS,
            "promise": Promise(decision="Parkplanen 2027"),
            "languages": languages,
            "translations": {k: v for k, v in {"nb": NB, "en": EN}.items() if k in languages},
        }
    )


async def test_the_answer_page_in_bokmal_shows_the_norwegian_texts(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    page = await client.get(f"/t/gnosjo/a/{TOKEN}?lang=nb")
    assert page.status_code == 200
    found = check_page(page.text, "nb")
    assert found.h1_text.strip() == "Parkene våre"
    text = text_of(page.text)
    for shown in ("Parkplanen vedtas i mai.", "Hvilken park besøker du?", "Nordre", "Søndre"):
        assert shown in text
    assert "Dette skal svarene dine brukes til" in text  # the page's own words too
    assert "Send svarene mine" in text
    # Not translated: shown in the main language.
    assert "Cykel" in text
    assert "Inte alls" in text
    assert "Veldig godt" in text
    # The values posted stay the main language's.
    assert 'name="park" value="Norra"' in page.text
    assert 'name="park" value="Nordre"' not in page.text
    # The switch offers the round's languages, and the choice is remembered for the visit.
    for code in ("sv", "nb", "en"):
        assert f'href="/t/gnosjo/a/{TOKEN}?lang={code}"' in page.text
    assert "lang=nb" in page.headers["set-cookie"]
    again = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert "Hvilken park besøker du?" in text_of(again.text)


async def test_an_answer_sent_from_the_bokmal_page_carries_the_main_options(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    await client.get(f"/t/gnosjo/a/{TOKEN}?lang=nb")
    sent = await client.post(
        f"/t/gnosjo/a/{TOKEN}", data={"park": "Södra", "how": ["Till fots", "Buss"], "happy": "4"}
    )
    assert sent.status_code == 200
    check_page(sent.text, "nb")
    assert "Takk for svarene dine" in text_of(sent.text)
    [command] = gateway.sent(SubmitResponse)
    assert command.answers == {"park": "Södra", "how": ("Till fots", "Buss"), "happy": 4}


async def test_an_answer_given_on_the_english_page_counts_under_the_main_option(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    page = await client.get(f"/t/gnosjo/a/{TOKEN}?lang=en")
    check_page(page.text, "en")
    text = text_of(page.text)
    assert "Which park do you visit?" in text
    assert "South" in text
    # The English label "South" is the radio whose value is the Swedish option.
    south = re.search(r'value="([^"]+)">\s*<label for="park-2">South</label>', page.text)
    assert south is not None
    await client.post(f"/t/gnosjo/a/{TOKEN}", data={"park": south.group(1)})
    [command] = gateway.sent(SubmitResponse)
    assert command.answers == {"park": "Södra"}
    # An English option text is not a value: the page says so, in English.
    wrong = await client.post(f"/t/gnosjo/a/{TOKEN}", data={"park": "South"})
    assert wrong.status_code == 400
    assert "Choose one of the options." in text_of(wrong.text)
    assert len(gateway.sent(SubmitResponse)) == 1


async def test_the_default_is_the_visitors_language_when_the_round_has_it(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway, languages=("sv", "nb"))
    # Swedish by default; an English visitor reads a round without English in its main one.
    plain = await client.get(f"/t/gnosjo/a/{TOKEN}")
    check_page(plain.text, "sv")
    assert "Vilken park besöker du?" in text_of(plain.text)
    await client.get("/t/gnosjo/?lang=en")
    english = await client.get(f"/t/gnosjo/a/{TOKEN}")
    check_page(english.text, "sv")
    assert "Skicka mina svar" in text_of(english.text)
    assert f'href="/t/gnosjo/a/{TOKEN}?lang=en"' not in english.text  # not a language of it
    # A round whose main language is bokmål is shown in it to a Swedish visitor.
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open",
        title="Bussene",
        purpose="Ruteplanen.",
        questions=(PARK,),
        languages=("nb",),
    )
    await client.get("/t/gnosjo/?lang=sv")
    bokmal = await client.get(f"/t/gnosjo/a/{TOKEN}")
    check_page(bokmal.text, "nb")
    assert "Send svarene mine" in text_of(bokmal.text)


async def test_the_one_click_page_shows_the_choice_in_the_chosen_language(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    gateway.invitations[("gnosjo", TOKEN)] = gateway.invitations[("gnosjo", TOKEN)].model_copy(
        update={"questions": (PARK,)}
    )
    page = await client.get(f"/t/gnosjo/a/{TOKEN}", params={"pick": "2", "lang": "nb"})
    assert page.status_code == 200
    check_page(page.text, "nb")
    text = text_of(page.text)
    assert "Hvilken park besøker du?" in text
    assert "Svaret ditt: Søndre" in text
    assert '<input type="hidden" name="park" value="Södra">' in page.text
    # The switch keeps the pick.
    assert f'href="/t/gnosjo/a/{TOKEN}?pick=2&amp;lang=en"' in page.text
    assert gateway.sent(SubmitResponse) == []


async def test_a_quick_poll_in_bokmal(client: httpx.AsyncClient, gateway: FakeGateway) -> None:
    poll = "7d9e2a41-3b6c-4f10-8e2d-5a6b7c8d9e0f"
    gateway.polls["gnosjo"] = [
        PollView(
            round_id=poll,
            title="Våra parker",
            purpose="Planen.",
            state="open",
            questions=(PARK,),
            answers=3,
            panel="general",
            languages=("sv", "nb"),
            translations={"nb": NB},
        )
    ]
    page = await client.get(f"/t/gnosjo/polls/{poll}?lang=nb")
    check_page(page.text, "nb")
    assert "Hvilken park besøker du?" in text_of(page.text)
    assert 'value="Norra"' in page.text
    answered = await client.post(f"/t/gnosjo/polls/{poll}", data={"park": "Norra"})
    assert "Takk for svarene dine" in text_of(answered.text)
    [command] = gateway.sent(SubmitPollAnswer)
    assert command.answers == {"park": "Norra"}


@pytest.mark.usefixtures("accounts")
async def test_the_preview_shows_the_round_in_each_of_its_languages(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    gateway.rounds[("gnosjo", ROUND)] = round_view(
        ROUND,
        title="Våra parker",
        questions=QUESTIONS,
        languages=("sv", "nb", "en"),
        translations={"nb": NB, "en": EN},
    )
    await login(client, "gnosjo", "anna")
    swedish = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/preview")
    check_page(swedish.text, "sv")
    assert "Vilken park besöker du?" in text_of(swedish.text)
    english = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/preview?lang=en")
    check_page(english.text, "en")
    text = text_of(english.text)
    assert "Preview: this is how residents will see the round." in text
    assert "Which park do you visit?" in text
    assert "Our parks" in text
    phone = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/preview?size=phone&lang=nb")
    check_page(phone.text, "nb")
    assert "Hvilken park besøker du?" in text_of(phone.text)
    assert f'href="/t/gnosjo/staff/rounds/{ROUND}/preview?size=phone&amp;lang=sv"' in phone.text
