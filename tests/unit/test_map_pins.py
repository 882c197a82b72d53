"""Map questions' pins in the results: counted on a grid, so the reply stays small."""

from __future__ import annotations

import random

from contracts.map import MOST_CELLS, grid_cell
from contracts.rounds import Question, RoundResults
from services.rounds import results, tallies
from tests.unit.test_results_privacy import question_results, respondent

PLACE = Question(key="place", kind="map", text="Where?", options=("Danger", "Nice"), max_pins=3)


def test_a_point_falls_in_the_cell_whose_centre_is_nearest() -> None:
    assert grid_cell(57.3612, 13.7401) == ("57.365", "13.745")
    assert grid_cell(-0.004, -0.016) == ("-0.005", "-0.015")


def test_pins_are_counted_per_grid_cell_and_category_with_their_districts_kept() -> None:
    people = [
        respondent(
            {"place": [{"lat": 57.361, "lon": 13.741, "category": "Danger", "district": "Ö"}]},
            "30-44",
            "female",
        ),
        respondent({"place": [{"lat": 57.362, "lon": 13.742, "category": "Danger"}]}, "", ""),
        respondent({"place": [{"lat": 57.362, "lon": 13.742}, {"district": "Ö"}]}, "", ""),
    ]
    [result] = question_results([PLACE], people)
    cells = {(c.lat, c.lon, c.category): c.count for c in result.pins}
    assert cells == {(57.365, 13.745, "Danger"): 2, (57.365, 13.745, ""): 1}
    # The pin with only a district is on no map but is still counted by district.
    assert {d.option: d.count for d in result.districts} == {"Ö": 2, "": 2}


def test_a_changed_answer_takes_its_old_pins_off_the_grid() -> None:
    old = [{"lat": 57.361, "lon": 13.741}]
    new = [{"lat": 58.001, "lon": 14.001}]
    changed = {**respondent({"place": new}, "", ""), "previous": {"place": old}}
    [result] = question_results([PLACE], [changed])
    assert [(c.lat, c.lon, c.count) for c in result.pins] == [(58.005, 14.005, 1)]


def test_the_results_carry_at_most_the_fullest_cells_however_many_pins_there_are() -> None:
    rng = random.Random(8)
    people = [
        respondent(
            {"place": [{"lat": rng.uniform(55, 60), "lon": rng.uniform(11, 19)}]},
            "30-44",
            "male",
        )
        for _ in range(MOST_CELLS + 500)
    ]
    people += [respondent({"place": [{"lat": 57.0001, "lon": 14.0001}]}, "", "")] * 3
    kept = tallies.sum_cells([PLACE], people)
    [result] = results.question_results([PLACE], kept)
    assert len(result.pins) == MOST_CELLS
    assert (result.pins[0].lat, result.pins[0].lon, result.pins[0].count) == (57.005, 14.005, 3)


def test_the_figures_export_lists_the_grid_cells() -> None:
    from services.portal import results_files
    from tests.portal.fakes import round_view

    people = [
        respondent({"place": [{"lat": 57.361, "lon": 13.741, "category": "Danger"}]}, "", "")
    ] * 3
    [result] = question_results([PLACE], people)
    figures = RoundResults(
        round=round_view("r", state="closed", questions=(PLACE,)),
        response_rate=50.0,
        suppression_threshold=5,
        questions=(result,),
    )
    rows = [r for r in results_files.figure_rows(figures, str) if r["breakdown"] == "pin_cell"]
    assert [(r["group"], r["option"], r["count"]) for r in rows] == [("57.365 13.745", "Danger", 3)]
