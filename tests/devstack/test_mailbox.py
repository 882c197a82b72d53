"""Tests of the fake SMTP mailbox and its HTTP read endpoints."""

from __future__ import annotations

import asyncio
import json
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx

from devstack.devtools import DevTools
from devstack.mailbox import Mailbox
from devstack.smtp_server import MailboxSMTPServer
from devstack.testing import wait_until


def _mail(to: str | Sequence[str], subject: str, text: str, html: str | None = None) -> bytes:
    """Build a mail as a real mailer puts it on the wire (CRLF line endings)."""
    msg = EmailMessage()
    msg["From"] = "Rådslag <noreply@radslag.test>"
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="radslag.test")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _send(port: int, mails: Sequence[tuple[Sequence[str], bytes]]) -> None:
    """Send several mails over ONE connection, as a pooled mailer would."""
    # local_hostname avoids socket.getfqdn(), which can stall on DNS.
    with smtplib.SMTP("127.0.0.1", port, local_hostname="localhost", timeout=5) as smtp:
        for rcpts, raw in mails:
            smtp.sendmail("noreply@radslag.test", list(rcpts), raw)


async def test_mails_are_listed_and_parsed_over_http(devtools: DevTools) -> None:
    login = _mail(
        "anna@example.org",
        "Din inloggningslänk till Rådslag",
        "Hej Anna!\nLogga in: https://radslag.test/login/abc123\n",
        "<p>Hej Anna! <a href='https://radslag.test/login/abc123'>Logga in</a></p>",
    )
    invite = _mail(["bo@example.org", "cy@example.org"], "Inbjudan", "Välkommen till panelen.")
    reminder = _mail("anna@example.org", "Påminnelse", "Glöm inte att svara. ✓")
    await asyncio.to_thread(
        _send,
        devtools.smtp_port,
        [
            (["anna@example.org"], login),
            (["bo@example.org", "cy@example.org"], invite),
            (["Anna@Example.org"], reminder),
        ],
    )

    async with httpx.AsyncClient(base_url=devtools.http_url) as client:
        assert (await client.get("/health/live")).json() == {"status": "ok"}
        assert (await client.get("/dev/mail/count")).json() == {"count": 3}

        listing = (await client.get("/dev/mail")).json()
        assert listing["total"] == 3
        subjects = [item["subject"] for item in listing["items"]]
        assert subjects == ["Påminnelse", "Inbjudan", "Din inloggningslänk till Rådslag"]
        assert listing["items"][1]["rcpt_tos"] == ["bo@example.org", "cy@example.org"]

        # Recipient filter is case-insensitive and paginates over the matches only.
        for_anna = (await client.get("/dev/mail", params={"to": "anna@example.org"})).json()
        assert for_anna["total"] == 2
        page = (
            await client.get(
                "/dev/mail", params={"to": "anna@example.org", "limit": 1, "offset": 1}
            )
        ).json()
        assert [i["subject"] for i in page["items"]] == ["Din inloggningslänk till Rådslag"]

        login_id = page["items"][0]["id"]
        mail = (await client.get(f"/dev/mail/{login_id}")).json()
        assert mail["subject"] == "Din inloggningslänk till Rådslag"
        assert mail["text"] == "Hej Anna!\nLogga in: https://radslag.test/login/abc123\n"
        assert "https://radslag.test/login/abc123" in mail["html"]
        assert mail["to"] == ["anna@example.org"]
        assert mail["from"] == "Rådslag <noreply@radslag.test>"
        assert mail["message_id"].endswith("@radslag.test>")
        assert ["Subject", "Din inloggningslänk till Rådslag"] in mail["headers"]

        reminder_id = listing["items"][0]["id"]
        reminder_mail = (await client.get(f"/dev/mail/{reminder_id}")).json()
        assert reminder_mail["text"] == "Glöm inte att svara. ✓\n"
        assert reminder_mail["html"] is None

        raw = await client.get(f"/dev/mail/{reminder_id}/raw")
        assert raw.headers["content-type"].startswith("message/rfc822")
        assert b"Subject: " in raw.content

        assert (await client.get("/dev/mail/00000099-" + "0" * 32)).status_code == 404
        assert (await client.get("/dev/mail", params={"limit": -1})).status_code == 422


async def test_mails_survive_restart(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path)
    server = MailboxSMTPServer(mailbox)
    await server.start()
    try:
        await asyncio.to_thread(
            _send,
            server.port,
            [(["a@example.org"], _mail("a@example.org", f"Mail {i}", f"body {i}")) for i in (1, 2)],
        )
    finally:
        await server.stop()
        mailbox.close()

    # One spool file for every mail (one file per mail was too slow), and one index line each.
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == ["index.jsonl", "spool"]
    index = [
        json.loads(line)
        for line in (tmp_path / "mail" / "index.jsonl").read_text().split("\n")
        if line
    ]
    assert [row["subject"] for row in index] == ["Mail 1", "Mail 2"]
    assert index[0]["id"].startswith("00000001-")
    assert index[1]["id"].startswith("00000002-")
    assert index[0]["received_at"].endswith("+00:00")

    reopened = Mailbox(tmp_path)
    try:
        assert reopened.count() == 2
        page, total = reopened.list_mails()
        assert total == 2
        assert [m.subject for m in page] == ["Mail 2", "Mail 1"]
        parsed = reopened.get_mail(page[1].id)
        assert parsed is not None
        assert parsed.text == "body 1\n"
        # New mails continue the sequence instead of reusing ids.
        third = reopened.store(
            "x@example.org", ["a@example.org"], _mail("a@example.org", "Mail 3", "3")
        )
        assert third.id.startswith("00000003-")
    finally:
        reopened.close()


