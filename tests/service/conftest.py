"""Fixtures shared by the service tests that need the SMTP sink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.devtools import DevTools


@pytest.fixture
async def devtools(tmp_path: Path) -> AsyncIterator[DevTools]:
    """The SMTP sink and SMS simulator on free ports (a paused SMTP server is resumed first)."""
    tools = DevTools(tmp_path / "devtools", sms_user="u", sms_password="p")
    await tools.start()
    try:
        yield tools
    finally:
        tools.smtp.resume()
        await tools.stop()
