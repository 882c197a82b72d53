"""One process running the fake mail and SMS providers for local development and tests.

* an SMTP server (see :mod:`devstack.mailbox`) that stores every mail;
* an HTTP server (FastAPI on uvicorn) serving the 46elks-style SMS API
  (see :mod:`devstack.sms_gateway`), the mailbox read endpoints under ``/dev/mail``
  and ``/health/live``.

Both run in the same asyncio event loop and bind to 127.0.0.1 only.

CLI::

    python -m devstack.devtools --data-dir DIR --smtp-port N --http-port M \\
        --sms-user U --sms-password P [--sms-inbound-url URL] [--sms-outage]

In-process (e.g. a pytest fixture)::

    async with DevTools(tmp_path, sms_user="u", sms_password="p") as devtools:
        devtools.smtp_port, devtools.http_url
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Self

import uvicorn
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response

from devstack.mailbox import Mailbox
from devstack.sms_gateway import SmsGateway, create_sms_router
from devstack.smtp_server import MailboxSMTPServer

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 10.0


def create_app(mailbox: Mailbox, sms: SmsGateway) -> FastAPI:
    """Build the devtools HTTP app: SMS API, mailbox read endpoints and liveness."""
    app = FastAPI(title="Rådslag devtools", docs_url="/dev/docs", openapi_url="/dev/openapi.json")
    app.include_router(create_sms_router(sms))

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/dev/mail")
    async def list_mail(
        limit: Annotated[int, Query(ge=0, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        to: str | None = None,
    ) -> dict[str, Any]:
        page, total = mailbox.list_mails(limit=limit, offset=offset, to=to)
        return {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": [summary.to_dict() for summary in page],
        }

    # Declared before /dev/mail/{mail_id} so "count" is not taken for an id.
    @app.get("/dev/mail/count")
    async def mail_count() -> dict[str, int]:
        return {"count": mailbox.count()}

    @app.get("/dev/mail/{mail_id}")
    async def get_mail(mail_id: str) -> JSONResponse:
        mail = mailbox.get_mail(mail_id)
        if mail is None:
            return JSONResponse({"error": "No such mail."}, status_code=404)
        return JSONResponse(mail.to_dict())

    @app.get("/dev/mail/{mail_id}/raw")
    async def get_raw_mail(mail_id: str) -> Response:
        raw = mailbox.raw_mail(mail_id)
        if raw is None:
            return JSONResponse({"error": "No such mail."}, status_code=404)
        return Response(raw, media_type="message/rfc822")

    return app


class _UvicornServer(uvicorn.Server):
    """uvicorn server that leaves signal handling to its owner.

    uvicorn's own handlers replace the process' SIGINT/SIGTERM handlers while serving
    and re-raise the signal afterwards, which would kill us before the SMTP server and
    pending SMS callbacks are shut down.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(port: int) -> socket.socket:
    # Binding ourselves (instead of letting uvicorn do it) turns "port in use" into a
    # plain OSError from start() rather than a SystemExit inside a background task, and
    # makes port 0 usable because we can read the chosen port back.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


