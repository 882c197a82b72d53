"""Text is trimmed before it is checked: in the round contracts, the portal's rules and the API."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from contracts.rounds import CreateRound, Question
from services.portal import domain, round_builder
from services.portal.api import FeedbackRequest, RoundRequest, SignUpRequest

BLANKS = ["", " ", "   ", "\t\n ", "\u00a0"]
QUESTION = Question(key="q1", kind="free_text", text="Anything else?")


def create_round(**changes: Any) -> CreateRound:
    fields: dict[str, Any] = {
        "tenant": "gnosjo",
        "round_id": "r1",
        "title": "Library opening hours",
        "purpose": "The culture committee decides in May.",
        "questions": (QUESTION,),
    }
    fields.update(changes)
    return CreateRound(**fields)


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("field", ["title", "purpose"])
def test_a_create_round_never_carries_a_blank_title_or_purpose(field: str, blank: str) -> None:
    with pytest.raises(pydantic.ValidationError) as refused:
        create_round(**{field: blank})
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


def test_create_round_trims_its_texts() -> None:
    command = create_round(title="  Library opening hours \n", purpose="\tIn May. ")
    assert (command.title, command.purpose) == ("Library opening hours", "In May.")


@pytest.mark.parametrize("blank", BLANKS)
def test_a_question_text_of_only_spaces_is_refused(blank: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        Question(key="q1", kind="free_text", text=blank)


@pytest.mark.parametrize("blank", BLANKS)
def test_an_option_of_only_spaces_is_refused(blank: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        Question(key="q1", kind="single_choice", text="Q", options=("Yes", blank))


def test_a_question_is_trimmed() -> None:
    question = Question(key="q1", kind="single_choice", text=" Sundays? ", options=(" Y", "N "))
    assert question.text == "Sundays?"
    assert question.options == ("Y", "N")


def test_length_limits_count_the_trimmed_text() -> None:
    assert create_round(title=" " * 50 + "x" * 200 + " " * 50).title == "x" * 200
    with pytest.raises(pydantic.ValidationError):
        create_round(title="x" * 201)


@pytest.mark.parametrize("blank", BLANKS)
def test_api_request_bodies_refuse_texts_of_only_spaces(blank: str) -> None:
    questions = [QUESTION.model_dump()]
    with pytest.raises(pydantic.ValidationError):
        RoundRequest(title=blank, purpose="P", questions=questions)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        RoundRequest(title="T", purpose=blank, questions=questions)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        FeedbackRequest(text=blank)
    with pytest.raises(pydantic.ValidationError):
        SignUpRequest(
            email="a@example.se", birth_year=1984, gender="female", district=blank, consent=True
        )


def test_api_request_bodies_are_trimmed() -> None:
    body = RoundRequest(title=" T ", purpose=" P ", questions=[QUESTION])
    assert (body.title, body.purpose) == ("T", "P")
    assert FeedbackRequest(text="  Thanks \n").text == "Thanks"


def _blocks(choice: str, options: str, free: str = "") -> list[dict[str, str]]:
    return [
        {**round_builder.empty_block("q1"), "text": choice, "options": options},
        {**round_builder.empty_block("q2", "free_text"), "text": free},
    ]


@pytest.mark.parametrize("field", ["title", "purpose", "choice"])
def test_the_round_form_refuses_texts_of_only_spaces(field: str) -> None:
    form = {"title": "T", "purpose": "P", "choice": "Q"}
    form[field] = "   "
    draft, errors = domain.check_round_form(
        title=form["title"], purpose=form["purpose"], blocks=_blocks(form["choice"], "Yes\nNo")
    )
    assert draft is None
    assert set(errors) == {"q1" if field == "choice" else field}


def test_the_round_form_is_trimmed() -> None:
    draft, errors = domain.check_round_form(
        title=" T ", purpose=" P ", blocks=_blocks(" Q ", " Yes \n No ", " F ")
    )
    assert errors == {}
    assert draft is not None
    assert (draft.title, draft.purpose) == ("T", "P")
    assert [(q.text, q.options) for q in draft.questions] == [("Q", ("Yes", "No")), ("F", ())]


def test_a_chosen_option_is_trimmed_before_it_is_checked() -> None:
    question = Question(key="q1", kind="single_choice", text="Q", options=("Yes", "No"))
    assert domain.check_answers([question], {"q1": "  No "}) == ({"q1": "No"}, {})
    assert domain.check_answers([question], {"q1": "   "})[1] == {
        "_form": "Answer at least one question before you send."
    }


def test_feedback_of_only_spaces_is_refused() -> None:
    assert domain.check_feedback(" \n ")[1] == {"text": "Write the feedback before you publish it."}
    assert domain.check_feedback("  Thanks ") == ("Thanks", {})
