"""The statistics of results against values computed once with scipy 1.17 (``binomtest(…)
.proportion_ci(method="wilson")``, ``t.ppf``, ``t.interval``) or by hand, written here as
constants: scipy is not a dependency."""

from __future__ import annotations

import math

import pytest

from services.rounds.statistics import (
    Moments,
    Tally,
    mean,
    proportion,
    ranking,
    t_value,
    weighted_proportion,
    wilson,
    z_value,
)

# (successes, n) → scipy's Wilson interval at 95 %.
WILSON = {
    (8, 10): (0.4901624715366418, 0.9433178485456248),
    (0, 10): (0.0, 0.27753279986288926),
    (10, 10): (0.7224672001371109, 1.0),
    (1, 1): (0.20654931437723745, 1.0),
    (37, 120): (0.23272736988916295, 0.3958299772380067),
}
# Degrees of freedom → scipy's t.ppf(0.975, df), fractional ones too (effective samples).
T_975 = {
    1: 12.706204736174694,
    2: 4.302652729749462,
    7: 2.364624251592784,
    9: 2.262157162798205,
    29: 2.045229642132703,
    5 / 3: 5.2422651305838315,
    64 / 14 - 1: 2.9129098305578087,
}


@pytest.mark.parametrize(("counts", "interval"), WILSON.items())
def test_a_share_has_the_wilson_interval(
    counts: tuple[int, int], interval: tuple[float, float]
) -> None:
    found = proportion(*counts)
    assert found is not None
    assert found.estimate == counts[0] / counts[1]
    assert (found.low, found.high) == pytest.approx(interval, abs=1e-12)
    assert found.n == counts[1]


def test_another_confidence_level() -> None:
    found = wilson(8, 10, confidence=0.90)
    assert found is not None
    assert (found.low, found.high) == pytest.approx(
        (0.5407928056874879, 0.9314420122624679), abs=1e-12
    )
    assert t_value(9, confidence=0.90) == pytest.approx(1.833112932656237, abs=1e-9)


def test_no_respondents_give_no_share() -> None:
    assert proportion(0, 0) is None
    assert weighted_proportion(Tally.of(0), Tally.of(0)) is None
    assert mean(Moments.of(0, 0, 0)) is None


def test_the_normal_and_t_quantiles() -> None:
    assert z_value() == pytest.approx(1.959963984540054, abs=1e-12)
    for df, value in T_975.items():
        assert t_value(df) == pytest.approx(value, abs=1e-9), df
    # Towards the normal quantile as the degrees of freedom grow.
    assert t_value(1e9) == pytest.approx(z_value(), abs=1e-6)
    with pytest.raises(ValueError, match="degree of freedom"):
        t_value(0.5)


def test_a_weighted_share_uses_kishs_effective_sample_size() -> None:
    # Three yes with weight 2, two no with weight 1: 6 of 8, worth (8²)/(3·4 + 2·1) = 4.571
    # respondents; the interval is Wilson's at n = 4.571 (computed by hand).
    yes = Tally.of(3).scaled(2)
    everyone = yes + Tally.of(2)
    assert (everyone.total, everyone.squares) == (8, 14)
    assert everyone.effective == pytest.approx(64 / 14)
    found = weighted_proportion(yes, everyone)
    assert found is not None
    assert found.estimate == 0.75
    assert found.n == pytest.approx(64 / 14)
    assert (found.low, found.high) == pytest.approx(
        (0.32176539305286594, 0.9499266169762337), abs=1e-12
    )
    # Wider than the same share of 8 unweighted respondents.
    plain = proportion(6, 8)
    assert plain is not None
    assert found.high - found.low > plain.high - plain.low


def test_weights_of_one_give_the_unweighted_figures() -> None:
    for (k, n), interval in WILSON.items():
        found = weighted_proportion(Tally.of(k).scaled(1.0), Tally.of(n))
        assert found is not None
        assert (found.low, found.high) == pytest.approx(interval, abs=1e-12)
    # The same with all weights doubled: a share does not depend on the weights' scale.
    found = weighted_proportion(Tally.of(37).scaled(2.0), Tally.of(120).scaled(2.0))
    assert found is not None
    assert (found.low, found.high) == pytest.approx(WILSON[37, 120], abs=1e-12)


