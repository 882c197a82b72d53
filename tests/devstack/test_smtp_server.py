"""The mailbox's own SMTP server, spoken to over a raw socket where smtplib would hide it."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devstack.mailbox import Mailbox
from devstack.smtp_server import MailboxSMTPServer
from devstack.testing import wait_until


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MailboxSMTPServer]:
    mailbox = Mailbox(tmp_path)
    smtp = MailboxSMTPServer(mailbox)
    await smtp.start()
    try:
        yield smtp
    finally:
        smtp.resume()
        await smtp.stop()
        mailbox.close()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await reader.readline()).startswith(b"220 ")
    return reader, writer


async def _replies(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    """The next ``count`` replies, a multi-line one as its last line."""
    replies = []
    while len(replies) < count:
        line = await asyncio.wait_for(reader.readline(), 5)
        if line[3:4] != b"-":
            replies.append(line.rstrip())
    return replies


async def test_pipelined_commands_dot_stuffing_and_errors(server: MailboxSMTPServer) -> None:
    reader, writer = await _connect(server.port)
    try:
        writer.write(b"MAIL FROM:<a@example.org>\r\nEHLO client\r\n")
        no_helo, ehlo = await _replies(reader, 2)
        assert no_helo.startswith(b"503")
        assert ehlo == b"250 HELP"
        # Everything up to DATA in one write, as a pipelining client sends it.
        writer.write(
            b"RCPT TO:<b@example.org>\r\nMAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME\r\n"
            b"RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
        )
        replies = await _replies(reader, 5)
        assert [r[:3] for r in replies] == [b"503", b"250", b"250", b"250", b"354"]
        writer.write(b"Subject: Dots\r\n\r\n..leading dot\r\n.\r\n")
        assert (await _replies(reader, 1))[0].startswith(b"250")
        # A transaction reset halfway is forgotten; a mail too big is refused up front.
        writer.write(
            b"MAIL FROM:<a@example.org>\r\nRSET\r\nRCPT TO:<b@example.org>\r\n"
            b"MAIL FROM:<a@example.org> SIZE=999999999999\r\nNOOP\r\nBOGUS\r\nQUIT\r\n"
        )
        replies = await _replies(reader, 7)
        assert [r[:3] for r in replies] == [b"250", b"250", b"503", b"552", b"250", b"500", b"221"]
        assert await reader.read() == b""  # closed after QUIT
    finally:
        writer.close()
    assert server.mailbox.count() == 1
    (mail,) = server.mailbox.list_mails()[0]
    assert mail.rcpt_tos == ("b@example.org", "c@example.org")
    assert mail.subject == "Dots"
    assert server.mailbox.raw_mail(mail.id) == b"Subject: Dots\r\n\r\n.leading dot\r\n"


async def test_pause_holds_mails_before_their_text_and_a_client_leaving_delivers_nothing(
    server: MailboxSMTPServer,
) -> None:
    server.pause()
    reader, writer = await _connect(server.port)
    writer.write(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<gone@example.org>\r\n")
    assert [r[:3] for r in await _replies(reader, 2)] == [b"250", b"250"]
    await wait_until(lambda: server.held == 1, timeout=5, what="transaction held")
    writer.close()  # the sender dies while held
    await wait_until(lambda: server.held == 0, timeout=5, what="held transaction dropped")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname="c", timeout=10) as smtp:
            smtp.sendmail("a@example.org", ["kept@example.org"], b"Subject: Kept\r\n\r\nx\r\n")

    sending = asyncio.create_task(asyncio.to_thread(send))
    await wait_until(lambda: server.held == 1, timeout=5, what="second transaction held")
    assert server.mailbox.count() == 0
    server.resume()
    await sending
    assert [m.rcpt_tos for m in server.mailbox.list_mails()[0]] == [("kept@example.org",)]
