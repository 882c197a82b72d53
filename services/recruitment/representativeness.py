"""The panel against the population: shares, gaps, one index, whom to recruit next.

The population comes from official statistics by district, age band and gender
(``SetPopulation``); the panel is the council's active members, counted in the same cells
(their age band this year, their gender if female or male, their coded district). Members
in no cell (gender other or undisclosed, under 16, no district from the list) are counted
apart: official statistics have no cell for them.

The index is 100 × (1 − D), where D = ½ Σ |pᵢ − qᵢ| over the crossed cells i (district ×
age band × gender), pᵢ the cell's share of the compared panel and qᵢ its share of the
population: D is the dissimilarity (total variation) between the two compositions, the share
of members who would have to be in another cell for the panel to look like the population.
100 means the same composition; 0, no overlap at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contracts.bands import BAND_NAMES
from contracts.recruitment import PopulationRow, Share

Cell = tuple[str, str, str]
"""(district, age band, gender)."""

RECRUIT_NEXT = 5
"""How many crossed cells the list of whom to recruit next names."""


@dataclass(frozen=True)
class Checked:
    """Population rows split into cells taken and rows refused (row number, reason)."""

    cells: dict[Cell, int]
    rejected: list[tuple[int, str]]


def check_population(rows: Sequence[PopulationRow], districts: Sequence[str]) -> Checked:
    """Take each row whose district is on the council's list ('' when it keeps none) and
    whose age band is one of ours; a cell given twice is refused the second time."""
    cells: dict[Cell, int] = {}
    rejected: list[tuple[int, str]] = []
    allowed = set(districts) if districts else {""}
    for number, row in enumerate(rows, start=1):
        cell = (row.district, row.age_band, row.gender)
        if row.district not in allowed:
            rejected.append((number, "invalid_district"))
        elif row.age_band not in BAND_NAMES:
            rejected.append((number, "invalid_age_band"))
        elif cell in cells:
            rejected.append((number, "duplicate_cell"))
        else:
            cells[cell] = row.population
    return Checked(cells, rejected)


@dataclass(frozen=True)
class Comparison:
    """What ``compare`` finds."""

    index: float
    compared: int
    not_compared: int
    by_age_band: tuple[Share, ...]
    by_gender: tuple[Share, ...]
    by_district: tuple[Share, ...]
    recruit_next: tuple[Share, ...]
    by_cell: tuple[Share, ...] = ()


def compare(population: dict[Cell, int], members: Iterable[Cell]) -> Comparison:
    """The panel's cells against the population's."""
    panel: Counter[Cell] = Counter()
    outside = 0
    for cell in members:
        if cell in population:
            panel[cell] += 1
        else:
            outside += 1
    n = sum(panel.values())
    total = sum(population.values())

    def share(count: int, of: int) -> float:
        return 100.0 * count / of if of else 0.0

    def shares(key: int) -> tuple[Share, ...]:
        groups = sorted({cell[key] for cell in population})
        return tuple(
            _share(
                group,
                sum(c for cell, c in panel.items() if cell[key] == group),
                sum(p for cell, p in population.items() if cell[key] == group),
                n,
                total,
            )
            for group in groups
        )

    gap = sum(abs(share(panel[c], n) - share(p, total)) for c, p in population.items())
    crossed = [
        _share(" · ".join(part for part in cell if part), panel[cell], p, n, total)
        for cell, p in population.items()
    ]
    below = sorted((s for s in crossed if s.gap < 0), key=lambda s: (s.gap, s.group))
    districts = shares(0) if any(cell[0] for cell in population) else ()
    return Comparison(
        index=round(100.0 - gap / 2, 1) if n and total else 0.0,
        compared=n,
        not_compared=outside,
        by_age_band=shares(1),
        by_gender=shares(2),
        by_district=districts,
        recruit_next=tuple(below[:RECRUIT_NEXT]),
        by_cell=tuple(sorted(crossed, key=lambda s: s.group)),
    )


def _share(group: str, members: int, population: int, n: int, total: int) -> Share:
    panel_share = 100.0 * members / n if n else 0.0
    population_share = 100.0 * population / total if total else 0.0
    # Members the group needs so that its share matches, the rest of the panel unchanged:
    # (m + x) / (n + x) = q  ⇒  x = (q·n − m) / (1 − q).
    q = population / total if total else 0.0
    needed = (q * n - members) / (1 - q) if q < 1 else 0.0
    return Share(
        group=group,
        members=members,
        panel_share=round(panel_share, 1),
        population_share=round(population_share, 1),
        gap=round(panel_share - population_share, 1),
        to_match=max(0, round(needed)),
    )
