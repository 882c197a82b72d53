"""Run one service process: ``python -m services.<name>`` calls ``run`` with its factory."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import uvicorn

from infra.logging import configure
from infra.service import Service


def run(create_service: Callable[[], Service], argv: list[str] | None = None) -> None:
    """Parse ``--host/--port``, configure logging, serve health/metrics and the consumers."""
    service = create_service()
    settings = service.settings
    parser = argparse.ArgumentParser(prog=f"python -m services.{service.name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    configure(service.name, settings.log_level)
    uvicorn.run(
        service.http_app(), host=args.host, port=args.port, log_config=None, access_log=False
    )
