"""Rules of rounds and results."""

from __future__ import annotations

import pytest

from contracts.rounds import Question
from services.rounds import domain
from tests.unit.test_results_privacy import question_results, respondent

Q = (
    Question(key="bus", kind="single_choice", text="?", options=("Yes", "No")),
    Question(key="why", kind="free_text", text="Why?"),
)


@pytest.mark.parametrize(
    ("birth_year", "band"),
    [
        (2010, "16-29"),
        (1997, "16-29"),
        (1996, "30-44"),
        (1962, "45-64"),
        (1961, "65-79"),
        (1946, "80+"),
        (2015, "under 16"),
    ],
)
def test_age_band(birth_year: int, band: str) -> None:
    assert domain.age_band(birth_year, 2026) == band


def test_answers_are_checked_against_the_questions() -> None:
    assert domain.check_answers(Q, {"bus": "Yes", "why": "  Jobb  "}) == {
        "bus": "Yes",
        "why": "Jobb",
    }
    assert domain.check_answers(Q, {"bus": "", "why": ""}) == {}
    with pytest.raises(domain.InvalidAnswers, match="unknown"):
        domain.check_answers(Q, {"other": "x"})
    with pytest.raises(domain.InvalidAnswers, match="not_an_option"):
        domain.check_answers(Q, {"bus": "Maybe"})
    with pytest.raises(domain.InvalidAnswers, match="too_long"):
        domain.check_answers(Q, {"why": "x" * 2001})


def test_life_cycle_moves_one_step_forward() -> None:
    path = [
        ("draft", "submitted", "submitted"),
        ("submitted", "returned", "returned"),
        ("returned", "edited", "returned"),
        ("returned", "submitted", "submitted"),
        ("submitted", "approved", "approved"),
        ("approved", "scheduled", "scheduled"),
        ("scheduled", "extended", "scheduled"),
        ("scheduled", "opened", "open"),
        ("open", "extended", "open"),
        ("open", "closed", "closed"),
        ("closed", "results_published", "published"),
        ("published", "archived", "archived"),
    ]
    for state, step, after in path:
        assert domain.next_state(state, step) == after, (state, step)


@pytest.mark.parametrize("state", ["submitted", "approved", "scheduled"])
def test_an_edit_after_submitting_sends_the_round_back_to_draft(state: str) -> None:
    assert domain.next_state(state, "edited") == "draft"
    assert domain.next_state("draft", "edited") == "draft"


def test_a_step_taken_already_is_nothing_one_ahead_waits_one_behind_is_refused() -> None:
    assert domain.next_state("approved", "approved") is None  # a second click
    assert domain.next_state("open", "opened") is None
    with pytest.raises(domain.NotYet):
        domain.next_state("draft", "opened")  # the approval may still be on its way
    with pytest.raises(domain.NotYet):
        domain.next_state("returned", "approved")  # resubmitted, maybe
    with pytest.raises(domain.NotYet):
        domain.next_state("approved", "extended")  # the schedule may still be on its way
    with pytest.raises(ValueError, match="cannot be"):
        domain.next_state("closed", "opened")
    with pytest.raises(ValueError, match="cannot be"):
        domain.next_state("approved", "returned")  # decided already
    with pytest.raises(ValueError, match="cannot be"):
        domain.next_state("open", "edited")  # members are answering it
    with pytest.raises(ValueError, match="cannot be"):
        domain.next_state("closed", "extended")
    # Only approved rounds are scheduled.
    for state in ("draft", "returned", "submitted"):
        with pytest.raises(domain.NotYet):
            domain.next_state(state, "scheduled")


def _respondents(gender: str, n: int, choice: str) -> list[object]:
    return [respondent({"bus": choice, "why": "ok"}, "30-44", gender) for _ in range(n)]


def test_results_suppress_cells_below_the_threshold() -> None:
    people = _respondents("female", 5, "Yes") + _respondents("male", 4, "No")
    bus, why = question_results(Q, people)
    assert bus.answered == 9
    assert [(o.option, o.count, o.percent) for o in bus.options] == [
        ("Yes", 5, 55.6),
        ("No", 4, 44.4),
    ]
    cells = {c.group: c for c in bus.by_gender}
    # 4 men are hidden; the 5 women too, or the totals minus them would reveal the men.
    assert cells["female"].respondents is None
    assert cells["male"].respondents is None
    assert cells["male"].counts is None
    more = people + _respondents("other", 1, "Yes")  # hidden: 4 + 1 >= 5, women can show
    cells = {c.group: c for c in question_results(Q, more)[0].by_gender}
    assert cells["female"].respondents == 5
    assert cells["female"].counts is not None
    assert cells["other"].respondents is None
    assert {c.group: c.respondents for c in bus.by_age_band}["30-44"] == 9
    assert why.texts == 9
    assert why.options == ()


def test_a_hidden_cell_cannot_be_recovered_by_subtraction() -> None:
    # 20 women and 18 men shown, 2 "other" hidden: the totals would reveal the 2 answers,
    # so the smallest shown group is hidden as well.
    people = (
        _respondents("female", 20, "Yes")
        + _respondents("male", 18, "No")
        + _respondents("other", 2, "Yes")
    )
    bus, _ = question_results(Q, people)
    shown = {c.group: c.respondents for c in bus.by_gender}
    assert shown == {"female": 20, "male": None, "other": None, "undisclosed": None}
    # Hidden cells that already add up to the threshold need no more suppression.
    people = (
        _respondents("female", 20, "Yes")
        + _respondents("male", 3, "No")
        + _respondents("other", 3, "Yes")
    )
    bus, _ = question_results(Q, people)
    shown = {c.group: c.respondents for c in bus.by_gender}
    assert shown == {"female": 20, "male": None, "other": None, "undisclosed": None}


def test_response_rate() -> None:
    assert domain.response_rate(0, 0) == 0.0
    assert domain.response_rate(3, 1) == 33.3
