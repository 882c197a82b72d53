"""Raking to the population's margins: on a synthetic council with known true shares, a
panel that over-represents older women and one district gives weighted estimates closer to
the truth than unweighted ones, and the weighted margins are the population's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.rounds.statistics import Moments, mean, proportion, weighted_proportion
from services.rounds.weighting import Cell, PopulationFigure, Weights, rake

BANDS = ("16-29", "30-44", "45-64", "65-79", "80+")
GENDERS = ("female", "male")
DISTRICTS = ("Centrum", "Norr", "Söder")
CELLS: list[Cell] = [(b, g, d) for b in BANDS for g in GENDERS for d in DISTRICTS]


def residents(cell: Cell) -> int:
    band, gender, district = cell
    size = (2200, 2000, 3000, 1800, 700)[BANDS.index(band)]
    women_live_longer = 1.3 if (gender, band) == ("female", "80+") else 1.0
    return round(size * (1.0, 0.6, 0.8)[DISTRICTS.index(district)] * women_live_longer)


POPULATION = {cell: residents(cell) for cell in CELLS}
ROWS: list[PopulationFigure] = [(d, b, g, n) for (b, g, d), n in POPULATION.items()]

# Each option's log-odds: (constant, by age band, if female, by district); the last option
# of a question is the reference. Answers depend on all three.
Effects = tuple[float, tuple[float, ...], float, tuple[float, ...]]
NONE: Effects = (0.0, (0.0,) * 5, 0.0, (0.0,) * 3)
QUESTIONS: dict[str, dict[str, Effects]] = {
    "playground": {
        "yes": (0.4, (1.2, 0.8, 0.0, -0.8, -1.4), 0.3, (0.0, -0.6, 0.4)),
        "no": NONE,
    },
    "travel": {
        "bus": (0.0, (-0.5, -0.3, 0.0, 0.8, 1.5), 0.2, (0.0, 0.5, 0.0)),
        "car": (0.2, (-0.6, 0.4, 0.6, 0.2, -0.8), -0.4, (-1.0, 0.8, 0.3)),
        "bike": NONE,
    },
    "library": {
        "yes": (0.0, (0.3, 0.0, -0.2, 0.2, 0.4), 0.9, (0.6, -0.9, 0.0)),
        "no": NONE,
    },
}


def chances(question: str, cell: Cell) -> dict[str, float]:
    """The true probability of each answer in a cell."""
    band, gender, district = cell
    logits = {
        option: c
        + by_band[BANDS.index(band)]
        + (f if gender == "female" else 0.0)
        + by_district[DISTRICTS.index(district)]
        for option, (c, by_band, f, by_district) in QUESTIONS[question].items()
    }
    top = max(logits.values())
    exp = {option: math.exp(v - top) for option, v in logits.items()}
    return {option: v / sum(exp.values()) for option, v in exp.items()}


def truth(question: str, option: str) -> float:
    """The option's share among all residents."""
    return sum(POPULATION[c] * chances(question, c)[option] for c in CELLS) / sum(
        POPULATION.values()
    )


def willingness(cell: Cell) -> float:
    """How likely a resident of the cell is to be in the panel and answer: older women three
    times, Norr two and a half times, the young a third as likely as others."""
    band, gender, district = cell
    p = 0.05
    if gender == "female" and band in ("65-79", "80+"):
        p *= 3
    if district == "Norr":
        p *= 2.5
    if band == "16-29":
        p *= 0.3
    return p


def biased_panel(seed: int = 2026) -> tuple[dict[Cell, int], dict[tuple[str, str, Cell], int]]:
    """Respondents per cell and answers per (question, option, cell), drawn with a seed."""
    rng = np.random.default_rng(seed)
    respondents: dict[Cell, int] = {}
    answers: dict[tuple[str, str, Cell], int] = {}
    for cell in CELLS:
        n = int(rng.binomial(POPULATION[cell], willingness(cell)))
        respondents[cell] = n
        for question, options in QUESTIONS.items():
            p = chances(question, cell)
            drawn = rng.multinomial(n, [p[o] for o in options])
            for option, k in zip(options, drawn, strict=True):
                answers[question, option, cell] = int(k)
    return respondents, answers


