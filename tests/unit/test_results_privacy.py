"""Results that do not give individuals away: no one outside the bands, no arrival order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.rounds import Question, QuestionResult
from services.rounds import results, tallies

CHOICE = Question(key="q1", kind="single_choice", text="Buss?", options=("Ja", "Nej"))
FREE = Question(key="q2", kind="free_text", text="Annat?")


def respondent(answers: dict[str, Any], band: str, gender: str, district: str = "") -> Any:
    """A stored response as the tallies read it."""
    return {"answers": answers, "age_band": band, "gender": gender, "district": district}


def question_results(
    questions: Sequence[Question], responses: Sequence[Any]
) -> tuple[QuestionResult, ...]:
    """Results as the service computes them: from the counters the responses add."""
    return results.question_results(questions, tallies.sum_cells(questions, responses))


def _shown(cells: tuple[object, ...]) -> int:
    return sum(c.respondents or 0 for c in cells)  # type: ignore[attr-defined]


def test_a_respondent_outside_every_band_cannot_be_found_by_subtraction() -> None:
    adults = [respondent({"q1": "Ja"}, "30-44", "female") for _ in range(10)]
    child = respondent({"q1": "Nej"}, "under 16", "female")
    [result] = question_results([CHOICE], [*adults, child])
    assert result.answered == 11
    groups = [c.group for c in result.by_age_band]
    assert groups[0] == results.OUTSIDE_BANDS
    # The under-16 is in a group of their own, hidden; and since one hidden cell could be
    # worked out from the total, the next smallest is hidden too.
    assert result.by_age_band[0].respondents is None
    assert _shown(result.by_age_band) == 0


def test_enough_respondents_outside_the_bands_are_shown_as_their_own_group() -> None:
    young = [respondent({"q1": "Ja"}, "under 16", "male") for _ in range(6)]
    adults = [respondent({"q1": "Nej"}, "45-64", "male") for _ in range(6)]
    [result] = question_results([CHOICE], [*young, *adults])
    cells = {c.group: c.respondents for c in result.by_age_band}
    assert cells[results.OUTSIDE_BANDS] == 6
    assert cells["45-64"] == 6
    assert _shown(result.by_age_band) == result.answered


def test_free_texts_are_not_in_the_results_only_counted() -> None:
    texts = [f"svar {n}" for n in range(60)]
    people = [respondent({"q2": t}, "30-44", "male") for t in texts]
    [result] = question_results([FREE], people)
    # The texts are paged apart (ListAnswerTexts): no reply grows with the responses.
    assert result.free_texts == ()
    assert result.texts == result.answered == 60
    assert result.by_gender == ()
