"""A real portal (fake back ends, real document store) on 127.0.0.1, and headless Chromium.

The portal runs in a thread under uvicorn with ``FakeGateway`` (as the portal tests use it)
and the local grid tiles, so the map question's map loads from the portal itself. Chromium is
Debian's (``/usr/bin/chromium`` with ``/usr/bin/chromedriver``): the tests skip, saying so,
only when it is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from contracts.rounds import InvitationView, RoundResults
from devstack.processes import free_port, start_store
from infra.store import connect, database
from services.portal.accounts import create_account
from services.portal.app import create_app
from services.portal.settings import PortalSettings
from services.rounds import results as computed
from services.rounds import tallies
from tests.portal.conftest import PASSWORD
from tests.portal.fakes import TOKEN, FakeGateway, round_view
from tests.portal.test_staff import ROUND
from tests.unit.test_questions import ALL, _people

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip(
        "browser checks need Debian's chromium and chromium-driver (/usr/bin/chromium, "
        "/usr/bin/chromedriver): apt-get install chromium chromium-driver",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (only once Chromium is known to be there)
from selenium.webdriver.chrome.service import Service  # noqa: E402


@dataclass
class Portal:
    """The running portal: its address and the fake back ends it talks to."""

    url: str
    gateway: FakeGateway


def _gateway() -> FakeGateway:
    gateway = FakeGateway()
    gateway.tenants[0] = gateway.tenants[0].model_copy(
        update={"districts": ("Gnosjö centrum", "Hillerstorp")}
    )
    gateway.invitations[("gnosjo", TOKEN)] = InvitationView(
        status="open", title="Parken", purpose="Planen för parken.", questions=ALL
    )
    view = round_view(ROUND, state="closed", questions=ALL)
    gateway.rounds[("gnosjo", ROUND)] = view
    people = _people(
        12,
        {
            "park": "yes",
            "how": ["Walk"],
            "happy": 4,
            "visits": 10,
            "why": "Lugnt",
            "rank": ["Lights", "Toilets", "Benches"],
            "place": [{"lat": 57.361, "lon": 13.741, "category": "Nice", "district": "Kisa"}],
        },
    ) + _people(6, {"park": "no", "place": [{"lat": 57.402, "lon": 13.702}]}, gender="male")
    kept = tallies.sum_cells(ALL, people)
    figures = RoundResults(
        round=view,
        response_rate=45.0,
        suppression_threshold=5,
        questions=computed.question_results(ALL, kept),
        by_day=computed.by_day(kept, 40),
        by_channel=computed.by_channel(kept),
    )

    async def get_results(query: object) -> RoundResults | None:
        return figures

    gateway.get_results = get_results  # type: ignore[method-assign]
    return gateway


async def _staff(url: str) -> None:
    client = connect(url)
    try:
        await create_account(
            database(client, "portal"), "anna", PASSWORD, "gnosjo", "panel_manager"
        )
    finally:
        await client.close()


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """The portal with a round of every kind to answer, its results and a staff account."""
    store = start_store(tmp_path_factory.mktemp("browser-store"))
    port = free_port()
    settings = PortalSettings(
        mongodb_url=store.url,
        nats_url="nats://127.0.0.1:1",
        portal_url=f"http://127.0.0.1:{port}",
        devtools_url=None,
        service_health_urls="",
        portal_outcome_wait_seconds=0.3,
        portal_rate_limit=1000,
        portal_map_tiles="/tiles/{z}/{x}/{y}.png",
        portal_map_local_tiles=True,
        portal_map_views="*=57.36,13.74,12",
        portal_map_attribution="Rutnät utan kartdata",
    )
    gateway = _gateway()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, gateway), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        asyncio.run(_staff(store.url))
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.05)
        yield Portal(f"http://127.0.0.1:{port}", gateway)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile, 1280 × 900, that loads nothing from outside."""
    profile = tempfile.mkdtemp(prefix="radslag-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
