"""Fixtures shared by the service and end-to-end tests: real nats-server and nx-27017."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import start_nats, start_store
from infra.sealing import new_key


@dataclass(frozen=True)
class Infra:
    """URLs of the real servers a test runs against."""

    nats_url: str
    mongodb_url: str
    seal_keys: str
    """The seal keys the services of this test share (``infra.sealing``)."""


@pytest.fixture
def infra(tmp_path: Path) -> Iterator[Infra]:
    """A fresh nats-server (JetStream) and document store on free ports, stopped afterwards."""
    nats = start_nats(tmp_path / "nats")
    store = start_store(tmp_path / "store")
    try:
        yield Infra(nats.url, store.url, new_key())
    finally:
        nats.stop()
        store.stop()


@dataclass
class Stack:
    """The four back-end services, the SMTP sink and a bus client, all on real servers."""

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
    """recruitment, rounds, dispatch and feedback in this process, mail to a local sink."""
    import nats

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
        "nats_url": infra.nats_url,
        "mongodb_url": infra.mongodb_url,
        "portal_url": PORTAL_URL,
        "seal_keys": infra.seal_keys,
    }
    services = {
        "recruitment": recruitment(ServiceSettings(**common)),
        "rounds": rounds(ServiceSettings(**common)),
        "dispatch": dispatch(DispatchSettings(**common, smtp_port=tools.smtp_port)),
        "feedback": feedback(ServiceSettings(**common)),
    }
    for service in services.values():
        await service.start()
    nc = await nats.connect(infra.nats_url)
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
