"""Weights that make a round's respondents look like the council's population (pure, numpy).

A panel is self-selected: some groups answer more than their share of the residents (older
women, one district), others less. Post-stratification gives each respondent a weight so
that, weighted, the respondents are composed like the population; a weighted share then
counts each group as much as the group's share of the residents.

The method is **raking** (iterative proportional fitting) to three margins of the council's
population figures (``SetPopulation``: residents by district, age band and gender): the
weights are adjusted to match the age bands' shares, then the genders', then the
districts', and round again until all three hold (within ``TOLERANCE``). Raking needs only
each margin, not the crossed cells, so a district with few residents of some age does not
break it the way full post-stratification on crossed cells would.

Choices, and why:

- **Weights per cell.** Respondents are counted per (age band, gender, district) cell and all
  respondents of a cell get the same weight, so the weights come from the kept counts alone.
- **Respondents a margin does not cover** (age band ``0-15``: members under 16, whom official
  statistics here do not count; gender ``other`` or ``undisclosed``; a district the figures
  lack) are left out of that margin only: its step neither raises nor lowers their weight,
  and the respondents it covers share out the rest in the population's proportions. They are
  still weighted on the other margins (an undisclosed-gender 80-year-old counts as the
  age band 80+ needs). Someone no margin covers keeps weight 1, as in the unweighted figures.
  They are listed in ``Weights.not_in_population``.
- **A group with residents but no respondents** (say no one of 80+ answered) cannot be
  matched: no weight makes zero respondents count. It is listed in ``Weights.unmatched`` and
  the margin is raked on the other groups, whose population shares are scaled up to fill
  its place; the description on the results page says so. A group with respondents but no
  residents in the figures is treated as not covered (above), never given weight 0.
- **Trimming.** Very large weights let a handful of people speak for many and make every
  interval wide. Weights are capped at ``TRIM_CAP`` × the mean weight (5, a common cap, as
  e.g. ANES uses), and the raking goes on from the capped weights, repeating both until the
  margins hold and no weight is above the cap. Where the cap and the margins cannot both
  hold, ``converged`` is False and ``largest_gap`` says how far the margins are off.
- **Scale.** The weights average 1 over the respondents (Σw = n), so a weighted count reads
  as respondents and the unweighted figures are the weights all 1.
- **What weighting costs.** Kish's design effect 1 + CV² of the weights and the effective
  sample size n / deff, which the intervals of weighted figures use
  (``services.rounds.statistics``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from services.rounds.statistics import NO_ANSWERS, NO_ONE, Moments, Tally

Cell = tuple[str, str, str]
"""(age band, gender, district): how rounds counts respondents."""
PopulationFigure = tuple[str, str, str, int]
"""(district, age band, gender, residents): one row of the council's population figures."""

DIMENSIONS: tuple[str, ...] = ("age_band", "gender", "district")
"""The margins raked to, in the order of the raking steps and of a ``Cell``."""
TRIM_CAP = 5.0
"""No weight above this many times the mean weight."""
TOLERANCE = 1e-7
"""Raking stops when every weighted share is this close to the population's (shares 0-1)."""
MAX_ITERATIONS = 2000
"""Raking rounds before giving up (``converged`` False)."""

Language = Literal["sv", "en"]


@dataclass(frozen=True)
class Margin:
    """One group of a margin: its residents and respondents, and its share of each."""

    dimension: str
    group: str
    population: int
    respondents: int
    population_share: float
    """Its share (0-1) of the residents of the groups raked to."""
    unweighted_share: float
    """Its share of the respondents this margin covers, unweighted."""
    weighted_share: float
    """The same, weighted: equal to ``population_share`` once converged."""


@dataclass(frozen=True)
class Group:
    """A group the weighting could not use: with residents and no respondents
    (``unmatched``), or with respondents and no residents in the figures
    (``not_in_population``)."""

    dimension: str
    group: str
    population: int
    respondents: int