class DevTools:
    """Fake mail + SMS providers running in the current event loop.

    Single use: ``await start()`` once, ``await stop()`` once (or use ``async with``).
    Ports given as 0 are chosen by the OS; read :attr:`smtp_port` / :attr:`http_port`
    after :meth:`start`.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        sms_user: str,
        sms_password: str,
        sms_inbound_url: str | None = None,
        smtp_port: int = 0,
        http_port: int = 0,
        sms_outage: bool = False,
        sms_delivery_delay: float = 0.2,
        sms_retry_delays: Sequence[float] = (0.5, 1.0, 2.0),
        access_log: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.mailbox = Mailbox(self.data_dir)
        self.sms = SmsGateway(
            self.data_dir,
            username=sms_user,
            password=sms_password,
            inbound_url=sms_inbound_url,
            outage=sms_outage,
            delivery_delay=sms_delivery_delay,
            retry_delays=sms_retry_delays,
        )
        self.app = create_app(self.mailbox, self.sms)
        self.smtp = MailboxSMTPServer(self.mailbox, host=HOST, port=smtp_port)
        self._requested_http_port = http_port
        self._http_port: int | None = None
        self._access_log = access_log
        self._server: _UvicornServer | None = None
        self._server_task: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        """Address both servers are bound to."""
        return HOST

    @property
    def smtp_port(self) -> int:
        """Bound SMTP port (after :meth:`start`)."""
        return self.smtp.port

    @property
    def http_port(self) -> int:
        """Bound HTTP port (after :meth:`start`)."""
        if self._http_port is None:
            raise RuntimeError("DevTools not started")
        return self._http_port

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP server, e.g. ``http://127.0.0.1:8025``."""
        return f"http://{HOST}:{self.http_port}"

    async def start(self) -> None:
        """Start SMS gateway, SMTP server and HTTP server; returns once all accept."""
        try:
            await self.sms.start()
            await self.smtp.start()
            await self._start_http()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "devtools ready: smtp=%s:%d http=%s data=%s",
            HOST,
            self.smtp_port,
            self.http_url,
            self.data_dir,
        )

    async def _start_http(self) -> None:
        sock = _bind(self._requested_http_port)
        self._http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            # log_config=None: do not let uvicorn reconfigure the host's logging.
            log_config=None,
            access_log=self._access_log,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        server = _UvicornServer(config)
        self._server = server
        self._server_task = asyncio.create_task(server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STARTUP_TIMEOUT
        try:
            while not server.started:
                if self._server_task.done():
                    # Surface uvicorn's startup failure (exception or SystemExit).
                    self._server_task.result()
                    raise RuntimeError("HTTP server exited during startup")
                if loop.time() > deadline:
                    raise TimeoutError("HTTP server did not start in time")
                await asyncio.sleep(0.01)
        except BaseException:
            sock.close()
            raise

    async def stop(self) -> None:
        """Stop HTTP first (no new work), then SMTP, then pending SMS callbacks."""
        server, task = self._server, self._server_task
        self._server = self._server_task = None
        if server is not None and task is not None:
            server.should_exit = True
            try:
                await asyncio.wait_for(task, timeout=_SHUTDOWN_TIMEOUT)
            except TimeoutError:
                log.error("HTTP server did not stop in time; cancelled")
            except (Exception, SystemExit):
                log.exception("HTTP server failed")
        await self.smtp.stop()
        await self.sms.stop()
        self.mailbox.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m devstack.devtools``."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.devtools",
        description="Fake SMTP mailbox + 46elks-style SMS gateway on 127.0.0.1.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="where mail/ and sms/ live")
    parser.add_argument("--smtp-port", type=int, default=1025, help="SMTP port (0 = any)")
    parser.add_argument("--http-port", type=int, default=8025, help="HTTP port (0 = any)")
    parser.add_argument("--sms-user", required=True, help="Basic auth username for /a1/sms")
    parser.add_argument("--sms-password", required=True, help="Basic auth password for /a1/sms")
    parser.add_argument(
        "--sms-inbound-url", default="", help="where simulated inbound SMS are POSTed"
    )
    parser.add_argument(
        "--sms-outage", action="store_true", help="start with the simulated outage on (503)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    parser.add_argument("--log-level", default="INFO", help="stdlib logging level")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    devtools = DevTools(
        args.data_dir,
        sms_user=args.sms_user,
        sms_password=args.sms_password,
        sms_inbound_url=args.sms_inbound_url or None,
        smtp_port=args.smtp_port,
        http_port=args.http_port,
        sms_outage=args.sms_outage,
        access_log=args.access_log,
    )
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        await devtools.start()
        await stop_requested.wait()
        log.info("shutting down")
    finally:
        await devtools.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        log.error("cannot start devtools: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
