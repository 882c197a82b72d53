"""Map questions: the council's map on the answer page (only when configured), the portal's
own grid tiles, the CSP, pins posted with their points, and the pins drawn in the results."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts.rounds import GetResults, RoundResults, SubmitResponse
from services.portal.accounts import create_account
from services.portal.maps import parse_views
from services.portal.settings import PortalSettings
from services.rounds import results as computed
from services.rounds import tallies
from tests.portal.conftest import PASSWORD, check_page, client_for, running, text_of
from tests.portal.fakes import TOKEN, FakeGateway, round_view
from tests.portal.test_answer_kinds import _open
from tests.portal.test_staff import ROUND, login
from tests.unit.test_questions import ALL, _people

TILES = "https://tiles.example.org/{z}/{x}/{y}.png"


def mapped(settings: PortalSettings, **more: Any) -> PortalSettings:
    """The test settings with a tile server and a view for every council."""
    return settings.model_copy(
        update={
            "portal_map_tiles": TILES,
            "portal_map_views": "gnosjo=57.36,13.74,12;*=58,15,10",
            "portal_map_attribution": "Kartdata: Exempel",
            **more,
        }
    )


def test_views_are_read_per_council_and_bad_entries_left_out() -> None:
    views = parse_views("gnosjo=57.36,13.74,12; *=58,15,10;kinda=x,1,2;ale=91,0,10;;bad")
    assert views == {"gnosjo": (57.36, 13.74, 12), "*": (58.0, 15.0, 10)}


async def test_without_a_tile_server_the_map_question_is_a_list_of_districts(
    client: httpx.AsyncClient, gateway: FakeGateway
) -> None:
    _open(gateway)
    response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == 200
    html = response.text
    assert "data-map-tiles" not in html
    assert "map-widget" not in html
    assert '<select id="place-0-district" name="place-0-district"' in html
    assert 'type="hidden" name="place-0-lat" value=""' in html
    assert "img-src 'self' data:;" in response.headers["content-security-policy"]
    assert (await client.get("/tiles/3/1/1.png")).status_code == 404


async def test_a_configured_map_is_offered_and_its_host_allowed_for_images_only(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    _open(gateway)
    async with running(mapped(settings), gateway) as app, client_for(app) as client:
        response = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert response.status_code == 200
    check_page(response.text)
    html = response.text
    assert f'data-map-tiles="{TILES}"' in html
    assert 'data-map-lat="57.36" data-map-lon="13.74" data-map-zoom="12"' in html
    assert 'role="application"' in html
    assert 'aria-live="polite"' in html
    assert "Kartdata: Exempel" in html
    # The district list is still there, for when the tiles do not load.
    assert '<select id="place-0-district" name="place-0-district"' in html
    csp = response.headers["content-security-policy"]
    assert "img-src 'self' data: https://tiles.example.org;" in csp
    assert csp.count("tiles.example.org") == 1
    assert "script-src 'self';" in csp


async def test_the_local_stack_serves_its_own_grid_tiles(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    local = mapped(settings, portal_map_tiles="/tiles/{z}/{x}/{y}.png", portal_map_local_tiles=True)
    async with running(local, gateway) as app, client_for(app) as client:
        tile = await client.get("/tiles/12/2204/1200.png")
        outside = await client.get("/tiles/3/8/0.png")
        _open(gateway)
        page = await client.get(f"/t/gnosjo/a/{TOKEN}")
    assert tile.status_code == 200
    assert tile.headers["content-type"] == "image/png"
    assert tile.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert outside.status_code == 404
    assert 'data-map-tiles="/tiles/{z}/{x}/{y}.png"' in page.text
    # Same origin: nothing to add to the CSP.
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]


async def test_pins_are_posted_with_their_points_through_the_same_fields(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    _open(gateway)
    async with running(mapped(settings), gateway) as app, client_for(app) as client:
        response = await client.post(
            f"/t/gnosjo/a/{TOKEN}",
            data={
                "park": "yes",
                "place-0-lat": "57.36123",
                "place-0-lon": "13.74011",
                "place-0-category": "Danger",
                "place-0-comment": "Korsningen",
                "place-1-district": "Kisa",
            },
        )
    assert response.status_code == 200, text_of(response.text)
    [command] = gateway.sent(SubmitResponse)
    assert command.model_dump(mode="json", exclude_none=True)["answers"]["place"] == [
        {"lat": 57.36123, "lon": 13.74011, "category": "Danger", "comment": "Korsningen"},
        {"district": "Kisa"},
    ]


def _results(gateway: FakeGateway, monkeypatch: Any) -> None:
    view = round_view(ROUND, state="closed", questions=ALL)
    gateway.rounds[("gnosjo", ROUND)] = view
    people = _people(
        12, {"park": "yes", "place": [{"lat": 57.361, "lon": 13.741, "category": "Nice"}]}
    ) + _people(6, {"park": "no", "place": [{"lat": 57.402, "lon": 13.702}, {"district": "Kisa"}]})
    kept = tallies.sum_cells(ALL, people)
    figures = RoundResults(
        round=view,
        response_rate=80.0,
        suppression_threshold=5,
        questions=computed.question_results(ALL, kept),
    )

    async def get_results(query: GetResults) -> RoundResults | None:
        return figures if (query.tenant, query.round_id) == ("gnosjo", ROUND) else None

    monkeypatch.setattr(gateway, "get_results", get_results)


async def test_the_results_draw_the_pins_over_the_tiles_with_a_table(
    settings: PortalSettings, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    async with running(mapped(settings), gateway) as app, client_for(app) as client:
        await create_account(app.state.portal.db, "anna", PASSWORD, "gnosjo", "panel_manager")
        await login(client, "gnosjo", "anna")
        page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
        api = await client.get(f"/api/t/gnosjo/rounds/{ROUND}/results")
    assert page.status_code == 200
    check_page(page.text)
    html = page.text
    assert 'class="pin-map" id="pin-map-place"' in html
    assert 'aria-describedby="pins-place"' in html
    assert '<image href="https://tiles.example.org/' in html
    assert html.count("<circle") >= 2
    text = text_of(html)
    for figure in ("57.365", "13.745", "57.405", "13.705"):
        assert figure in text
    # The JSON API carries the same grid.
    assert api.status_code == 200, api.text
    [place] = [q for q in api.json()["questions"] if q["key"] == "place"]
    assert {(c["lat"], c["lon"], c["category"], c["count"]) for c in place["pins"]} == {
        (57.365, 13.745, "Nice", 12),
        (57.405, 13.705, "", 6),
    }


@pytest.mark.usefixtures("accounts")
async def test_without_a_map_the_pins_are_drawn_on_a_plain_frame(
    client: httpx.AsyncClient, gateway: FakeGateway, monkeypatch: Any
) -> None:
    _results(gateway, monkeypatch)
    await login(client, "gnosjo", "anna")
    page = await client.get(f"/t/gnosjo/staff/rounds/{ROUND}/results")
    assert page.status_code == 200
    assert 'class="pin-map"' in page.text
    assert "<image" not in page.text