def weighted_margin(weights: Weights, respondents: dict[Cell, int], position: int) -> dict:
    totals: dict[str, float] = {}
    for cell, n in respondents.items():
        totals[cell[position]] = totals.get(cell[position], 0.0) + n * weights.weight(cell)
    return {group: total / sum(totals.values()) for group, total in totals.items()}


def population_margin(position: int) -> dict[str, float]:
    totals: dict[str, float] = {}
    for cell, n in POPULATION.items():
        totals[cell[position]] = totals.get(cell[position], 0.0) + n
    return {group: total / sum(totals.values()) for group, total in totals.items()}


@pytest.mark.parametrize("cap", [5.0, None])
def test_weighted_estimates_land_closer_to_the_truth(cap: float | None) -> None:
    respondents, answers = biased_panel()
    weights = rake(respondents, ROWS, cap=cap)
    assert weights.converged
    assert weights.respondents == sum(respondents.values())
    everyone = weights.tally(respondents)
    compared = 0
    errors = {"unweighted": 0.0, "weighted": 0.0}
    for question, options in QUESTIONS.items():
        for option in options:
            counts = {c: answers[question, option, c] for c in CELLS}
            plain = proportion(sum(counts.values()), sum(respondents.values()))
            weighted = weighted_proportion(weights.tally(counts), everyone)
            assert plain is not None
            assert weighted is not None
            true = truth(question, option)
            off, weighted_off = abs(plain.estimate - true), abs(weighted.estimate - true)
            errors["unweighted"] += off
            errors["weighted"] += weighted_off
            # The truth lies inside every weighted 95 % interval.
            assert weighted.low <= true <= weighted.high, (question, option)
            if off > 0.02:  # where the panel's bias shows, weighting brings it back
                assert weighted_off < off / 2, (question, option, true, plain, weighted)
                compared += 1
    assert compared >= 5  # several questions and options, not one lucky one
    assert errors["weighted"] < errors["unweighted"] / 4
    # The unweighted interval misses the truth where the bias is large.
    plain_yes = proportion(
        sum(answers["playground", "yes", c] for c in CELLS), sum(respondents.values())
    )
    assert plain_yes is not None
    assert not plain_yes.low <= truth("playground", "yes") <= plain_yes.high


def test_the_weighted_margins_are_the_populations() -> None:
    respondents, _ = biased_panel()
    weights = rake(respondents, ROWS)
    assert weights.converged
    assert weights.largest_gap <= 1e-7
    for position in range(3):
        assert weighted_margin(weights, respondents, position) == pytest.approx(
            population_margin(position), abs=1e-6
        )
    for margin in weights.margins:
        assert margin.weighted_share == pytest.approx(margin.population_share, abs=1e-6)
    by_group = {(m.dimension, m.group): m for m in weights.margins}
    old_women = by_group["gender", "female"]
    assert old_women.unweighted_share > 0.6 > old_women.population_share
    assert by_group["district", "Norr"].population_share == pytest.approx(0.25)
    # The weights average 1, so a weighted count reads as respondents.
    assert weights.tally(respondents).total == pytest.approx(weights.respondents)
    assert (weights.unmatched, weights.not_in_population, weights.outside) == ((), (), 0)
    assert 1 < weights.design_effect < 3
    assert weights.effective_sample_size == pytest.approx(
        weights.respondents / weights.design_effect
    )


