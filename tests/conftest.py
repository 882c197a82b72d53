"""Fixtures shared by the service and end-to-end tests: real nats-server and nx-27017."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.processes import start_nats, start_store


@dataclass(frozen=True)
class Infra:
    """URLs of the real servers a test runs against."""

    nats_url: str
    mongodb_url: str


@pytest.fixture
def infra(tmp_path: Path) -> Iterator[Infra]:
    """A fresh nats-server (JetStream) and document store on free ports, stopped afterwards."""
    nats = start_nats(tmp_path / "nats")
    store = start_store(tmp_path / "store")
    try:
        yield Infra(nats.url, store.url)
    finally:
        nats.stop()
        store.stop()