@dataclass(frozen=True)
class Weights:
    """The weight of each cell's respondents, and how the raking went."""

    weights: Mapping[Cell, float]
    """Each respondent's weight, by cell (every cell with respondents)."""
    converged: bool
    iterations: int
    largest_gap: float
    """The largest difference between a weighted and a population share (0-1) at the end."""
    margins: tuple[Margin, ...]
    unmatched: tuple[Group, ...]
    not_in_population: tuple[Group, ...]
    trimmed: tuple[Cell, ...]
    """Cells whose weight the cap holds down."""
    cap: float | None
    respondents: int
    outside: int
    """Respondents no margin covers (weight 1)."""
    smallest: float
    largest: float
    design_effect: float
    """Kish's 1 + CV² of the respondents' weights (1: no loss)."""
    effective_sample_size: float
    """n / design effect: what the weighted sample is worth in unweighted respondents."""
    dimensions: tuple[str, ...] = field(default=DIMENSIONS)
    """The margins raked to (a council without districts has none to rake to)."""

    def weight(self, cell: Cell) -> float:
        """The weight of a respondent in ``cell`` (1 for a cell the raking did not see)."""
        return self.weights.get(cell, 1.0)

    def tally(self, counts: Mapping[Cell, float]) -> Tally:
        """A weighted count from respondents (or answers) counted per cell."""
        found = NO_ONE
        for cell, n in counts.items():
            if n:
                found += Tally.of(n).scaled(self.weight(cell))
        return found

    def moments(self, sums: Mapping[Cell, Moments]) -> Moments:
        """Weighted sufficient statistics (for a weighted mean) from unweighted ones per cell."""
        found = NO_ANSWERS
        for cell, moments in sums.items():
            found += moments.scaled(self.weight(cell))
        return found

    def describe(self, place: str, source: str, language: Language = "sv") -> str:
        """The method in plain words, for the results page."""
        return describe(self, place, source, language)


def rake(
    respondents: Mapping[Cell, int],
    population: Iterable[PopulationFigure],
    *,
    cap: float | None = TRIM_CAP,
    tolerance: float = TOLERANCE,
    max_iterations: int = MAX_ITERATIONS,
) -> Weights:
    """Weights for respondents counted per (age band, gender, district) cell, raked to the
    population's margins by age band, gender and district (see the module's notes)."""
    if cap is not None and cap <= 1:
        raise ValueError("the cap is a multiple of the mean weight and must be above 1")
    cells = sorted(cell for cell, n in respondents.items() if n > 0)
    counts = np.array([respondents[cell] for cell in cells], dtype=float)
    residents: dict[str, dict[str, int]] = {d: {} for d in DIMENSIONS}
    for district, band, gender, n in population:
        for dimension, group in zip(DIMENSIONS, (band, gender, district), strict=True):
            residents[dimension][group] = residents[dimension].get(group, 0) + int(n)
    # Figures without districts (the council keeps no list) have one district, '': no margin.
    if set(residents["district"]) <= {""}:
        residents["district"] = {}
    margins = [
        _Margin.of(position, dimension, cells, counts, residents[dimension])
        for position, dimension in enumerate(DIMENSIONS)
        if residents[dimension]
    ]
    raked = [m for m in margins if m.groups]
    w = np.ones(len(cells))
    covered = np.zeros(len(cells), dtype=bool)
    for margin in raked:
        covered |= margin.index >= 0
    capped = np.zeros(len(cells), dtype=bool)
    iterations, gap, converged = 0, 0.0, True
    if raked and covered.any():
        converged = False
        while iterations < max_iterations:
            iterations += 1
            for margin in raked:
                margin.adjust(w, counts)
            if cap is not None:
                capped = _trim(w, counts, covered, cap)
            gap = max(margin.gap(w, counts) for margin in raked)
            if gap <= tolerance:
                converged = True
                break
        # Average 1 over the raked respondents; those no margin covers keep their 1.
        w[covered] /= _mean(w[covered], counts[covered])
    total, squares = float(counts @ w), float(counts @ (w * w))
    answered = float(counts.sum())
    return Weights(
        weights={cell: float(x) for cell, x in zip(cells, w, strict=True)},
        converged=converged,
        iterations=iterations,
        largest_gap=gap,
        margins=tuple(row for margin in raked for row in margin.report(w, counts)),
        unmatched=tuple(g for margin in margins for g in margin.unmatched),
        not_in_population=tuple(g for margin in margins for g in margin.uncovered),
        trimmed=tuple(cell for cell, held in zip(cells, capped, strict=True) if held),
        cap=cap,
        respondents=int(answered),
        outside=int(counts[~covered].sum()),
        smallest=float(w.min()) if len(w) else 1.0,
        largest=float(w.max()) if len(w) else 1.0,
        design_effect=answered * squares / (total * total) if total else 1.0,
        effective_sample_size=total * total / squares if squares else 0.0,
        dimensions=tuple(m.dimension for m in raked),
    )


