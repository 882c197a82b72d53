"""The whole system as real processes (as `make up` runs it) on free ports, seeded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import LocalStack, Ports


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Every process started, demo data seeded, everything stopped afterwards."""
    stack = LocalStack(Path(tmp_path_factory.mktemp("system")), Ports.free())
    stack.start()
    try:
        asyncio.run(stack.seed(members_per_council=12))
        yield stack
    finally:
        stack.stop()
    # Every permission the whole system needs is granted: the bus refused nothing.
    refused = stack.bus_refusals()
    assert not refused, "the bus refused a client:\n" + "\n".join(refused[:10])
