"""``python -m services.portal --host 127.0.0.1 --port 8000``: serve the portal with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from infra.logging import configure
from services.portal.app import create_app
from services.portal.settings import PortalSettings


def main(argv: list[str] | None = None) -> None:
    """Parse ``--host/--port``, configure JSON logs and serve the portal."""
    parser = argparse.ArgumentParser(prog="python -m services.portal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    settings = PortalSettings()
    configure("portal", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.portal_trusted_proxies,
    )


if __name__ == "__main__":
    main()
