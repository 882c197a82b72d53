"""Per-address rate limits: one count for every replica, kept in the portal's database, purged."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ServerSelectionTimeoutError

from contracts.recruitment import EnrolMember
from infra.store import Document
from services.portal.domain import SlidingWindow
from services.portal.limits import RateLimits
from services.portal.settings import PortalSettings
from tests.portal.conftest import client_for, running
from tests.portal.fakes import FakeGateway
from tests.portal.test_edge_limits import JOIN


async def _join(client: httpx.AsyncClient) -> int:
    return (await client.post("/t/gnosjo/join", data=JOIN)).status_code


async def test_every_replica_counts_towards_one_limit(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    limited = settings.model_copy(update={"portal_rate_limit": 5})
    async with (
        running(limited, gateway) as replica_a,
        running(limited, gateway) as replica_b,
        client_for(replica_a) as a,
        client_for(replica_b) as b,
    ):
        assert [await _join(a) for _ in range(3)] == [303, 303, 303]
        assert [await _join(b) for _ in range(2)] == [303, 303]
        # Five in all: the sixth is refused whichever replica it reaches.
        assert await _join(a) == 429
        assert await _join(b) == 429
        assert len(gateway.sent(EnrolMember)) == 5


async def test_the_counts_hold_no_client_addresses(
    app: FastAPI, db: AsyncDatabase[Document]
) -> None:
    for host in ("203.0.113.5", "2001:db8:1:2::7"):
        transport = httpx.ASGITransport(app=app, client=(host, 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert await _join(http) == 303
    ids = [doc["_id"] async for doc in db.rate_limits.find({})]
    assert len(ids) == 2
    for key in ids:
        assert re.fullmatch(r"join:[0-9a-f]{32}:\d+", key), key
        assert "203.0.113" not in key
        assert "2001" not in key


async def test_one_ipv6_client_cannot_escape_the_limit_by_changing_address(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    limited = settings.model_copy(update={"portal_rate_limit": 2})
    async with running(limited, gateway) as application:
        statuses = []
        for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
            transport = httpx.ASGITransport(app=application, client=(host, 4711))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                statuses.append(await _join(http))
        assert statuses == [303, 303, 429]
        transport = httpx.ASGITransport(app=application, client=("2001:db8:1:3::1", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert await _join(http) == 303  # another /64: another client


class Clock:
    """Wall-clock seconds that a test moves on."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_requests_arriving_together_are_counted_together_and_exactly(
    db: AsyncDatabase[Document],
) -> None:
    clock = Clock(1_800_000_000.0)
    clock.now -= clock.now % 60
    limits = RateLimits(db, b"k" * 32, SlidingWindow(limit=20, seconds=60), clock=clock)
    burst = await asyncio.gather(
        *(limits.hit("answer", "203.0.113.9") for _ in range(30)),
        *(limits.hit("answer", "203.0.113.10") for _ in range(5)),
    )
    assert [v.allowed for v in burst[:30]] == [True] * 20 + [False] * 10
    assert all(v.allowed for v in burst[30:])
    assert await db.rate_limits.count_documents({}) == 2  # one window per client


async def test_windows_are_counted_and_old_ones_purged(db: AsyncDatabase[Document]) -> None:
    clock = Clock(1_800_000_000.0)
    limits = RateLimits(db, b"k" * 32, SlidingWindow(limit=3, seconds=60), clock=clock)
    clock.now -= clock.now % 60  # the first second of a window
    verdicts = [await limits.hit("join", "203.0.113.5") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].retry_after == 60 + 30  # next window, once 4 * (1 - f) + 1 <= 3
    assert (await limits.hit("join", "203.0.113.6")).allowed  # another client
    assert (await limits.hit("answer", "203.0.113.5")).allowed  # another endpoint group
    clock.now += 90  # half into the next window: half the four still count
    assert (await limits.hit("join", "203.0.113.5")).allowed  # 2 + 1
    assert not (await limits.hit("join", "203.0.113.5")).allowed  # 2 + 2

    # Many clients over many windows: the collection holds only the last two windows.
    for _ in range(6):
        for client in range(40):
            await limits.hit("join", f"198.51.100.{client}")
        await limits.purge()
        assert await db.rate_limits.count_documents({}) <= 2 * 40 + 3
        clock.now += 60
    clock.now += 120
    await limits.purge()
    assert await db.rate_limits.count_documents({}) == 0


async def test_the_app_purges_expired_windows_in_the_background(
    settings: PortalSettings, gateway: FakeGateway
) -> None:
    short = settings.model_copy(update={"portal_rate_limit_window_seconds": 1})
    async with running(short, gateway) as application, client_for(application) as http:
        db: AsyncDatabase[Document] = application.state.portal.db
        assert [await _join(http) for _ in range(3)] == [303, 303, 303]
        assert await db.rate_limits.count_documents({}) >= 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while await db.rate_limits.count_documents({}) and loop.time() < deadline:
            await asyncio.sleep(0.2)
        assert await db.rate_limits.count_documents({}) == 0


async def test_requests_go_through_unchecked_while_the_counts_are_unavailable(
    settings: PortalSettings, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick = settings.model_copy(
        update={"portal_rate_limit": 1, "portal_rate_limit_timeout_seconds": 0.2}
    )
    async with running(quick, gateway) as application, client_for(application) as http:
        limits = application.state.portal.limits

        async def down(scope: str, address: str) -> None:
            raise ServerSelectionTimeoutError("store away")

        async def hanging(scope: str, address: str) -> None:
            await asyncio.sleep(30)

        monkeypatch.setattr(limits, "hit", down)
        assert [await _join(http) for _ in range(2)] == [303, 303]
        monkeypatch.setattr(limits, "hit", hanging)
        assert await _join(http) == 303
        metrics = (await http.get("/metrics")).text
        assert 'radslag_portal_rate_limit_unchecked_total{scope="join"} 3.0' in metrics
        assert len(gateway.sent(EnrolMember)) == 3
