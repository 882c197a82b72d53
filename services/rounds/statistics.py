"""The statistics of results: shares, means and rankings with 95 % intervals (pure, no I/O).

Everything works from counts and sums, never from single responses, so it runs on the counts
rounds keeps per question, answer and background cell. Each figure may be weighted
(``services.rounds.weighting``): a weighted count is a ``Tally`` (Σw and Σw²), a weighted
sum a ``Moments``; unweighted, every weight is 1 and the formulas are the textbook ones.

- A share: the Wilson score interval, which stays inside 0-100 % and keeps its coverage for
  small groups and shares near 0 or 100 % (where p ± 1.96·√(p(1−p)/n) fails).
- A weighted share: the same interval with Kish's effective sample size
  n_eff = (Σw)² / Σw² in place of n: unequal weights make a sample worth fewer respondents.
- A mean (scales, numbers): from n, Σx and Σx²; the standard deviation with n − 1, and the
  interval mean ± t(0.975, n − 1) · sd / √n (Student's t, so small groups get wide intervals).
  Weighted: the weighted mean and standard deviation, and n_eff for n.
- A ranking: the average position of each option (a mean of positions) and the share of
  respondents who put it first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

CONFIDENCE = 0.95
"""The level of every interval the results show."""


@dataclass(frozen=True)
class Tally:
    """A count of respondents that may be weighted: the sum of their weights and the sum of
    the weights' squares. Unweighted, both are the count."""

    total: float
    squares: float

    @classmethod
    def of(cls, count: float) -> Tally:
        """An unweighted count."""
        return cls(float(count), float(count))

    def scaled(self, weight: float) -> Tally:
        """The same respondents, each with their weight multiplied by ``weight``."""
        return Tally(self.total * weight, self.squares * weight * weight)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.total + other.total, self.squares + other.squares)

    @property
    def effective(self) -> float:
        """Kish's effective sample size (Σw)² / Σw²; the count itself when unweighted."""
        return self.total * self.total / self.squares if self.squares > 0 else 0.0


NO_ONE = Tally(0.0, 0.0)


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of a number answered by some respondents, maybe weighted:
    Σw, Σw², Σw·x and Σw·x² (unweighted: n, n, Σx, Σx²)."""

    weight: float
    weight_squares: float
    total: float
    squares: float

    @classmethod
    def of(cls, n: float, total: float, squares: float) -> Moments:
        """Unweighted: ``n`` answers, their sum and the sum of their squares."""
        return cls(float(n), float(n), float(total), float(squares))

    def scaled(self, weight: float) -> Moments:
        """The same answers, each respondent's weight multiplied by ``weight``."""
        return Moments(
            self.weight * weight,
            self.weight_squares * weight * weight,
            self.total * weight,
            self.squares * weight,
        )

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.weight + other.weight,
            self.weight_squares + other.weight_squares,
            self.total + other.total,
            self.squares + other.squares,
        )


