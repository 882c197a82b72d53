"""The council's population figures travel from recruitment to rounds on the real stack:
staff set them through recruitment, rounds keeps the rows recruitment took, newer figures
replace them, older ones delivered late change nothing, and figures set before rounds kept
them are announced once at start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.recruitment import (
    ListTenants,
    PopulationChanged,
    PopulationRow,
    RegisterTenant,
    SetPopulation,
    TenantList,
)
from devstack.testing import wait_until
from infra.bus import publish
from infra.queries import ask
from infra.store import epoch_ms
from services.recruitment import population as announcing
from services.rounds.population import Population, population_margins
from services.rounds.weighting import rake
from tests.conftest import Stack

T = "kinda"
BANDS = ("16-29", "30-44", "45-64", "65-79", "80+")


def figures(scale: int) -> tuple[PopulationRow, ...]:
    return tuple(
        PopulationRow(district=d, age_band=b, gender=g, population=scale * (i + 1))
        for d in ("Kisa", "Rimforsa")
        for i, b in enumerate(BANDS)
        for g in ("female", "male")
    )


async def _council(stack: Stack) -> None:
    await publish(
        stack.js,
        RegisterTenant(tenant=T, display_name="Kinda kommun", districts=("Kisa", "Rimforsa")),
    )

    async def listed() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and any(
            t.tenant == T and t.districts == ("Kisa", "Rimforsa") for t in reply.tenants
        )

    await wait_until(listed, timeout=10, what="the council")


async def _in_rounds(stack: Stack, tenant: str, source: str) -> Population:
    rt = stack.services["rounds"].runtime

    async def arrived() -> Population | None:
        found = await population_margins(rt, tenant)
        return found if found is not None and found.source == source else None

    return await wait_until(arrived, timeout=15, what=f"{source} in rounds")


async def _idle(stack: Stack, stream: str, consumer: str) -> None:
    """Every message published so far to ``consumer`` has been handled and acked."""

    async def idle() -> bool:
        info = await stack.js.consumer_info(stream, consumer)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_until(idle, timeout=15, what=consumer)


async def test_population_figures_set_in_recruitment_reach_rounds(stack: Stack) -> None:
    await _council(stack)
    rounds = stack.services["rounds"].runtime
    assert await population_margins(rounds, T) is None

    # A row for a district the council does not list is refused by recruitment: it never
    # reaches rounds.
    stray = PopulationRow(district="Nowhere", age_band="16-29", gender="male", population=9)
    first = SetPopulation(tenant=T, source="SCB 2025", rows=(*figures(100), stray))
    await publish(stack.js, first)
    found = await _in_rounds(stack, T, "SCB 2025")
    assert sorted(found.rows) == sorted(
        (r.district, r.age_band, r.gender, r.population) for r in figures(100)
    )
    assert found.set_at_ms == epoch_ms(first.occurred_at)
    assert found.margins["district"] == {"Kisa": 3000, "Rimforsa": 3000}
    assert found.margins["gender"] == {"female": 3000, "male": 3000}
    assert found.margins["age_band"]["80+"] == 2 * 2 * 500
    # What the results will do with them: weights to these margins.
    answered = {(r.age_band, r.gender, r.district): 4 for r in figures(1) if r.age_band != "30-44"}
    answered["80+", "female", "Kisa"] = 20
    weights = rake(answered, found.rows)
    assert weights.converged
    assert {g.group for g in weights.unmatched} == {"30-44"}

    # The event rode in recruitment's document and has left it.
    recruitment = stack.services["recruitment"].runtime.db

    async def relayed() -> bool:
        doc = await recruitment.populations.find_one({"_id": T})
        return doc is not None and doc.get("outbox_pending") == 0

    await wait_until(relayed, timeout=10, what="the outbox emptied")

    # Newer figures replace them.
    second = SetPopulation(tenant=T, source="SCB 2026", rows=figures(200))
    await publish(stack.js, second)
    found = await _in_rounds(stack, T, "SCB 2026")
    assert found.margins["district"] == {"Kisa": 6000, "Rimforsa": 6000}

    # Older figures arriving late change nothing: an event straight to rounds, and a command
    # to recruitment that is older than what it holds (it publishes nothing).
    late = PopulationChanged(
        tenant=T,
        source="SCB 2024",
        rows=figures(50),
        occurred_at=first.occurred_at - timedelta(days=1),
    )
    await publish(stack.js, late)
    stale = SetPopulation(
        tenant=T,
        source="SCB 2023",
        rows=figures(10),
        occurred_at=first.occurred_at - timedelta(days=2),
    )
    await publish(stack.js, stale)
    await _idle(stack, "RECRUITMENT_CMD", "recruitment_set_population")
    # The same event again (a redelivery) changes nothing either.
    again = PopulationChanged(
        tenant=T, source="SCB 2026 again", rows=figures(300), occurred_at=second.occurred_at
    )
    await publish(stack.js, again)
    await _idle(stack, "RECRUITMENT_EVT", "rounds_population_changed")
    kept = await population_margins(rounds, T)
    assert kept is not None
    assert (kept.source, kept.set_at_ms) == ("SCB 2026", epoch_ms(second.occurred_at))
    assert kept.margins["district"] == {"Kisa": 6000, "Rimforsa": 6000}
    doc = await recruitment.populations.find_one({"_id": T})
    assert doc is not None
    assert doc["source"] == "SCB 2026"


async def test_figures_set_before_rounds_kept_them_are_announced_once(stack: Stack) -> None:
    # Figures as recruitment stored them before it announced any (no outbox, no mark).
    recruitment = stack.services["recruitment"].runtime
    at = epoch_ms(datetime(2026, 3, 1, tzinfo=UTC))
    await recruitment.db.populations.insert_one(
        {
            "_id": "ale",
            "tenant": "ale",
            "source": "SCB 2024",
            "set_at_ms": at,
            "cells": [
                {"district": "", "age_band": r.age_band, "gender": r.gender, "population": 7}
                for r in figures(1)[:10]
            ],
            "rejected": [],
        }
    )
    await announcing.announce_earlier(recruitment)
    await announcing.announce_earlier(recruitment)  # a second start announces nothing more
    found = await _in_rounds(stack, "ale", "SCB 2024")
    assert found.set_at_ms == at
    assert len(found.rows) == 10
    assert found.margins["district"] == {}  # the council keeps no district list
    assert found.margins["gender"] == {"female": 35, "male": 35}

    async def announced() -> bool:
        doc = await recruitment.db.populations.find_one({"_id": "ale"})
        assert doc is not None
        assert doc[announcing.ANNOUNCED] == at
        return doc["outbox_pending"] == 0 and not doc.get("outbox")

    await wait_until(announced, timeout=10, what="the announcement relayed")
