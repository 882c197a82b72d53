"""Channel adapters: e-mail over SMTP with a small pool of connections."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib


class ChannelError(Exception):
    """The provider refused or could not be reached; the send is retried."""


class SmtpPool:
    """Reuses a few SMTP connections: one per message would cap the rate far lower."""

    def __init__(self, host: str, port: int, size: int = 4, timeout: float = 30.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(size)

    async def send(self, message: EmailMessage) -> None:
        """Send one mail; raise ``ChannelError`` if the server refuses or is unreachable."""
        async with self._slots:
            client = self._idle.get_nowait() if not self._idle.empty() else None
            try:
                if client is None or not client.is_connected:
                    client = aiosmtplib.SMTP(
                        hostname=self._host,
                        port=self._port,
                        timeout=self._timeout,
                        start_tls=False,
                        use_tls=False,
                    )
                    await client.connect()
                await client.send_message(message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                if client is not None and client.is_connected:
                    client.close()
                # Type and SMTP code only: the server's text can quote the recipient address.
                code = getattr(exc, "code", "")
                raise ChannelError(f"smtp: {type(exc).__name__} {code}".strip()) from exc
            self._idle.put_nowait(client)

    async def close(self) -> None:
        """Say goodbye on every idle connection."""
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()