def test_a_mean_from_n_the_sum_and_the_sum_of_squares() -> None:
    answers = [3, 4, 5, 5, 2, 4, 1, 5]  # a 1-5 scale
    found = mean(Moments.of(len(answers), sum(answers), sum(x * x for x in answers)))
    assert found is not None
    assert found.estimate == 3.625
    assert found.sd == pytest.approx(1.5059406173077154, abs=1e-12)  # n - 1
    assert (found.low, found.high) == pytest.approx(
        (2.3660021371987874, 4.883997862801213), abs=1e-9
    )  # scipy t.interval(0.95, 7, 3.625, sd / √8)


def test_one_answer_has_a_mean_but_no_spread() -> None:
    found = mean(Moments.of(1, 4, 16))
    assert found is not None
    assert (found.estimate, found.sd, found.low, found.high) == (4.0, None, None, None)


def test_a_weighted_mean() -> None:
    # Answers 1 (weight 2), 2 and 4 (weight 1): Σw 4, Σw² 6, Σwx 8, Σwx² 22, so the mean is
    # 2, the weighted variance 22/4 − 2² = 1.5, n_eff 16/6 and sd √(1.5 · n_eff/(n_eff − 1))
    # = √2.4; the interval 2 ± t(5/3) · √2.4 / √(16/6).
    cells = Moments.of(1, 1, 1).scaled(2) + Moments.of(1, 2, 4) + Moments.of(1, 4, 16)
    assert cells == Moments(4, 6, 8, 22)
    found = mean(cells)
    assert found is not None
    assert found.estimate == 2
    assert found.n == pytest.approx(16 / 6)
    assert found.sd == pytest.approx(math.sqrt(2.4))
    assert (found.low, found.high) == pytest.approx(
        (-2.9732493733374765, 6.9732493733374765), abs=1e-8
    )
    # Weights of one are the unweighted mean; a common factor changes nothing.
    plain = mean(Moments.of(3, 7, 21))
    scaled = mean(Moments.of(3, 7, 21).scaled(3.5))
    assert plain is not None
    assert scaled is not None
    assert (scaled.estimate, scaled.sd, scaled.low) == pytest.approx(
        (plain.estimate, plain.sd, plain.low)
    )


def test_a_ranking_gives_average_positions_and_first_place_shares() -> None:
    # Ten respondents ordered A, B and C.
    placed = {
        ("A", 1): 6,
        ("A", 2): 3,
        ("A", 3): 1,
        ("B", 1): 3,
        ("B", 2): 5,
        ("B", 3): 2,
        ("C", 1): 1,
        ("C", 2): 2,
        ("C", 3): 7,
    }
    found = ranking({k: Tally.of(n) for k, n in placed.items()}, ("A", "B", "C", "D"), Tally.of(10))
    by_option = {r.option: r for r in found}
    assert [r.option for r in found] == ["A", "B", "C", "D"]
    ranks = [by_option[o].average_rank for o in "ABC"]
    assert [r.estimate for r in ranks if r] == pytest.approx([1.5, 1.9, 2.6])
    a = by_option["A"].average_rank
    assert a is not None
    assert a.sd == pytest.approx(0.7071067811865476)
    assert (a.low, a.high) == pytest.approx((0.9941662808195155, 2.0058337191804845), abs=1e-9)
    first = by_option["A"].first
    assert first is not None
    assert (first.estimate, first.low, first.high) == pytest.approx((0.6, 0.3126, 0.8318), abs=1e-4)
    assert [by_option[o].first.estimate for o in "BC" if by_option[o].first] == [0.3, 0.1]
    # An option no one placed: no position, and a first-place share of 0.
    d = by_option["D"]
    assert (d.placed, d.average_rank) == (0, None)
    assert d.first is not None
    assert d.first.estimate == 0


def test_a_weighted_ranking() -> None:
    # Two respondents put A first (weight 3 each), one put B first (weight 1).
    placed = {
        ("A", 1): Tally.of(2).scaled(3),
        ("B", 2): Tally.of(2).scaled(3),
        ("B", 1): Tally.of(1),
        ("A", 2): Tally.of(1),
    }
    found = {r.option: r for r in ranking(placed, ("A", "B"), Tally.of(2).scaled(3) + Tally.of(1))}
    a = found["A"]
    assert a.average_rank is not None
    assert a.average_rank.estimate == pytest.approx((6 * 1 + 1 * 2) / 7)
    assert a.first is not None
    assert a.first.estimate == pytest.approx(6 / 7)
    assert a.first.n == pytest.approx(49 / 19)  # (3 + 3 + 1)² / (9 + 9 + 1)
