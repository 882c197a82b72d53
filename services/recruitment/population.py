"""The council's population figures travel to rounds, which weights results to them.

``set_population`` (handlers) writes the figures and, in the same document update, the
``PopulationChanged`` that carries them (the cells it took: counts only). The event's id is
derived from the command's, and its ``occurred_at`` is the command's, so a redelivered
command publishes the same event and rounds keeps whichever figures staff set last.

Figures set before rounds needed them never announced themselves: at start, recruitment
announces every council's figures that have not been (``announce_earlier``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from contracts.recruitment import PopulationChanged, PopulationRow, SetPopulation
from infra.service import Runtime
from infra.store import Document, with_outbox
from infra.tokens import derived_id
from services.recruitment.representativeness import Cell

log = structlog.get_logger()

ANNOUNCED = "announced_at_ms"
"""The figures' ``set_at_ms`` once their ``PopulationChanged`` rides in the document."""


def changed(cmd: SetPopulation, cells: dict[Cell, int]) -> PopulationChanged:
    """The event that tells rounds the figures ``cmd`` set (the cells it took)."""
    return PopulationChanged.follow(
        cmd,
        message_id=derived_id(cmd.message_id, PopulationChanged.name),
        occurred_at=cmd.occurred_at,
        source=cmd.source,
        rows=_rows(cells),
    )


def _rows(cells: dict[Cell, int]) -> tuple[PopulationRow, ...]:
    return tuple(
        PopulationRow(district=d, age_band=b, gender=g, population=n)
        for (d, b, g), n in cells.items()
    )


async def announce_earlier(rt: Runtime) -> None:
    """Announce every council's figures written before they were announced (once: the
    update is guarded by the figures it read, so a newer setting wins)."""
    async for doc in rt.db.populations.find({ANNOUNCED: {"$exists": False}}):
        event = _announcement(doc)
        result = await rt.db.populations.update_one(
            {"_id": doc["_id"], "set_at_ms": doc["set_at_ms"], ANNOUNCED: {"$exists": False}},
            with_outbox({"$set": {ANNOUNCED: doc["set_at_ms"]}}, event),
        )
        if result.modified_count:
            log.info("population figures announced", tenant=doc["_id"])
            await rt.flush("populations", [doc["_id"]])


def _announcement(doc: Document) -> PopulationChanged:
    at = int(doc["set_at_ms"])
    return PopulationChanged(
        tenant=str(doc["_id"]),
        message_id=derived_id(str(doc["_id"]), str(at), PopulationChanged.name),
        occurred_at=datetime.fromtimestamp(at / 1000, UTC),
        source=str(doc["source"]),
        rows=_rows(
            {
                (c["district"], c["age_band"], c["gender"]): int(c["population"])
                for c in doc["cells"]
            }
        ),
    )
