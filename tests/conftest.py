"""Fixtures shared by the service and end-to-end tests: real nats-server and nx-27017."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import bus_refusals, start_nats, start_store
from infra.natsauth import OPS, BusLogin
from infra.sealing import new_key


@dataclass(frozen=True)
class Infra:
    """URLs of the real servers a test runs against, and the NATS users' passwords."""

    nats_url: str
    mongodb_url: str
    nats_passwords: dict[str, str] = field(repr=False)
    nats_log: Path
    """The server's log: ``bus_refusals`` reads what it refused."""
    seal_keys: str = field(default_factory=new_key, repr=False)
    """The seal keys the services of this test share (``infra.sealing``)."""

    def login(self, user: str = OPS) -> BusLogin:
        """How ``user`` (a service, ``portal`` or ``ops``) connects to this NATS."""
        return BusLogin(self.nats_url, user, self.nats_passwords[user])

    async def connect(self, user: str = OPS, **options: Any) -> Any:
        """A NATS client logged in as ``user`` (tests inspect and publish as ``ops``)."""
        return await self.login(user).connect(**options)

    def bus(self, user: str) -> dict[str, Any]:
        """``ServiceSettings`` fields that make a service connect as ``user``."""
        return {
            "nats_url": self.nats_url,
            "nats_user": user,
            "nats_password": self.nats_passwords[user],
        }


@pytest.fixture
def infra(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Infra]:
    """A fresh nats-server (JetStream) and document store on free ports, stopped afterwards.

    The server refuses anonymous clients and holds every user's permissions, like ``make up``.
    No client may be refused anything while a test runs normally: a test that provokes
    refusals on purpose is marked ``bus_refusals``.
    """
    nats = start_nats(tmp_path / "nats")
    store = start_store(tmp_path / "store")
    assert nats.log_file is not None
    found = Infra(nats.url, store.url, dict(nats.passwords), nats.log_file)
    try:
        yield found
    finally:
        nats.stop()
        store.stop()
    if request.node.get_closest_marker("bus_refusals") is None:
        refused = bus_refusals(found.nats_log)
        assert not refused, "the bus refused a client:\n" + "\n".join(refused[:10])


@dataclass
class Stack:
    """The four back-end services, the SMTP sink and an ``ops`` bus client, on real servers."""

    infra: Infra
    devtools: Any
    services: dict[str, Any]
    nc: Any

    @property
    def js(self) -> Any:
        return self.nc.jetstream()


PORTAL_URL = "http://portal.test"


@pytest.fixture
async def stack(infra: Infra, tmp_path: Path) -> AsyncIterator[Stack]:
    """recruitment, rounds, dispatch and feedback in this process, each logged in as its own
    NATS user, mail to a local sink; ``nc`` is an ``ops`` client for the test itself."""
    from devstack.devtools import DevTools
    from infra.service import ServiceSettings
    from services.dispatch.app import DispatchSettings
    from services.dispatch.app import create_service as dispatch
    from services.feedback.app import create_service as feedback
    from services.recruitment.app import create_service as recruitment
    from services.rounds.app import create_service as rounds

    tools = DevTools(tmp_path / "devtools", sms_user="u", sms_password="p")
    await tools.start()
    common = {
        "mongodb_url": infra.mongodb_url,
        "portal_url": PORTAL_URL,
        "seal_keys": infra.seal_keys,
    }
    services = {
        "recruitment": recruitment(ServiceSettings(**common, **infra.bus("recruitment"))),
        "rounds": rounds(ServiceSettings(**common, **infra.bus("rounds"))),
        "dispatch": dispatch(
            DispatchSettings(
                **common,
                **infra.bus("dispatch"),
                smtp_port=tools.smtp_port,
                sms_url=tools.http_url,
                sms_user="u",
                sms_password="p",
            )
        ),
        "feedback": feedback(ServiceSettings(**common, **infra.bus("feedback"))),
    }
    for service in services.values():
        await service.start()
    nc = await infra.connect(OPS)
    try:
        yield Stack(infra, tools, services, nc)
    finally:
        await nc.close()
        for service in services.values():
            await service.stop()
        await tools.stop()


async def register_council(stack: Stack, tenant: str) -> None:
    """Register a council and wait until recruitment lists it."""
    from contracts.recruitment import ListTenants, RegisterTenant, TenantList
    from devstack.testing import wait_until
    from infra.bus import publish
    from infra.queries import ask

    await publish(stack.js, RegisterTenant(tenant=tenant, display_name=tenant.title()))

    async def known() -> bool:
        reply = await ask(stack.nc, ListTenants(tenant="region"), TenantList)
        return reply is not None and tenant in {t.tenant for t in reply.tenants}

    await wait_until(known, timeout=10, what=f"council {tenant}")


async def recruitment_outcome(stack: Stack, tenant: str, command_id: str) -> Any:
    """The settled outcome (done or refused) of a recruitment command, once it has one."""
    from contracts.recruitment import MembershipOutcome, Outcome
    from devstack.testing import wait_until
    from infra.queries import ask

    query = MembershipOutcome(tenant=tenant, command_id=command_id)
    found: list[Outcome] = []

    async def settled() -> bool:
        outcome = await ask(stack.nc, query, Outcome)
        if outcome is not None and outcome.status != "pending":
            found.append(outcome)
        return bool(found)

    await wait_until(settled, timeout=15, what=f"outcome of {command_id}")
    return found[0]
