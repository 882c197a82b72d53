"""Map questions' pins as results keep them: counts on a grid of rounded coordinates.

A results reply must not grow with the number of responses, so the pins of a map question are
not listed one by one: each is counted in the cell of a grid of ``GRID_DEGREES`` (about 1 km
north-south in Sweden), per category. A council holds a few hundred to a few thousand such
cells; the reply carries at most ``MOST_CELLS`` of them (the fullest) per question.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

GRID_DEGREES: Final = 0.01
"""Size of a grid cell in degrees of latitude and longitude."""
MOST_CELLS: Final = 2000
"""Most grid cells one question's results carry (the fullest first)."""


def grid_cell(lat: float, lon: float) -> tuple[str, str]:
    """The grid cell a point falls in, as the texts of its centre's coordinates."""
    return _centre(lat), _centre(lon)


def _centre(degrees: float) -> str:
    index = int((degrees + 360) / GRID_DEGREES) - int(360 / GRID_DEGREES)
    return f"{(index + 0.5) * GRID_DEGREES:.3f}"


class PinCell(BaseModel):
    """How many pins (of one category) fell in one cell of the grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(description="Latitude of the cell's centre (WGS 84).")
    lon: float = Field(description="Longitude of the cell's centre (WGS 84).")
    category: str = Field(default="", description="The pins' category ('' = none given).")
    count: int = Field(description="Pins in the cell with that category.")