NO_ANSWERS = Moments(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Proportion:
    """A share (0-1) with its interval, and the (effective) number of respondents behind it."""

    estimate: float
    low: float
    high: float
    n: float


@dataclass(frozen=True)
class Mean:
    """A mean with its standard deviation and interval; ``sd``, ``low`` and ``high`` are None
    when fewer than two (effective) respondents answered: one answer has no spread."""

    estimate: float
    sd: float | None
    low: float | None
    high: float | None
    n: float


@dataclass(frozen=True)
class Ranked:
    """One option of a ranking question: where respondents put it, and how often first."""

    option: str
    placed: float
    """Respondents (weighted) who placed it at all."""
    average_rank: Mean | None
    """Its mean position (1 = first), or None when no one placed it."""
    first: Proportion | None
    """The share of the question's respondents who put it first, or None when no one answered."""


def z_value(confidence: float = CONFIDENCE) -> float:
    """The standard normal quantile for a two-sided interval (1.959964 for 95 %)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: float, n: float, confidence: float = CONFIDENCE) -> Proportion | None:
    """The share ``successes / n`` with its Wilson score interval; None when ``n`` is 0.

    ``n`` may be fractional (an effective sample size): the formula takes any n > 0.
    """
    if n <= 0:
        return None
    p = min(1.0, max(0.0, successes / n))
    z = z_value(confidence)
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At p = 0 or 1 one end is exactly the estimate; rounding must not move it past it.
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return Proportion(estimate=p, low=low, high=high, n=n)


def proportion(count: float, n: float, confidence: float = CONFIDENCE) -> Proportion | None:
    """``count`` of ``n`` respondents (unweighted), with its Wilson interval."""
    return wilson(count, n, confidence)


def weighted_proportion(
    part: Tally, whole: Tally, confidence: float = CONFIDENCE
) -> Proportion | None:
    """A weighted share Σw(part) / Σw(whole), with the Wilson interval at Kish's effective
    sample size of ``whole``; None when no one is in ``whole``.

    Unweighted tallies give exactly ``proportion``.
    """
    if whole.total <= 0 or whole.squares <= 0:
        return None
    n_eff = whole.effective
    return wilson(part.total / whole.total * n_eff, n_eff, confidence)


def mean(moments: Moments, confidence: float = CONFIDENCE) -> Mean | None:
    """The (weighted) mean of a number with its standard deviation and Student's t interval;
    None when no one answered.

    With weights, the standard deviation is the weighted one, corrected as n − 1 is for
    n_eff = (Σw)² / Σw², and the interval is mean ± t(n_eff − 1) · sd / √n_eff.
    """
    if moments.weight <= 0 or moments.weight_squares <= 0:
        return None
    estimate = moments.total / moments.weight
    n_eff = moments.weight * moments.weight / moments.weight_squares
    if n_eff < 2 - 1e-9:
        return Mean(estimate=estimate, sd=None, low=None, high=None, n=n_eff)
    spread = max(0.0, moments.squares / moments.weight - estimate * estimate)
    sd = math.sqrt(spread * n_eff / (n_eff - 1))
    half = t_value(n_eff - 1, confidence) * sd / math.sqrt(n_eff)
    return Mean(estimate=estimate, sd=sd, low=estimate - half, high=estimate + half, n=n_eff)


def ranking(
    counts: Mapping[tuple[str, int], Tally],
    options: tuple[str, ...],
    answered: Tally,
    confidence: float = CONFIDENCE,
) -> tuple[Ranked, ...]:
    """Each option's average position and first-place share from counts of (option,
    position), positions counted from 1; ``answered`` is everyone who answered the question
    (the first-place shares' base). Weighted counts give weighted figures."""
    found = []
    for option in options:
        moments = NO_ANSWERS
        for (name, position), tally in counts.items():
            if name == option:
                moments += Moments(
                    tally.total,
                    tally.squares,
                    tally.total * position,
                    tally.total * position * position,
                )
        found.append(
            Ranked(
                option=option,
                placed=moments.weight,
                average_rank=mean(moments, confidence),
                first=weighted_proportion(counts.get((option, 1), NO_ONE), answered, confidence),
            )
        )
    return tuple(found)


def t_value(df: float, confidence: float = CONFIDENCE) -> float:
    """Student's t quantile for a two-sided interval with ``df`` degrees of freedom (≥ 1,
    fractional allowed): 12.706 at 1, 2.045 at 29, towards 1.960 as df grows."""
    if df < 1:
        raise ValueError("a t interval needs at least one degree of freedom")
    return _t_quantile(df, 0.5 + confidence / 2)


@lru_cache(maxsize=1024)
def _t_quantile(df: float, p: float) -> float:
    if df > 1e7:
        return NormalDist().inv_cdf(p)
    tail = 1 - p
    # Bisection on the upper tail, which falls from 0.5 at t = 0: 80 halvings of a range
    # that holds every quantile here (df ≥ 1, p ≤ 0.9995) reach double precision.
    low, high = 0.0, 1000.0
    for _ in range(80):
        middle = (low + high) / 2
        if _t_upper_tail(middle, df) > tail:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t ≥ 0: half the regularised incomplete beta I_{df/(df+t²)}(df/2, 1/2)."""
    return 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction
    (Numerical Recipes, 6.4), on whichever side converges fast."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            step = d * c
            h *= step
        if abs(step - 1) < 1e-15:
            break
    return h
