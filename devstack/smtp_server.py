"""The mailbox's SMTP server: accepts every mail and hands it to a :class:`Mailbox`, except
to addresses at a ``.invalid`` domain, which it refuses for good (550), as a real server
refuses a mailbox that does not exist.

A small ``asyncio.Protocol`` speaking the part of SMTP (RFC 5321) a mailer uses: EHLO/HELO,
MAIL, RCPT, DATA, RSET, NOOP, VRFY, HELP, QUIT, with 8BITMIME, SMTPUTF8, SIZE and
PIPELINING. No auth, no TLS: it binds to loopback only.

Not aiosmtpd, which this replaced: a round's invitations send a thousand mails a second
through here, and aiosmtpd's general machinery cost about 0.4 ms of CPU per mail, on the same
two cores as the services under test; this costs about a third of that. Replies to pipelined
commands go out in one write.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.mailbox import Mailbox

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
MAX_COMMAND = 4096
"""Longest command line accepted (RFC 5321 asks for 512, extensions add to it)."""
MAX_SIZE = 32 * 1024 * 1024
"""Largest mail accepted, in bytes (announced as SIZE)."""
IDLE_TIMEOUT = 60.0
"""Seconds a connection may sit idle: pooled clients reconnect cheaply, leaked ones go away."""

_PATH = re.compile(rb"^(?:FROM|TO):\s*<([^>]*)>\s*(.*)$", re.IGNORECASE)
_SIZE = re.compile(rb"(?:^|\s)SIZE=(\d+)", re.IGNORECASE)


class _Session(asyncio.Protocol):
    """One client connection: a line-by-line command loop, then the mail text after DATA."""

    def __init__(self, server: MailboxSMTPServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._scan_from = 0
        self._greeted = False
        self._mail_from: str | None = None
        self._rcpt_tos: list[str] = []
        self._in_data = False
        self._too_big = False
        self._quitting = False
        self._waiting: asyncio.Task[None] | None = None
        self._last_active = 0.0
        self._idle_check: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.sessions.add(self)
        loop = asyncio.get_running_loop()
        self._last_active = loop.time()
        self._idle_check = loop.call_later(IDLE_TIMEOUT, self._check_idle)
        transport.write(f"220 {self._server.hostname} ESMTP Rådslag mailbox\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.sessions.discard(self)
        if self._idle_check is not None:
            self._idle_check.cancel()
        if self._waiting is not None:
            self._waiting.cancel()  # the client left while held: nothing was delivered
        self._transport = None

    def close(self) -> None:
        """Hang up (server stop or idle timeout)."""
        if self._transport is not None:
            self._transport.close()

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._last_active
        if idle >= IDLE_TIMEOUT and self._waiting is None:
            self._reply(b"421 Timeout, closing the connection\r\n")
            self.close()
            return
        self._idle_check = loop.call_later(max(IDLE_TIMEOUT - idle, 1.0), self._check_idle)

    def data_received(self, data: bytes) -> None:
        self._last_active = asyncio.get_running_loop().time()
        self._buffer += data
        self._process()

    def _reply(self, reply: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(reply)

    # -- protocol ------------------------------------------------------------------

    def _process(self) -> None:
        """Handle every complete command (or mail text) in the buffer; reply in one write."""
        replies: list[bytes] = []
        while self._waiting is None and self._transport is not None and not self._quitting:
            if self._in_data:
                if not self._take_data(replies):
                    break
                continue
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_COMMAND:
                    self._buffer.clear()
                    replies.append(b"500 Line too long\r\n")
                break
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            reply = self._command(line)
            if reply:
                replies.append(reply)
        if replies:
            self._reply(b"".join(replies))
        if self._quitting:
            self.close()

    def _command(self, line: bytes) -> bytes:
        if len(line) > MAX_COMMAND:
            return b"500 Line too long\r\n"
        verb, _, arg = line.partition(b" ")
        name = verb.upper()
        hostname = self._server.hostname.encode()
        if name == b"EHLO" or name == b"HELO":
            if not arg.strip():
                return b"501 Syntax: " + name + b" hostname\r\n"
            self._greeted = True
            self._reset()
            if name == b"HELO":
                return b"250 " + hostname + b"\r\n"
            return (
                b"250-" + hostname + b"\r\n"
                b"250-SIZE " + str(MAX_SIZE).encode() + b"\r\n"
                b"250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250 HELP\r\n"
            )
        if name == b"MAIL":
            return self._mail(arg)
        if name == b"RCPT":
            return self._rcpt(arg)
        if name == b"DATA":
            if arg:
                return b"501 Syntax: DATA\r\n"
            if not self._rcpt_tos:
                return b"503 Error: need RCPT command\r\n"
            self._in_data = True
            self._scan_from = 0
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if name == b"RSET":
            self._reset()
            return b"250 OK\r\n"
        if name == b"NOOP":
            return b"250 OK\r\n"
        if name == b"QUIT":
            self._quitting = True
            return b"221 Bye\r\n"
        if name == b"VRFY":
            return b"252 Cannot VRFY user, but will accept message and attempt delivery\r\n"
        if name == b"HELP":
            return b"250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY\r\n"
        return b'500 Error: command "' + name[:20] + b'" not recognized\r\n'

    def _mail(self, arg: bytes) -> bytes:
        if not self._greeted:
            return b"503 Error: send HELO first\r\n"
        if self._mail_from is not None:
            return b"503 Error: nested MAIL command\r\n"
        match = _PATH.match(arg)
        if match is None or not arg.upper().startswith(b"FROM:"):
            return b"501 Syntax: MAIL FROM: <address>\r\n"
        size = _SIZE.search(match.group(2))
        if size is not None and int(size.group(1)) > MAX_SIZE:
            return b"552 Error: message size exceeds fixed maximum message size\r\n"
        self._mail_from = match.group(1).decode("utf-8", "replace")
        return b"250 OK\r\n"

    def _rcpt(self, arg: bytes) -> bytes:
        if self._mail_from is None:
            return b"503 Error: need MAIL command\r\n"
        match = _PATH.match(arg)
        if match is None or not arg.upper().startswith(b"TO:") or not match.group(1):
            return b"501 Syntax: RCPT TO: <address>\r\n"
        address = match.group(1).decode("utf-8", "replace")
        if address.rpartition("@")[2].lower().endswith(".invalid"):
            # RFC 2606's reserved domain: how tests and demos get a permanent refusal.
            return b"550 5.1.1 Mailbox unavailable\r\n"
        if not self._server.open.is_set():
            # Paused: hold this transaction (and what the client sent after it) until resumed.
            self._waiting = asyncio.get_running_loop().create_task(self._hold(address))
            return b""
        self._rcpt_tos.append(address)
        return b"250 OK\r\n"

    async def _hold(self, address: str) -> None:
        self._server.held += 1
        try:
            await self._server.open.wait()
        finally:
            self._server.held -= 1
            self._waiting = None
        self._rcpt_tos.append(address)
        self._reply(b"250 OK\r\n")
        self._process()

    def _take_data(self, replies: list[bytes]) -> bool:
        """Consume the mail text up to the lone "." line; False if it has not all arrived."""
        if self._buffer.startswith(b".\r\n"):
            end, text = 0, b""
        else:
            found = self._buffer.find(b"\r\n.\r\n", self._scan_from)
            if found < 0:
                self._scan_from = max(len(self._buffer) - 4, 0)
                if len(self._buffer) > MAX_SIZE:
                    # Keep reading to the end, but not keeping: the mail is refused then.
                    self._too_big = True
                    del self._buffer[: self._scan_from]
                    self._scan_from = 0
                return False
            end = found + 2
            text = bytes(self._buffer[:end])
        del self._buffer[: end + 3]
        self._in_data = False
        if self._too_big:
            replies.append(b"552 Error: message too big\r\n")
        else:
            replies.append(self._deliver(text.replace(b"\r\n..", b"\r\n.").removeprefix(b".")))
        self._reset()
        return True

    def _deliver(self, content: bytes) -> bytes:
        try:
            summary = self._server.mailbox.store(self._mail_from or "", self._rcpt_tos, content)
        except OSError:
            log.exception("could not store mail")
            return b"451 Requested action aborted: local error in processing\r\n"
        log.debug("stored mail %s for %s", summary.id, summary.rcpt_tos)
        return b"250 Message accepted for delivery\r\n"

    def _reset(self) -> None:
        self._mail_from = None
        self._rcpt_tos = []
        self._too_big = False


class MailboxSMTPServer:
    """Asyncio SMTP server (no auth, no TLS) in the *current* event loop.

    ``port=0`` picks a free port; read the real one from :attr:`port` after
    :meth:`start`.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        hostname: str = "localhost",
    ) -> None:
        self.mailbox = mailbox
        self.host = host
        self._requested_port = port
        # An explicit hostname avoids socket.getfqdn(), which can stall on DNS.
        self.hostname = hostname
        self._server: asyncio.Server | None = None
        self.sessions: set[_Session] = set()
        self.open = asyncio.Event()
        self.open.set()
        self.held = 0
        """Mail transactions waiting because of :meth:`pause`."""

    @property
    def port(self) -> int:
        """The bound port (only valid after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("SMTP server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def pause(self) -> None:
        """Hold new mail transactions at RCPT, as a stalled relay would, until :meth:`resume`.

        Held before the text is sent, so a client that gives up (or dies) meanwhile has
        delivered nothing: tests use it to stop a sender mid-send without an ambiguous mail.
        """
        self.open.clear()

    def resume(self) -> None:
        """Let held and new mail transactions go on."""
        self.open.set()

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("SMTP server already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Session(self), host=self.host, port=self._requested_port, reuse_address=True
        )
        log.info("SMTP mailbox listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and close all open client connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self.sessions):
            session.close()
        await server.wait_closed()
        self.sessions.clear()
