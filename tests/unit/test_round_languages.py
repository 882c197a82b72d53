"""A round's languages: the contract's rules, the fallback to the main language, and that a
translation changes only what is shown (answers keep the main language's option texts)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from contracts.languages import RoundTranslation, in_language, translation_problems
from contracts.questions import Question, QuestionTranslation, check_answers
from contracts.rounds import CreateRound, EditRound, InvitationView, Promise

QUESTIONS = (
    Question(key="park", kind="single_choice", text="Vilken park?", options=("Norra", "Södra")),
    Question(
        key="trivsel",
        kind="scale",
        text="Hur trivs du?",
        low_label="Inte alls",
        high_label="Mycket",
    ),
    Question(key="om", kind="free_text", text="Något mer?", hint="Skriv fritt."),
)
NB = RoundTranslation(
    title="Parkene våre",
    purpose="Hva svarene brukes til.",
    questions={
        "park": QuestionTranslation(text="Hvilken park?", options=("Nordre", "Søndre")),
        "trivsel": QuestionTranslation(text="Hvordan trives du?", low_label="Ikke i det hele tatt"),
    },
)


def create(**changes: Any) -> CreateRound:
    fields: dict[str, Any] = {
        "tenant": "gnosjo",
        "round_id": "r1",
        "title": "Våra parker",
        "purpose": "Vad svaren används till.",
        "questions": QUESTIONS,
        "languages": ("sv", "nb"),
        "translations": {"nb": NB},
    }
    return CreateRound(**(fields | changes))


def test_a_round_is_swedish_only_by_default() -> None:
    plain = create(languages=("sv",), translations={})
    assert plain.languages == ("sv",)
    assert CreateRound(
        tenant="gnosjo", round_id="r", title="t", purpose="p", questions=QUESTIONS
    ).languages == ("sv",)


def test_languages_and_translations_are_kept() -> None:
    cmd = create()
    assert cmd.main_language == "sv"
    assert cmd.translations["nb"].questions["park"].options == ("Nordre", "Søndre")
    # The same rules hold for an edit (they share RoundAsks).
    edit = EditRound(
        tenant="gnosjo",
        round_id="r1",
        edited_by="anna",
        title="t",
        purpose="p",
        questions=QUESTIONS,
        languages=("en", "sv"),
        translations={"sv": RoundTranslation(title="T")},
    )
    assert edit.main_language == "en"


@pytest.mark.parametrize(
    "changes",
    [
        # a translation's options must be as many as the question's
        {
            "translations": {
                "nb": RoundTranslation(
                    questions={"park": QuestionTranslation(options=("Nordre", "Søndre", "Vest"))}
                )
            }
        },
        # a language in translations must be one of the round's (other than its main one)
        {"translations": {"en": RoundTranslation(title="Our parks")}},
        {"languages": ("sv",)},
        {"translations": {"sv": RoundTranslation(title="Våra parker")}},
        # unknown question keys, unknown languages, unknown fields
        {"translations": {"nb": RoundTranslation(questions={"nope": QuestionTranslation()})}},
        {"languages": ("sv", "da")},
        {"languages": ("sv", "sv")},
        {"languages": ()},
        {"translations": {"nb": {"title": "x", "surprise": "y"}}},
        {"translations": {"nb": {"questions": {"park": {"text": "x", "colour": "y"}}}}},
    ],
)
def test_bad_languages_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        create(**changes)


def test_problems_are_named_where_they_are() -> None:
    problems = translation_problems(
        ("sv", "nb"),
        {
            "nb": RoundTranslation(
                questions={
                    "park": QuestionTranslation(options=("a",)),
                    "x": QuestionTranslation(),
                }
            ),
            "en": RoundTranslation(),
        },
        QUESTIONS,
    )
    assert problems == {
        "nb.park": "options",
        "nb.x": "unknown",
        "en": "not_a_language_of_the_round",
    }


def view(**changes: Any) -> InvitationView:
    fields: dict[str, Any] = {
        "status": "open",
        "title": "Våra parker",
        "purpose": "Vad svaren används till.",
        "questions": QUESTIONS,
        "promise": Promise(decision="Parkplanen", not_promised="Budgeten"),
        "introduction": "Fakta.",
        "languages": ("sv", "nb", "en"),
        "translations": {"nb": NB},
    }
    return InvitationView(**(fields | changes))


def test_a_view_in_a_translated_language_shows_its_texts_and_falls_back() -> None:
    shown, labels = in_language(view(), "nb")
    assert shown.title == "Parkene våre"
    assert shown.introduction == "Fakta."  # not translated: the main language's
    assert shown.promise.decision == "Parkplanen"
    park, trivsel, om = shown.questions
    assert park.text == "Hvilken park?"
    assert park.options == ("Norra", "Södra")  # the values stay the main language's
    assert labels["park"] == {"Norra": "Nordre", "Södra": "Søndre"}
    assert (trivsel.low_label, trivsel.high_label) == ("Ikke i det hele tatt", "Mycket")
    assert om.text == "Något mer?"
    assert om.hint == "Skriv fritt."


def test_the_main_language_and_an_untranslated_one_show_the_round_as_written() -> None:
    original = view()
    for language in ("sv", "en"):
        shown, labels = in_language(original, language)
        assert shown == original
        assert labels["park"] == {"Norra": "Norra", "Södra": "Södra"}


def test_an_answer_given_on_a_translated_page_is_the_main_options_text() -> None:
    _, labels = in_language(view(), "nb")
    # The page shows "Søndre" but posts its value, which the rules accept as it is stored.
    value = next(v for v, label in labels["park"].items() if label == "Søndre")
    clean, problems = check_answers(view().questions, {"park": value})
    assert (clean, problems) == ({"park": "Södra"}, {})
    assert check_answers(view().questions, {"park": "Søndre"})[1] == {"park": "not_an_option"}


def test_missing_translations_are_listed_per_language() -> None:
    missing = view().missing_translations()
    assert missing["en"][:5] == ["title", "purpose", "introduction", "decision", "not_promised"]
    assert missing["nb"] == [
        "introduction",
        "decision",
        "not_promised",
        "trivsel.high_label",
        "om.text",
        "om.hint",
    ]
    assert view().language_for("da", "en") == "en"
    assert view(languages=("nb", "sv"), translations={}).language_for("da", None) == "nb"
