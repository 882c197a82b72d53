"""The council's population figures, as rounds keeps them to weight results.

recruitment owns the figures (``SetPopulation``) and tells rounds with ``PopulationChanged``:
residents by district, age band and gender, counts only. rounds keeps the latest per council
in ``population`` (``_id`` = the council), replaced whole by a newer event; an older one
delivered late (compared by ``occurred_at`` in epoch ms) changes nothing, and a redelivered
one changes nothing either. ``population_margins`` gives them to the results
(``services.rounds.weighting.rake`` takes its ``rows``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pymongo.errors import DuplicateKeyError

from contracts.recruitment import PopulationChanged
from infra.service import Runtime
from infra.store import epoch_ms
from services.rounds.weighting import DIMENSIONS, PopulationFigure


@dataclass(frozen=True)
class Population:
    """A council's population figures: where they come from, and residents per cell."""

    source: str
    """E.g. SCB 2025."""
    rows: tuple[PopulationFigure, ...]
    """(district, age band, gender, residents); district '' when the council keeps no list."""
    set_at_ms: int
    """When staff set them (epoch ms)."""

    @property
    def margins(self) -> dict[str, dict[str, int]]:
        """Residents by age band, by gender and by district (no districts: none)."""
        found: dict[str, dict[str, int]] = {d: {} for d in DIMENSIONS}
        for district, band, gender, n in self.rows:
            for dimension, group in zip(DIMENSIONS, (band, gender, district), strict=True):
                found[dimension][group] = found[dimension].get(group, 0) + n
        if set(found["district"]) <= {""}:
            found["district"] = {}
        return found


async def population_changed(rt: Runtime, evt: PopulationChanged) -> None:
    """Keep the council's newest figures (a late, older event changes nothing)."""
    at = epoch_ms(evt.occurred_at)
    document = {
        "_id": evt.tenant,  # named here too: the embedded store does not take it from the filter
        "tenant": evt.tenant,
        "source": evt.source,
        "set_at_ms": at,
        "rows": [
            {
                "district": row.district,
                "age_band": row.age_band,
                "gender": row.gender,
                "population": row.population,
            }
            for row in evt.rows
        ],
    }
    # Matches only older figures; with newer (or these very) figures in place, the upsert
    # collides with their _id and nothing changes.
    with contextlib.suppress(DuplicateKeyError):
        await rt.db.population.replace_one(
            {"_id": evt.tenant, "set_at_ms": {"$lt": at}}, document, upsert=True
        )


async def population_margins(rt: Runtime, tenant: str) -> Population | None:
    """The council's population figures, or None while recruitment has sent none."""
    doc = await rt.db.population.find_one({"_id": tenant, "tenant": tenant})
    if doc is None:
        return None
    return Population(
        source=str(doc["source"]),
        rows=tuple(
            (str(r["district"]), str(r["age_band"]), str(r["gender"]), int(r["population"]))
            for r in doc["rows"]
        ),
        set_at_ms=int(doc["set_at_ms"]),
    )
