"""Helpers for tests that drive the devtools: polling with a deadline and a callback sink.

Kept in the package (not in a conftest) so any test suite of the project can import
them, e.g. to wait for a login mail or an SMS delivery receipt.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar, overload
from urllib.parse import parse_qsl, urlsplit

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for CLI/subprocess tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


async def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    what: str = "condition",
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns a truthy value; return it.

    Raises ``TimeoutError`` naming ``what`` once ``timeout`` seconds have passed, so
    tests never sleep blindly and never hang.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request seen by :class:`CallbackServer`."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes


class CallbackServer:
    """Minimal HTTP/1.1 server on 127.0.0.1 recording every request (e.g. SMS callbacks).

    Hand-rolled on ``asyncio.start_server`` rather than uvicorn because it starts and
    stops instantly, which keeps suites that create one per test fast. Supports
    keep-alive and ``Content-Length`` bodies, which is all httpx callbacks need.
    """

    def __init__(self) -> None:
        self.received: list[ReceivedRequest] = []
        self._statuses: list[int] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """Bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("CallbackServer not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43210``."""
        return f"http://{LOOPBACK}:{self.port}"

    def respond_with(self, *statuses: int) -> None:
        """Answer the next requests with these status codes (afterwards 200 again)."""
        self._statuses.extend(statuses)

    async def start(self) -> None:
        """Start listening on a free loopback port."""
        self._server = await asyncio.start_server(self._handle, LOOPBACK, 0)

    async def stop(self) -> None:
        """Stop listening and close open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        """All recorded requests whose path (without query) equals ``path``."""
        return [r for r in self.received if r.path == path]

    async def wait_for(
        self, path: str, count: int = 1, *, timeout: float = 5.0
    ) -> list[ReceivedRequest]:
        """Wait until ``count`` requests hit ``path``; return them."""
        return await wait_until(
            lambda: found if len(found := self.requests_to(path)) >= count else None,
            timeout=timeout,
            what=f"{count} request(s) to {path}",
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    break
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                form: dict[str, str] = {}
                if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                self.received.append(
                    ReceivedRequest(method, urlsplit(target).path, headers, form, body)
                )
                status = self._statuses.pop(0) if self._statuses else 200
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: 2\r\n\r\nok".encode("latin-1")
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # client went away or sent garbage: just drop the connection
        finally:
            self._writers.discard(writer)
            writer.close()
