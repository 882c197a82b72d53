"""Fixtures for the devtools tests (fake SMTP mailbox + SMS gateway)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from devstack.devtools import DevTools
    from devstack.testing import CallbackServer

# The repository has no installable package metadata (yet); make `import devstack`
# work when pytest is launched as a plain `pytest` from anywhere. Conftests load before
# the test modules, so their top-level `import devstack` then works; the fixtures
# below import lazily for the same reason.
_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

SMS_USER = "radslag"
SMS_PASSWORD = "s3cret"


@pytest.fixture
async def callback_server() -> AsyncIterator[CallbackServer]:
    """A recording HTTP endpoint for delivery receipts and inbound SMS."""
    from devstack.testing import CallbackServer

    async with CallbackServer() as server:
        yield server


@pytest.fixture
async def devtools(tmp_path: Path, callback_server: CallbackServer) -> AsyncIterator[DevTools]:
    """DevTools on free ports, inbound SMS forwarded to ``callback_server``/inbound."""
    from devstack.devtools import DevTools

    tools = DevTools(
        tmp_path / "data",
        sms_user=SMS_USER,
        sms_password=SMS_PASSWORD,
        sms_inbound_url=f"{callback_server.url}/inbound",
        # Short delays keep the suite fast while still exercising the async paths.
        sms_delivery_delay=0.02,
        sms_retry_delays=(0.02, 0.05),
    )
    async with tools:
        yield tools
