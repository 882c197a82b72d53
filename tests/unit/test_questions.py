"""Question kinds, their answers and skip logic: one set of rules for portal and rounds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.questions import (
    Question,
    advice,
    check_answers,
    estimated_minutes,
    question_problems,
    shown,
)
from contracts.rounds import CreateRound, Plan, SubmitResponse
from services.rounds import domain, results, tallies

PARK = Question(key="park", kind="yes_no", text="Do you use the park?")
HOW = Question(
    key="how",
    kind="multiple_choice",
    text="How do you get there?",
    options=("Walk", "Bike", "Bus", "Car"),
    min_picks=1,
    max_picks=2,
    show_if={"question": "park", "answers": ["yes"]},
)
HAPPY = Question(
    key="happy", kind="scale", text="How happy?", scale_max=5, low_label="Not", high_label="Very"
)
VISITS = Question(
    key="visits", kind="number", text="Visits a month?", minimum=0, maximum=60, unit="times"
)
WHY = Question(key="why", kind="free_text", text="Why?", max_length=100)
RANK = Question(key="rank", kind="ranking", text="Rank", options=("Toilets", "Lights", "Benches"))
PLACE = Question(key="place", kind="map", text="Where?", options=("Danger", "Nice"), max_pins=2)
BIKE_ONLY = Question(
    key="bike",
    kind="free_text",
    text="Bike parking?",
    show_if={"question": "how", "answers": ["Bike"]},
)
ALL = (PARK, HOW, HAPPY, VISITS, WHY, RANK, PLACE, BIKE_ONLY)


def test_every_kind_takes_its_own_form_of_answer() -> None:
    clean, problems = check_answers(
        ALL,
        {
            "park": "yes",
            "how": ["Bus", "Walk"],
            "happy": "4",
            "visits": "3",
            "why": "  Quiet ",
            "rank": ["Lights", "Toilets", "Benches"],
            "place": [{"lat": 57.1, "lon": 14.0, "category": "Nice", "comment": "Pond"}],
        },
    )
    assert problems == {}
    assert clean == {
        "park": "yes",
        "how": ["Walk", "Bus"],  # the question's order
        "happy": 4,
        "visits": 3,
        "why": "Quiet",
        "rank": ["Lights", "Toilets", "Benches"],
        "place": [{"lat": 57.1, "lon": 14.0, "category": "Nice", "comment": "Pond"}],
    }


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("park", "maybe", "not_an_option"),
        ("park", ["yes"], "wrong_type"),
        ("how", ["Walk", "Bike", "Bus"], "too_many"),
        ("how", ["Walk", "Walk"], "not_an_option"),
        ("how", ["Plane"], "not_an_option"),
        ("how", "Walk", "wrong_type"),
        ("happy", 6, "out_of_range"),
        ("happy", 0, "out_of_range"),
        ("happy", "3.5", "not_whole"),
        ("happy", "lots", "wrong_type"),
        ("visits", -1, "out_of_range"),
        ("visits", 61, "out_of_range"),
        ("visits", "2,5", "not_whole"),
        ("visits", True, "wrong_type"),
        ("visits", "nan", "wrong_type"),
        ("why", "x" * 101, "too_long"),
        ("why", 5, "wrong_type"),
        ("rank", ["Lights", "Toilets"], "not_a_ranking"),
        ("rank", ["Lights", "Lights", "Toilets"], "not_an_option"),
        ("place", [{"lat": 1}], "bad_pin"),
        ("place", [{"comment": "no place"}], "bad_pin"),
        ("place", [{"district": "Kisa", "category": "Ugly"}], "not_an_option"),
        ("place", [{"district": "A"}, {"district": "B"}, {"district": "C"}], "too_many"),
        ("place", [{"lat": 200, "lon": 0}], "bad_pin"),
    ],
)
def test_bad_answers_are_named(key: str, value: Any, problem: str) -> None:
    answers = {"park": "yes", key: value} if key == "how" else {key: value}
    clean, problems = check_answers(ALL, answers)
    assert problems == {key: problem}
    assert key not in clean
    with pytest.raises(domain.InvalidAnswers, match=problem):
        domain.check_answers(ALL, answers)


def test_decimal_numbers_with_a_comma_when_the_question_takes_them() -> None:
    weight = Question(key="kg", kind="number", text="Kg?", whole_numbers=False, minimum=0)
    assert check_answers([weight], {"kg": "2,5"}) == ({"kg": 2.5}, {})


def test_skip_logic_hides_questions_and_refuses_their_answers() -> None:
    assert shown(ALL, {"park": "no"}) == {"park", "happy", "visits", "why", "rank", "place"}
    assert "how" in shown(ALL, {"park": "yes"})
    assert "bike" in shown(ALL, {"park": "yes", "how": ["Bike"]})
    # Hidden by an earlier answer: the answer to it is refused.
    _, problems = check_answers(ALL, {"park": "no", "how": ["Walk"]})
    assert problems == {"how": "hidden"}
    # Hidden because the question it depends on is hidden itself.
    _, problems = check_answers(ALL, {"park": "no", "bike": "More racks"})
    assert problems == {"bike": "hidden"}
    # Unanswered condition hides too.
    _, problems = check_answers(ALL, {"how": ["Walk"]})
    assert problems == {"how": "hidden"}
    clean, problems = check_answers(ALL, {"park": "yes", "how": ["Bike"], "bike": "More"})
    assert problems == {}
    assert clean["bike"] == "More"


def test_unknown_questions_and_empty_answers() -> None:
    assert check_answers(ALL, {"nope": "x"})[1] == {"nope": "unknown"}
    assert check_answers(ALL, {"park": "", "how": [], "why": "   "}) == ({}, {})


@pytest.mark.parametrize(
    ("questions", "problem"),
    [
        ((PARK, PARK), {"questions": "duplicate_keys"}),
        ((Question(key="a", kind="single_choice", text="?", options=("One",)),), {"a": "options"}),
        ((Question(key="a", kind="yes_no", text="?", options=("x", "y")),), {"a": "options"}),
        (
            (Question(key="a", kind="multiple_choice", text="?", options=("x", "y"), min_picks=3),),
            {"a": "picks"},
        ),
        (
            (Question(key="a", kind="single_choice", text="?", options=("x", "y"), max_picks=1),),
            {"a": "picks"},
        ),
        ((Question(key="a", kind="number", text="?", minimum=5, maximum=1),), {"a": "range"}),
        ((Question(key="a", kind="scale", text="?", minimum=1),), {"a": "range"}),
        ((HOW,), {"how": "condition"}),  # its condition's question is not before it
        (
            (
                WHY,
                Question(
                    key="b", kind="yes_no", text="?", show_if={"question": "why", "answers": ["x"]}
                ),
            ),
            {"b": "condition"},
        ),
        (
            (
                PARK,
                Question(
                    key="b",
                    kind="yes_no",
                    text="?",
                    show_if={"question": "park", "answers": ["ja"]},
                ),
            ),
            {"b": "condition"},
        ),
        (
            (Question(key="r", kind="ranking", text="?", options=tuple("abcdefghijk")),),
            {"r": "options"},
        ),
    ],
)
def test_questionnaires_that_break_the_rules(
    questions: tuple[Question, ...], problem: dict[str, str]
) -> None:
    assert question_problems(questions) == problem
    with pytest.raises(ValidationError, match="invalid questions"):
        CreateRound(tenant="gnosjo", round_id="r1", title="T", purpose="P", questions=questions)


def test_a_good_questionnaire_travels_whole() -> None:
    assert question_problems(ALL) == {}
    cmd = CreateRound(tenant="gnosjo", round_id="r1", title="T", purpose="P", questions=ALL)
    again = CreateRound.model_validate_json(cmd.model_dump_json())
    assert again.questions == ALL
    answers = SubmitResponse(
        tenant="gnosjo",
        token="t" * 30,
        answers={"how": ["Walk"], "happy": 3, "place": [{"district": "Kisa"}]},
    )
    assert SubmitResponse.model_validate_json(answers.model_dump_json()) == answers


def _people(
    n: int, answers: dict[str, Any], band: str = "30-44", gender: str = "female"
) -> list[Any]:
    return [
        {
            "answers": answers,
            "age_band": band,
            "gender": gender,
            "district": "Kisa",
            "received_on": "2026-11-20",
        }
    ] * n


def test_results_of_every_kind_from_the_kept_counters() -> None:
    people = _people(
        30,
        {
            "park": "yes",
            "how": ["Walk", "Bus"],
            "happy": 4,
            "visits": 10,
            "why": "Quiet",
            "rank": ["Lights", "Toilets", "Benches"],
            "place": [{"district": "Kisa", "category": "Nice"}, {"lat": 1.0, "lon": 2.0}],
        },
    ) + _people(
        10,
        {
            "park": "no",
            "happy": 2,
            "visits": 20,
            "rank": ["Toilets", "Lights", "Benches"],
        },
        gender="male",
    )
    by_key = {r.key: r for r in results.question_results(ALL, tallies.sum_cells(ALL, people))}
    park = by_key["park"]
    assert [(o.option, o.count, o.percent) for o in park.options] == [
        ("yes", 30, 75.0),
        ("no", 10, 25.0),
    ]
    # 95 % Wilson interval of 30/40.
    assert (park.options[0].ci_low, park.options[0].ci_high) == (59.8, 85.8)
    how = by_key["how"]
    assert how.answered == 30
    assert {o.option: o.percent for o in how.options} == {
        "Walk": 100.0,
        "Bike": 0.0,
        "Bus": 100.0,
        "Car": 0.0,
    }
    happy = by_key["happy"]
    assert [o.option for o in happy.options] == ["1", "2", "3", "4", "5"]
    assert happy.mean == 3.5
    assert happy.mean_ci_low is not None
    assert happy.mean_ci_low < 3.5 < (happy.mean_ci_high or 0)
    assert {c.group: c.mean for c in happy.by_gender if c.respondents} == {
        "female": 4.0,
        "male": 2.0,
    }
    visits = by_key["visits"]
    assert visits.mean == 12.5
    assert visits.sd == pytest.approx(4.39, abs=0.01)
    assert [o.option for o in visits.options][:2] == ["0–6", "6–12"]
    assert {o.option: o.count for o in visits.options}["18–24"] == 10
    rank = by_key["rank"]
    assert [(r.option, r.average_rank, r.first) for r in rank.ranks] == [
        ("Lights", 1.25, 30),
        ("Toilets", 1.75, 10),
        ("Benches", 3.0, 0),
    ]
    place = by_key["place"]
    assert {d.option: d.count for d in place.districts} == {"Kisa": 30, "": 30}
    assert {o.option: o.count for o in place.options} == {"Danger": 0, "Nice": 30}
    why = by_key["why"]
    assert (why.texts, why.free_texts, why.by_age_band) == (30, (), ())
    assert [c.group for c in park.by_district] == ["Kisa"]


def test_weighted_shares_use_the_weights_of_the_cells() -> None:
    people = _people(30, {"park": "yes"}) + _people(10, {"park": "no"}, gender="male")
    kept = tallies.sum_cells(ALL, people)
    # Men count three times as much: 30 vs 30 weighted.
    weights = {("30-44", "female", "Kisa"): 1.0, ("30-44", "male", "Kisa"): 3.0}
    [park] = results.question_results(ALL[:1], kept, weights=weights)
    assert [o.weighted_percent for o in park.options] == [50.0, 50.0]
    assert park.options[0].percent == 75.0
    low, high = park.options[0].weighted_ci_low, park.options[0].weighted_ci_high
    assert low is not None
    assert high is not None
    assert low < 50 < high


def test_the_builder_warns_past_the_seeds_advice() -> None:
    assert advice(ALL) == []  # 8 questions, about 5 minutes
    assert 3 < estimated_minutes(ALL) < 10
    assert advice(ALL[:2]) == ["few"]
    many = tuple(Question(key=f"t{n}", kind="free_text", text="Berätta mer?") for n in range(12))
    assert advice(many) == ["many", "long"]


def test_the_planning_checklist_names_what_is_missing() -> None:
    assert Plan().missing() == [
        "goal",
        "deadline",
        "follow_up_owner",
        "owner:questions",
        "owner:approval",
        "owner:dispatch",
        "owner:analysis",
        "owner:feedback",
    ]
    done = Plan(
        goal="Underlag till parkplanen",
        deadline="2027-02-01",
        owners=dict.fromkeys(("questions", "approval", "dispatch", "analysis", "feedback"), "Anna"),
        follow_up_owner="Anna",
    )
    assert done.missing() == []
