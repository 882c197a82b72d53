"""The panel against the population: the index, the gaps, whom to recruit next."""

from __future__ import annotations

import pytest

from contracts.recruitment import PopulationRow
from services.recruitment.representativeness import check_population, compare

POPULATION = {
    ("Kisa", "16-29", "female"): 100,
    ("Kisa", "16-29", "male"): 100,
    ("Kisa", "65-79", "female"): 100,
    ("Kisa", "65-79", "male"): 100,
}


def test_a_panel_composed_like_the_population_scores_100() -> None:
    members = [cell for cell in POPULATION for _ in range(5)]
    found = compare(POPULATION, members)
    assert found.index == 100.0
    assert found.recruit_next == ()
    assert [s.panel_share for s in found.by_gender] == [50.0, 50.0]


def test_the_index_is_one_minus_the_dissimilarity_and_names_whom_to_recruit() -> None:
    # 30 older women, 10 older men, no one young: half the panel is in the wrong half.
    members = [("Kisa", "65-79", "female")] * 30 + [("Kisa", "65-79", "male")] * 10
    members += [("Kisa", "16-29", "other")] * 3 + [("Kisa", "12-15", "female")]
    found = compare(POPULATION, members)
    # |75-25| + |25-25| + |0-25| + |0-25| = 100 → D = 50 %.
    assert found.index == 50.0
    assert (found.compared, found.not_compared) == (40, 4)
    young = {s.group: s for s in found.by_age_band}["16-29"]
    assert (young.panel_share, young.population_share, young.gap) == (0.0, 50.0, -50.0)
    assert young.to_match == 40  # 40 young members would make them half of 80
    assert [s.group for s in found.recruit_next] == [
        "Kisa · 16-29 · female",
        "Kisa · 16-29 · male",
    ]
    assert found.recruit_next[0].to_match == 13  # (0.25·40 − 0) / 0.75
    assert [s.group for s in found.by_district] == ["Kisa"]
    # Every crossed cell, by name, with its own shares.
    assert [(s.group, s.members, s.gap) for s in found.by_cell] == [
        ("Kisa · 16-29 · female", 0, -25.0),
        ("Kisa · 16-29 · male", 0, -25.0),
        ("Kisa · 65-79 · female", 30, 50.0),
        ("Kisa · 65-79 · male", 10, 0.0),
    ]


def test_population_rows_are_checked_one_by_one() -> None:
    rows = [
        PopulationRow(district="Kisa", age_band="16-29", gender="female", population=10),
        PopulationRow(district="Horn", age_band="16-29", gender="female", population=10),
        PopulationRow(district="Kisa", age_band="15-19", gender="male", population=10),
        PopulationRow(district="Kisa", age_band="16-29", gender="female", population=12),
    ]
    checked = check_population(rows, ["Kisa", "Rimforsa"])
    assert checked.cells == {("Kisa", "16-29", "female"): 10}
    assert checked.rejected == [
        (2, "invalid_district"),
        (3, "invalid_age_band"),
        (4, "duplicate_cell"),
    ]
    # A council without a list of districts takes figures without districts only.
    assert check_population(rows[:1], []).rejected == [(1, "invalid_district")]


@pytest.mark.parametrize("members", [[], [("Kisa", "16-29", "other")]])
def test_no_comparable_member_scores_nothing(members: list[tuple[str, str, str]]) -> None:
    assert compare(POPULATION, members).index == 0.0