def _mean(w: NDArray[np.float64], counts: NDArray[np.float64]) -> float:
    return float(counts @ w / counts.sum())


def _trim(
    w: NDArray[np.float64], counts: NDArray[np.float64], covered: NDArray[np.bool_], cap: float
) -> NDArray[np.bool_]:
    """Cap the covered weights at ``cap`` × their mean *after* capping, in place; which
    cells the cap holds down.

    Capping lowers the mean, so the limit is found exactly: with the k largest weights set
    to L, L = cap · (Σ of the others' weights) / (n − cap · their respondents), for the
    smallest k whose L is below the k-th largest weight and above the next.
    """
    held = np.zeros(len(w), dtype=bool)
    at = np.flatnonzero(covered)
    order = at[np.argsort(-w[at], kind="stable")]
    n = float(counts[order].sum())
    rest = float(counts[order] @ w[order])
    top = 0.0
    for k, i in enumerate(order):
        after = w[order[k + 1]] if k + 1 < len(order) else 0.0
        if k == 0 and w[i] <= cap * rest / n:
            return held  # the largest is within the cap: nothing to do
        rest -= counts[i] * w[i]
        top += counts[i]
        if n <= cap * top:
            break  # no limit can hold this many at the cap
        limit = cap * rest / (n - cap * top)
        if after <= limit:
            capped = order[: k + 1]
            w[capped] = limit
            held[capped] = True
            return held
    # No limit fits (a cap near 1 with few cells): every covered weight becomes equal.
    w[at] = _mean(w[at], counts[at])
    held[at] = True
    return held


@dataclass
class _Margin:
    """One margin as the raking uses it: which of its groups each cell is in (-1: none it
    rakes to) and each group's population share."""

    dimension: str
    groups: list[str]
    population: NDArray[np.float64]
    shares: NDArray[np.float64]
    index: NDArray[np.intp]
    unmatched: list[Group]
    uncovered: list[Group]

    @classmethod
    def of(
        cls,
        position: int,
        dimension: str,
        cells: list[Cell],
        counts: NDArray[np.float64],
        residents: dict[str, int],
    ) -> _Margin:
        answered: dict[str, int] = {}
        for cell, n in zip(cells, counts, strict=True):
            answered[cell[position]] = answered.get(cell[position], 0) + int(n)
        inhabited = sorted(g for g, p in residents.items() if p > 0)
        groups = [g for g in inhabited if answered.get(g)]
        unmatched = [Group(dimension, g, residents[g], 0) for g in inhabited if g not in groups]
        uncovered = [
            Group(dimension, g, residents.get(g, 0), n)
            for g, n in sorted(answered.items())
            if g not in groups
        ]
        population = np.array([residents[g] for g in groups], dtype=float)
        at = {g: i for i, g in enumerate(groups)}
        index = np.array([at.get(cell[position], -1) for cell in cells], dtype=np.intp)
        shares = population / population.sum() if groups else population
        return cls(dimension, groups, population, shares, index, unmatched, uncovered)

    def _totals(self, w: NDArray[np.float64], counts: NDArray[np.float64]) -> NDArray[np.float64]:
        inside = self.index >= 0
        return np.bincount(
            self.index[inside], weights=(counts * w)[inside], minlength=len(self.groups)
        ).astype(float)

    def adjust(self, w: NDArray[np.float64], counts: NDArray[np.float64]) -> None:
        """One raking step: scale each group so the covered respondents, whose total weight
        stays as it was, are shared out as the population is."""
        totals = self._totals(w, counts)
        factors = self.shares * totals.sum() / totals
        inside = self.index >= 0
        w[inside] *= factors[self.index[inside]]

    def gap(self, w: NDArray[np.float64], counts: NDArray[np.float64]) -> float:
        """The largest difference between a group's weighted share and its population's."""
        totals = self._totals(w, counts)
        return float(np.abs(totals / totals.sum() - self.shares).max())

    def report(self, w: NDArray[np.float64], counts: NDArray[np.float64]) -> list[Margin]:
        weighted = self._totals(w, counts)
        plain = self._totals(np.ones_like(w), counts)
        return [
            Margin(
                dimension=self.dimension,
                group=group,
                population=int(self.population[i]),
                respondents=int(plain[i]),
                population_share=float(self.shares[i]),
                unweighted_share=float(plain[i] / plain.sum()),
                weighted_share=float(weighted[i] / weighted.sum()),
            )
            for i, group in enumerate(self.groups)
        ]