def test_a_representative_sample_keeps_weights_of_one() -> None:
    # One respondent per 50 residents in every cell (rounded): weights stay near 1.
    respondents = {cell: round(n / 50) for cell, n in POPULATION.items()}
    weights = rake(respondents, ROWS)
    assert weights.converged
    assert weights.iterations <= 10
    assert all(w == pytest.approx(1.0, abs=0.05) for w in weights.weights.values())
    assert weights.design_effect == pytest.approx(1.0, abs=1e-3)
    # Exactly proportional: exactly 1, at the first round.
    exact = rake({cell: n * 2 for cell, n in POPULATION.items()}, ROWS)
    assert exact.iterations == 1
    assert all(w == pytest.approx(1.0, abs=1e-12) for w in exact.weights.values())
    assert exact.trimmed == ()


def test_a_group_without_respondents_is_named_and_the_rest_is_raked() -> None:
    respondents, _ = biased_panel()
    nobody_old = {cell: n for cell, n in respondents.items() if cell[0] != "80+"}
    weights = rake(nobody_old, ROWS)
    assert weights.converged
    [missing] = weights.unmatched
    assert (missing.dimension, missing.group, missing.respondents) == ("age_band", "80+", 0)
    assert missing.population == sum(n for c, n in POPULATION.items() if c[0] == "80+")
    # The other bands share the population of 16-79 as its residents do.
    young_to_old = population_margin(0)
    del young_to_old["80+"]
    total = sum(young_to_old.values())
    assert weighted_margin(weights, nobody_old, 0) == pytest.approx(
        {band: share / total for band, share in young_to_old.items()}, abs=1e-6
    )
    text = weights.describe("Gnosjö", "SCB 2025", "en")
    assert "No responses from 80+ (age band)" in text
    assert "Inga svar från 80+ (åldersgrupp)" in weights.describe("Gnosjö", "SCB 2025")


def test_respondents_the_figures_do_not_cover_are_left_out_of_that_margin_only() -> None:
    respondents, _ = biased_panel()
    outside = dict(respondents)
    outside["0-15", "female", "Norr"] = 12  # a youth panel's members under 16
    outside["45-64", "undisclosed", "Söder"] = 9
    outside["0-15", "other", ""] = 4  # in no margin at all
    weights = rake(outside, ROWS)
    assert weights.converged
    assert weights.outside == 4
    assert weights.weight(("0-15", "other", "")) == 1.0
    assert {(g.dimension, g.group, g.respondents) for g in weights.not_in_population} == {
        ("age_band", "0-15", 16),
        ("gender", "other", 4),
        ("gender", "undisclosed", 9),
        ("district", "", 4),
    }
    # Every margin still holds among the respondents it covers.
    for margin in weights.margins:
        assert margin.weighted_share == pytest.approx(margin.population_share, abs=1e-6)
    # Those under 16 are weighted on gender and district (Norr's many women: below 1).
    assert weights.weight(("0-15", "female", "Norr")) < 0.5
    assert "0-15 (age band)" in weights.describe("Gnosjö", "SCB 2025", "en")


def test_trimming_caps_the_weights_and_rakes_again() -> None:
    respondents, _ = biased_panel()
    untrimmed = rake(respondents, ROWS, cap=None)
    assert untrimmed.largest > 5  # a few young men speak for many
    trimmed = rake(respondents, ROWS, cap=5.0)
    assert trimmed.converged
    assert trimmed.largest == pytest.approx(5.0, rel=1e-5)
    assert trimmed.trimmed
    assert all(trimmed.weight(c) == pytest.approx(5.0, rel=1e-5) for c in trimmed.trimmed)
    assert all(c[:2] == ("16-29", "male") for c in trimmed.trimmed)
    assert trimmed.design_effect < untrimmed.design_effect
    for margin in trimmed.margins:  # re-raked: the margins still hold
        assert margin.weighted_share == pytest.approx(margin.population_share, abs=1e-6)
    # A cap the margins cannot live with: it says so, and how far off they are.
    tight = rake(respondents, ROWS, cap=1.5, max_iterations=200)
    assert not tight.converged
    assert tight.largest_gap > 0.01
    assert tight.largest <= 1.5 * 1.0001
    assert "could not be made to match" in tight.describe("Gnosjö", "SCB 2025", "en")
    with pytest.raises(ValueError, match="above 1"):
        rake(respondents, ROWS, cap=1.0)