async def test_recovers_from_truncated_index_and_unindexed_file(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path)
    first = mailbox.store("s@example.org", ["r@example.org"], _mail("r@example.org", "One", "1"))
    mailbox.close()
    mail_dir = tmp_path / "mail"
    # Simulate a crash: an .eml written without its index line, and a torn index line.
    orphan_id = "00000002-" + "a" * 32
    (mail_dir / f"{orphan_id}.eml").write_bytes(_mail("r@example.org", "Two", "2"))
    with (mail_dir / "index.jsonl").open("a") as fh:
        fh.write('{"id": "00000003-')

    reopened = Mailbox(tmp_path)
    try:
        page, total = reopened.list_mails()
        assert total == 2
        assert [m.id for m in page] == [orphan_id, first.id]
        assert page[0].subject == "Two"
        nxt = reopened.store(
            "s@example.org", ["r@example.org"], _mail("r@example.org", "Three", "3")
        )
        assert nxt.id.startswith("00000003-")
    finally:
        reopened.close()

    again = Mailbox(tmp_path)
    try:
        assert [m.subject for m in again.list_mails()[0]] == ["Three", "Two", "One"]
    finally:
        again.close()


async def test_recovers_spooled_mails_without_index_lines_and_a_torn_last_mail(
    tmp_path: Path,
) -> None:
    mailbox = Mailbox(tmp_path)
    first = mailbox.store("s@example.org", ["r@example.org"], _mail("r@example.org", "One", "1"))
    mailbox.close()
    mail_dir = tmp_path / "mail"
    # Simulate crashes: a mail spooled without its index line, then one torn mid-write.
    lost_id = "00000002-" + "b" * 32
    lost = _mail("r@example.org", "Två", "2")
    with (mail_dir / "spool").open("ab") as spool:
        spool.write(f"#mail {lost_id} {len(lost)}\n".encode() + lost + b"\n")
        spool.write(f"#mail 00000003-{'c' * 32} 999\n".encode() + b"Subject: torn")

    reopened = Mailbox(tmp_path)
    try:
        page, total = reopened.list_mails()
        assert total == 2
        assert [m.id for m in page] == [lost_id, first.id]
        assert page[0].subject == "Två"
        parsed = reopened.get_mail(lost_id)
        assert parsed is not None
        assert parsed.text == "2\n"
        # The torn mail is cut off, and new mails continue after the recovered one.
        nxt = reopened.store(
            "s@example.org", ["r@example.org"], _mail("r@example.org", "Three", "3")
        )
        assert nxt.id.startswith("00000003-")
        assert reopened.get_mail(nxt.id) is not None
    finally:
        reopened.close()

    again = Mailbox(tmp_path)
    try:
        assert [m.subject for m in again.list_mails()[0]] == ["Three", "Två", "One"]
        assert [again.get_mail(m.id) is not None for m in again.list_mails()[0]] == [True] * 3
    finally:
        again.close()


async def test_burst_over_pooled_connections(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path)
    server = MailboxSMTPServer(mailbox)
    await server.start()
    connections, per_connection = 4, 50
    try:
        batches = [
            [
                ([f"user{c}-{i}@example.org"], _mail(f"user{c}-{i}@example.org", f"{c}/{i}", "x"))
                for i in range(per_connection)
            ]
            for c in range(connections)
        ]
        await asyncio.gather(*(asyncio.to_thread(_send, server.port, b) for b in batches))
        await wait_until(lambda: mailbox.count() == connections * per_connection, what="all mails")
        page, total = mailbox.list_mails(limit=10, offset=5)
        assert total == connections * per_connection
        assert len(page) == 10
        assert [m.id for m in page] == sorted((m.id for m in page), reverse=True)
        assert len({m.id for m in mailbox.list_mails(limit=1000)[0]}) == total
    finally:
        await server.stop()
        mailbox.close()


async def test_stop_closes_idle_pooled_connection(tmp_path: Path) -> None:
    mailbox = Mailbox(tmp_path)
    server = MailboxSMTPServer(mailbox)
    await server.start()
    smtp = await asyncio.to_thread(
        smtplib.SMTP, "127.0.0.1", server.port, local_hostname="localhost", timeout=5
    )
    try:
        await asyncio.to_thread(smtp.noop)
        await server.stop()  # must not wait for the client to hang up
        mailbox.close()
        code, _ = await asyncio.to_thread(_noop_after_close, smtp)
        assert code != 250
    finally:
        smtp.close()


def _noop_after_close(smtp: smtplib.SMTP) -> tuple[int, bytes]:
    try:
        return smtp.noop()
    except (smtplib.SMTPServerDisconnected, OSError):
        return (-1, b"")
