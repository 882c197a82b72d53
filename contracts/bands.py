"""The coded background the breakdowns and the representativeness figures share."""

from __future__ import annotations

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("16-29", 16, 29),
    ("30-44", 30, 44),
    ("45-64", 45, 64),
    ("65-79", 65, 79),
    ("80+", 80, 200),
)
"""Age bands by name, lowest and highest age (official statistics use the same cuts)."""

BAND_NAMES: tuple[str, ...] = tuple(name for name, _, _ in AGE_BANDS)


def age_band(birth_year: int, year: int) -> str:
    """The age band of someone born in ``birth_year``, in ``year``."""
    age = year - birth_year
    for name, low, high in AGE_BANDS:
        if low <= age <= high:
            return name
    return "under 16" if age < AGE_BANDS[0][1] else "unknown"
