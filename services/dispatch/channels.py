"""Channel adapters: e-mail over SMTP, composed cheaply and sent over a pool of connections;
SMS over a provider's HTTP API."""

from __future__ import annotations

import asyncio
import binascii
import functools
import time
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib
import httpx


class ChannelError(Exception):
    """The provider refused or could not be reached; the send is retried."""


class ContactRefused(ChannelError):
    """The provider refused the recipient for good (an SMTP 5xx reply to RCPT): no retry can
    help until the member's contact changes. ``reason`` is a code (``smtp_550``), never the
    server's text, which can quote the address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def permanent_refusal(exc: BaseException) -> str | None:
    """The reason code if ``exc`` is the server refusing the recipient for good, else None."""
    refused: list[aiosmtplib.SMTPRecipientRefused] = []
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = list(exc.recipients)
    elif isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        refused = [exc]
    codes = [r.code for r in refused]
    if codes and all(500 <= code < 600 for code in codes):
        return f"smtp_{codes[0]}"
    return None


IDLE_CHECK_SECONDS = 20.0
"""A connection idle longer than this is checked with NOOP first (servers drop idle ones)."""


@functools.lru_cache(maxsize=256)
def _subject(value: str) -> str:
    # No line breaks in a header (they would start new ones); RFC 2047 only when needed.
    value = " ".join(value.split())
    if value.isascii() and len(value) < 70:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name="Subject").encode(linesep="\r\n")


@functools.lru_cache(maxsize=16)
def _from_header(mail_from: str) -> str:
    message = EmailMessage()
    message["From"] = mail_from
    return message.as_string(maxheaderlen=0).split("\n", 1)[0]


@functools.lru_cache(maxsize=4)
def _date(second: int) -> str:
    return formatdate(second, usegmt=True)


def compose(mail_from: str, to: str, subject: str, body: str, message_id: str) -> bytes:
    """An RFC 5322 plain-text mail in UTF-8 (quoted-printable), ready for ``SmtpPool.send``.

    Built by hand rather than with ``EmailMessage``: at a thousand mails a second the
    standard library's header machinery costs more than the rest of the send.
    ``to`` must be one address without spaces or line breaks (``ValueError`` otherwise).
    """
    if not to or any(c.isspace() for c in to):
        raise ValueError("not a single e-mail address")
    text = binascii.b2a_qp(body.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    head = (
        f"{_from_header(mail_from)}\r\n"
        f"To: {to}\r\n"
        f"Subject: {_subject(subject)}\r\n"
        f"Date: {_date(int(time.time()))}\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    return head.encode("utf-8") + text


def envelope_sender(mail_from: str) -> str:
    """The bare address of a From header (``Name <a@b>`` → ``a@b``) for MAIL FROM."""
    return parseaddr(mail_from)[1]


class SmtpPool:
    """Reuses up to ``size`` SMTP connections, one mail at a time on each.

    One connection per mail would cap the rate far lower; many in parallel hide the round
    trips of each SMTP exchange (MAIL, RCPT, DATA, the content).
    """

    def __init__(self, host: str, port: int, size: int = 32, timeout: float = 30.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self.size = size
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._slots = asyncio.Semaphore(size)

    async def _connection(self) -> aiosmtplib.SMTP:
        while self._idle:
            client, since = self._idle.pop()
            if not client.is_connected:
                continue
            if time.monotonic() - since < IDLE_CHECK_SECONDS:
                return client
            try:
                await client.noop()
                return client
            except (aiosmtplib.SMTPException, OSError):
                client.close()
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            start_tls=False,
            use_tls=False,
        )
        await client.connect()
        return client

    async def send(self, sender: str, recipient: str, data: bytes) -> None:
        """Send one composed mail; ``ContactRefused`` if the server refuses the recipient for
        good, ``ChannelError`` if it refuses otherwise or cannot be reached."""
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._connection()
                # An address beyond ASCII needs the server's SMTPUTF8.
                options = [] if recipient.isascii() else ["SMTPUTF8"]
                await client.sendmail(sender, [recipient], data, mail_options=options)
            except (aiosmtplib.SMTPException, OSError) as exc:
                if client is not None and client.is_connected:
                    client.close()
                refusal = permanent_refusal(exc)
                if refusal is not None:
                    raise ContactRefused(refusal) from exc
                # Type and SMTP code only: the server's text can quote the recipient address.
                code = getattr(exc, "code", "")
                raise ChannelError(f"smtp: {type(exc).__name__} {code}".strip()) from exc
            self._idle.append((client, time.monotonic()))

    async def close(self) -> None:
        """Say goodbye on every idle connection."""
        while self._idle:
            client, _ = self._idle.pop()
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


class ChannelRefused(Exception):
    """The provider refused this message for good (a 4xx answer such as a bad number): it is
    recorded as rejected and not retried."""


RETRIED_STATUSES = frozenset({401, 403, 408, 429})
"""4xx answers that are not about the message (our credentials, the provider's limits): retried."""


class SmsClient:
    """Sends SMS through a 46elks-shaped HTTP API: ``POST {url}/a1/sms`` with HTTP Basic auth
    and the form fields ``from``, ``to``, ``message``."""

    def __init__(
        self, url: str, user: str, password: str, sender: str, timeout: float = 10.0
    ) -> None:
        self._url = url.rstrip("/") + "/a1/sms"
        self._sender = sender
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(user, password), timeout=timeout, trust_env=False
        )

    async def send(self, to: str, message: str) -> None:
        """Send one SMS; ``ChannelError`` to retry (unreachable, timeout, 5xx), or
        ``ChannelRefused`` when the provider refuses the message itself (other 4xx)."""
        try:
            response = await self._client.post(
                self._url, data={"from": self._sender, "to": to, "message": message}
            )
        except httpx.HTTPError as exc:
            raise ChannelError(f"sms: {type(exc).__name__}") from exc
        if response.is_success:
            return
        # The status only: the provider's text can quote the number.
        if 400 <= response.status_code < 500 and response.status_code not in RETRIED_STATUSES:
            raise ChannelRefused(f"sms: HTTP {response.status_code}")
        raise ChannelError(f"sms: HTTP {response.status_code}")

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()
