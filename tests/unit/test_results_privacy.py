"""Results that do not give individuals away: no one outside the bands, no arrival order."""

from __future__ import annotations

from contracts.rounds import Question
from services.rounds import domain

CHOICE = Question(key="q1", kind="single_choice", text="Buss?", options=("Ja", "Nej"))
FREE = Question(key="q2", kind="free_text", text="Annat?")


def _shown(cells: tuple[object, ...]) -> int:
    return sum(c.respondents or 0 for c in cells)  # type: ignore[attr-defined]


def test_a_respondent_outside_every_band_cannot_be_found_by_subtraction() -> None:
    adults = [domain.Respondent({"q1": "Ja"}, "30-44", "female") for _ in range(10)]
    child = domain.Respondent({"q1": "Nej"}, "under 16", "female")
    [result] = domain.question_results([CHOICE], [*adults, child])
    assert result.answered == 11
    groups = [c.group for c in result.by_age_band]
    assert groups[0] == domain.OUTSIDE_BANDS
    # The under-16 is in a group of their own, hidden; and since one hidden cell could be
    # worked out from the total, the next smallest is hidden too.
    assert result.by_age_band[0].respondents is None
    assert _shown(result.by_age_band) == 0


def test_enough_respondents_outside_the_bands_are_shown_as_their_own_group() -> None:
    young = [domain.Respondent({"q1": "Ja"}, "under 16", "male") for _ in range(6)]
    adults = [domain.Respondent({"q1": "Nej"}, "45-64", "male") for _ in range(6)]
    [result] = domain.question_results([CHOICE], [*young, *adults])
    cells = {c.group: c.respondents for c in result.by_age_band}
    assert cells[domain.OUTSIDE_BANDS] == 6
    assert cells["45-64"] == 6
    assert _shown(result.by_age_band) == result.answered


def test_free_texts_are_not_in_the_order_they_arrived() -> None:
    texts = [f"svar {n}" for n in range(60)]
    respondents = [domain.Respondent({"q2": t}, "30-44", "male") for t in texts]
    [result] = domain.question_results([FREE], respondents)
    assert sorted(result.free_texts) == sorted(texts)
    assert list(result.free_texts) != texts  # 1 in 60! to fail by chance