_NAMES = {
    "sv": {"age_band": "åldersgrupp", "gender": "kön", "district": "distrikt"},
    "en": {"age_band": "age band", "gender": "gender", "district": "district"},
}
_GROUPS = {
    "sv": {"female": "kvinnor", "male": "män", "other": "annat", "undisclosed": "ej angivet"},
    "en": {"female": "women", "male": "men", "other": "other", "undisclosed": "not given"},
}


def _number(x: float, language: Language, decimals: int = 2) -> str:
    text = f"{x:,.{decimals}f}".replace(",", " ")
    return text.replace(".", ",") if language == "sv" else text


def _list(words: list[str], language: Language) -> str:
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {'och' if language == 'sv' else 'and'} {words[-1]}"


def _group_names(groups: Iterable[Group], language: Language) -> str:
    names, labels = _NAMES[language], _GROUPS[language]
    return ", ".join(
        f"{labels.get(g.group, g.group or '–')} ({names[g.dimension]})" for g in groups
    )


def describe(weights: Weights, place: str, source: str, language: Language = "sv") -> str:
    """How the weights were made, in plain words (Swedish or English)."""
    names = _NAMES[language]
    if not weights.dimensions:
        return (
            "Svaren är inte viktade: befolkningssiffrorna och svaren har inga grupper gemensamt."
            if language == "sv"
            else "Not weighted: the population figures and the responses share no group."
        )
    by = _list([names[d] for d in weights.dimensions], language)
    low, high = _number(weights.smallest, language), _number(weights.largest, language)
    n_eff = _number(weights.effective_sample_size, language, 0)
    n = _number(weights.respondents, language, 0)
    deff = _number(weights.design_effect, language)
    cap = _number(weights.cap, language, 0) if weights.cap else ""
    sentences = []
    if language == "sv":
        sentences.append(
            f"Svaren är viktade efter befolkningen i {place} ({source}) efter {by} (raking): "
            "varje grupps svar väger lika mycket som gruppens andel av invånarna."
        )
        sentences.append(
            f"Vikterna går från {low} till {high}"
            + (f" (högst {cap} gånger medelvikten)" if cap else "")
            + f"; de {n} svaren väger som {n_eff} oviktade (designeffekt {deff})."
        )
        if weights.unmatched:
            sentences.append(
                f"Inga svar från {_group_names(weights.unmatched, language)}: deras andel av "
                "befolkningen fördelas på de andra grupperna."
            )
        if weights.not_in_population:
            sentences.append(
                f"Grupper som befolkningssiffrorna saknar, "
                f"{_group_names(weights.not_in_population, language)}, viktas bara efter "
                "det som siffrorna har."
            )
        if not weights.converged:
            sentences.append(
                "Vikterna kunde inte fås att stämma helt med befolkningen (störst skillnad "
                f"{_number(100 * weights.largest_gap, language, 1)} procentenheter)."
            )
    else:
        sentences.append(
            f"Weighted to the population of {place} ({source}) by {by} (raking): each "
            "group's answers count as much as the group's share of the residents."
        )
        sentences.append(
            f"Weights range from {low} to {high}"
            + (f" (capped at {cap} × the mean)" if cap else "")
            + f"; the {n} responses are worth {n_eff} unweighted ones (design effect {deff})."
        )
        if weights.unmatched:
            sentences.append(
                f"No responses from {_group_names(weights.unmatched, language)}: their share "
                "of the population is spread over the other groups."
            )
        if weights.not_in_population:
            sentences.append(
                "Groups the population figures do not have, "
                f"{_group_names(weights.not_in_population, language)}, are weighted only "
                "on what the figures do have."
            )
        if not weights.converged:
            sentences.append(
                "The weights could not be made to match the population exactly (largest gap "
                f"{_number(100 * weights.largest_gap, language, 1)} percentage points)."
            )
    return " ".join(sentences)
