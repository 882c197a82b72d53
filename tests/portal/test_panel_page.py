"""The staff page of the panel's make-up: the index, the gaps as charts and tables, whom to
recruit next, the months, and loading the population figures from a file."""

from __future__ import annotations

import re

import httpx
import pytest

from contracts.recruitment import (
    PanelHistory,
    PanelMonth,
    Representativeness,
    SetPopulation,
    Share,
)
from tests.portal.conftest import check_page, form_login, text_of
from tests.portal.fakes import FakeGateway

pytestmark = pytest.mark.usefixtures("accounts")


def share(group: str, panel: float, population: float, members: int = 10) -> Share:
    return Share(
        group=group,
        members=members,
        panel_share=panel,
        population_share=population,
        gap=round(panel - population, 1),
        to_match=max(0, round((population - panel) * 2)),
    )


async def test_the_panel_page_shows_the_index_the_gaps_and_the_months(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    assert (await client.get("/t/gnosjo/staff/panel")).status_code in (303, 401)
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    empty = await client.get("/t/gnosjo/staff/panel")
    assert empty.status_code == 200
    check_page(empty.text)
    assert "Läs in kommunens befolkningssiffror" in empty.text
    gateway.representativeness = Representativeness(
        source="SCB 2025",
        index=81.4,
        members_compared=120,
        members_not_compared=4,
        by_age_band=(share("16-29", 8.0, 20.0), share("65-79", 40.0, 22.0)),
        by_gender=(share("female", 55.0, 50.0), share("male", 45.0, 50.0)),
        by_district=(share("Hillerstorp", 30.0, 35.0),),
        recruit_next=(share("Hillerstorp · 16-29 · male", 1.0, 6.0),),
        rejected_rows=(),
        by_cell=(
            share("Hillerstorp · 16-29 · female", 3.0, 5.5),
            share("Hillerstorp · 16-29 · male", 1.0, 6.0),
        ),
    )
    gateway.history = PanelHistory(
        months=(PanelMonth(month="2026-10", joined=14, left=2, size_at_end=118),)
    )
    page = await client.get("/t/gnosjo/staff/panel")
    check_page(page.text)
    text = text_of(page.text)
    assert "81.4" in text
    assert "Hillerstorp · 16-29 · Man: 10 medlemmar till" in text
    assert "2026-10" in text
    assert "-12.0" in text  # the gap of 16-29, in percentage points
    # One chart per dimension, each bar scaled to the largest share shown.
    assert page.text.count('class="share-chart"') == 3
    assert "Hillerstorp · 16-29 · Kvinna" in text  # every crossed cell, in a details element
    assert re.search(r'class="chart-panel"', page.text)


async def test_population_figures_are_loaded_from_a_file(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    await form_login(client, "/t/gnosjo/staff/login", "anna")
    page = await client.get("/t/gnosjo/staff/panel")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    body = "district;age_band;gender;population\nHillerstorp;16-29;female;412\n"
    missing = await client.post(
        "/t/gnosjo/staff/panel/population", data={"csrf_token": csrf.group(1), "source": ""}
    )
    assert missing.status_code == 400
    check_page(missing.text)
    bad = await client.post(
        "/t/gnosjo/staff/panel/population",
        data={"csrf_token": csrf.group(1), "source": "SCB 2025"},
        files={"population": ("pop.csv", b"district,age\nx,y\n", "text/csv")},
    )
    assert bad.status_code == 400
    assert "Missing columns" in bad.text
    loaded = await client.post(
        "/t/gnosjo/staff/panel/population",
        data={"csrf_token": csrf.group(1), "source": "SCB 2025"},
        files={"population": ("pop.csv", body.encode(), "text/csv")},
    )
    assert loaded.status_code == 303
    [command] = gateway.sent(SetPopulation)
    assert command.source == "SCB 2025"
    assert [(r.district, r.age_band, r.gender, r.population) for r in command.rows] == [
        ("Hillerstorp", "16-29", "female", 412)
    ]


async def test_the_panel_page_shows_the_index_over_time(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    from contracts.recruitment import IndexPoint, RepresentativenessHistory

    await form_login(client, "/t/gnosjo/staff/login", "anna")
    gateway.index_history = RepresentativenessHistory(
        points=(
            IndexPoint(day="2026-10-31", index=71.2, members_compared=100),
            IndexPoint(day="2026-11-24", index=74.9, members_compared=118),
        )
    )
    page = await client.get("/t/gnosjo/staff/panel")
    check_page(page.text)
    text = text_of(page.text)
    assert "Indexet över tid" in text
    assert "2026-10-31 71.2 100" in text