def test_a_single_respondent_and_no_respondents() -> None:
    one = rake({("30-44", "female", "Norr"): 1}, ROWS)
    assert one.converged
    assert one.weights == {("30-44", "female", "Norr"): 1.0}
    assert (one.design_effect, one.effective_sample_size) == (1.0, 1.0)
    assert len(one.unmatched) == 4 + 1 + 2  # the other bands, gender and districts
    none = rake({}, ROWS)
    assert none.converged
    assert (none.weights, none.respondents, none.iterations) == ({}, 0, 0)
    assert none.effective_sample_size == 0
    no_figures = rake({("30-44", "female", "Norr"): 5, ("80+", "male", "Söder"): 2}, [])
    assert (no_figures.converged, no_figures.dimensions, no_figures.outside) == (True, (), 7)
    assert set(no_figures.weights.values()) == {1.0}
    assert no_figures.describe("Gnosjö", "SCB 2025", "en").startswith("Not weighted")
    empty_cells = rake({("30-44", "female", "Norr"): 0, ("16-29", "male", "Söder"): 3}, ROWS)
    assert list(empty_cells.weights) == [("16-29", "male", "Söder")]


def test_figures_without_districts_rake_on_age_and_gender() -> None:
    respondents, _ = biased_panel()
    no_list = [("", b, g, n) for (_, b, g, n) in ROWS]  # the council keeps no district list
    weights = rake(respondents, no_list)
    assert weights.converged
    assert weights.dimensions == ("age_band", "gender")
    assert weights.not_in_population == ()
    for position in (0, 1):
        assert weighted_margin(weights, respondents, position) == pytest.approx(
            population_margin(position), abs=1e-6
        )
    assert "by age band and gender (raking)" in weights.describe("Kinda", "SCB 2025", "en")


def test_a_weighted_mean_of_a_scale() -> None:
    # An answer that grows with the age band (1 for 16-29 … 5 for 80+): raking matches the
    # age margin, so the weighted mean is the population's exactly; the panel's is too high.
    respondents, _ = biased_panel()
    weights = rake(respondents, ROWS)
    score = {band: i + 1 for i, band in enumerate(BANDS)}
    sums = {
        cell: Moments.of(n, score[cell[0]] * n, score[cell[0]] ** 2 * n)
        for cell, n in respondents.items()
    }
    plain = mean(sum(sums.values(), Moments.of(0, 0, 0)))
    weighted = mean(weights.moments(sums))
    assert plain is not None
    assert weighted is not None
    true = sum(score[c[0]] * n for c, n in POPULATION.items()) / sum(POPULATION.values())
    assert weighted.estimate == pytest.approx(true, abs=1e-6)
    assert plain.estimate - true > 0.4
    assert weighted.low is not None
    assert weighted.high is not None
    assert weighted.low < true < weighted.high
    assert weighted.n == pytest.approx(weights.effective_sample_size)


def test_the_description_says_how_and_how_much() -> None:
    respondents, _ = biased_panel()
    weights = rake(respondents, ROWS)
    text = weights.describe("Gnosjö", "SCB 2025")
    assert text.startswith(
        "Svaren är viktade efter befolkningen i Gnosjö (SCB 2025) efter åldersgrupp, kön och "
        "distrikt (raking)"
    )
    assert f"{weights.smallest:.2f}".replace(".", ",") in text
    assert "högst 5 gånger medelvikten" in text
    english = weights.describe("Gnosjö", "SCB 2025", "en")
    assert "Weighted to the population of Gnosjö (SCB 2025) by age band, gender and district" in (
        english
    )
    assert f"design effect {weights.design_effect:.2f}" in english
