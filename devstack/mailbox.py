"""Fake SMTP mailbox for local development and tests.

Every mail delivered to the SMTP server is accepted and stored durably:

* ``<data_dir>/mail/<id>.eml`` holds the raw message, where ``id`` is
  ``<8-digit sequence>-<uuid hex>`` so a plain lexical sort is arrival order;
* ``<data_dir>/mail/index.jsonl`` gets one JSON line per mail (id, received_at,
  mail_from, rcpt_tos, subject, message_id, size) so listing never has to re-parse
  thousands of ``.eml`` files.

The index is loaded into memory at start; listing and counting are served from memory,
fetching one mail parses its ``.eml`` file on demand.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack._jsonl import JsonlAppender, read_jsonl

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"

# Sequence part of the id is zero padded so lexical order == arrival order for up to
# 10^8 mails, which is far beyond what a dev mailbox will ever hold.
_ID_RE = re.compile(r"^(\d{8})-([0-9a-f]{32})$")
_INDEX_NAME = "index.jsonl"


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _header_str(msg: Message, name: str) -> str | None:
    """Return a header as text, tolerating malformed values instead of raising."""
    try:
        value = msg.get(name)
    except Exception:  # a broken header must never make a mail unstorable
        log.debug("could not parse header %s", name, exc_info=True)
        return None
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class MailSummary:
    """Index entry of one stored mail (what ``index.jsonl`` holds)."""

    id: str
    received_at: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    message_id: str | None
    size: int

    @property
    def seq(self) -> int:
        """Arrival sequence number encoded in the id."""
        return int(self.id.split("-", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation (also the index line format)."""
        return {
            "id": self.id,
            "received_at": self.received_at,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": self.subject,
            "message_id": self.message_id,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailSummary:
        """Build a summary from an index line; raises ``KeyError``/``ValueError`` if bad."""
        mail_id = str(data["id"])
        if not _ID_RE.match(mail_id):
            raise ValueError(f"bad mail id {mail_id!r}")
        message_id = data.get("message_id")
        return cls(
            id=mail_id,
            received_at=str(data["received_at"]),
            mail_from=str(data.get("mail_from") or ""),
            rcpt_tos=tuple(str(r) for r in data.get("rcpt_tos") or ()),
            subject=str(data.get("subject") or ""),
            message_id=None if message_id is None else str(message_id),
            size=int(data.get("size") or 0),
        )


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """A stored mail parsed for humans and tests."""

    summary: MailSummary
    headers: list[tuple[str, str]]
    from_header: str | None
    to: list[str]
    cc: list[str]
    date: str | None
    text: str | None
    html: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation: summary fields plus parsed content."""
        data = self.summary.to_dict()
        data.update(
            {
                "headers": [[name, value] for name, value in self.headers],
                "from": self.from_header,
                "to": self.to,
                "cc": self.cc,
                "date": self.date,
                "text": self.text,
                "html": self.html,
                "attachments": self.attachments,
            }
        )
        return data


def _part_text(part: Message) -> str | None:
    """Decode a text part; fall back to a lossy decode for broken charsets."""
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else None
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, ValueError):
        log.debug("falling back to lossy decode", exc_info=True)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:  # unknown charset name
            return payload.decode("utf-8", errors="replace")
    return None


def parse_mail(summary: MailSummary, raw: bytes) -> ParsedMail:
    """Parse raw RFC 5322 bytes into a :class:`ParsedMail`."""
    # SMTP delivers CRLF line endings; normalise so bodies read like ordinary text
    # (the parser handles base64/quoted-printable either way).
    msg = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
    text: str | None = None
    html: str | None = None
    attachments: list[dict[str, Any]] = []
    if isinstance(msg, EmailMessage):
        plain_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        text = None if plain_part is None else _part_text(plain_part)
        html = None if html_part is None else _part_text(html_part)
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            attachments.append(
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "size": len(payload) if isinstance(payload, bytes) else 0,
                }
            )
    # items() keeps duplicates (Received, ...) in order and decodes encoded words.
    try:
        headers = [(name, str(value)) for name, value in msg.items()]
    except Exception:  # a header the policy cannot parse: show them all undecoded
        log.debug("header decoding failed; returning raw headers", exc_info=True)
        headers = [(name, str(value)) for name, value in msg.raw_items()]

    def addresses(header: str) -> list[str]:
        values = [str(v) for v in msg.get_all(header) or []]
        return [addr for _, addr in getaddresses(values) if addr]

    return ParsedMail(
        summary=summary,
        headers=headers,
        from_header=_header_str(msg, "from"),
        to=addresses("to"),
        cc=addresses("cc"),
        date=_header_str(msg, "date"),
        text=text,
        html=html,
        attachments=attachments,
    )


class Mailbox:
    """Durable store of received mails under ``<data_dir>/mail``.

    Not thread-safe: it is meant to be used from one asyncio event loop, where
    :meth:`store` runs without awaiting and is therefore atomic.
    """

    def __init__(self, data_dir: Path | str) -> None:
        self.mail_dir = Path(data_dir) / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self._summaries: list[MailSummary] = []
        self._by_id: dict[str, MailSummary] = {}
        self._load()
        self._next_seq = (self._summaries[-1].seq + 1) if self._summaries else 1
        self._index = JsonlAppender(self.mail_dir / _INDEX_NAME)
        self._recover_orphans()

    # -- loading ------------------------------------------------------------------

    def _load(self) -> None:
        for row in read_jsonl(self.mail_dir / _INDEX_NAME):
            try:
                summary = MailSummary.from_dict(row)
            except (KeyError, TypeError, ValueError):
                log.warning("skipping bad index entry %r", row)
                continue
            if summary.id in self._by_id:
                continue
            self._summaries.append(summary)
            self._by_id[summary.id] = summary
        self._summaries.sort(key=lambda s: s.id)

    def _recover_orphans(self) -> None:
        """Index ``.eml`` files whose index line was lost (crash between the two writes)."""
        orphans = sorted(
            entry.name[: -len(".eml")]
            for entry in os.scandir(self.mail_dir)
            if entry.name.endswith(".eml")
            and _ID_RE.match(entry.name[: -len(".eml")])
            and entry.name[: -len(".eml")] not in self._by_id
        )
        for mail_id in orphans:
            path = self.mail_dir / f"{mail_id}.eml"
            raw = path.read_bytes()
            received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            summary = self._summarise(
                mail_id, received.isoformat(timespec="microseconds"), "", [], raw
            )
            log.warning("recovered unindexed mail %s", mail_id)
            self._index.append(summary.to_dict())
            self._by_id[mail_id] = summary
            self._summaries.append(summary)
        if orphans:
            self._summaries.sort(key=lambda s: s.id)
            self._next_seq = max(self._next_seq, self._summaries[-1].seq + 1)

    @staticmethod
    def _summarise(
        mail_id: str, received_at: str, mail_from: str, rcpt_tos: Sequence[str], raw: bytes
    ) -> MailSummary:
        # Header-only parse: the body may be megabytes and is not needed for the index.
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        return MailSummary(
            id=mail_id,
            received_at=received_at,
            mail_from=mail_from,
            rcpt_tos=tuple(rcpt_tos),
            subject=_header_str(headers, "subject") or "",
            message_id=_header_str(headers, "message-id"),
            size=len(raw),
        )

    # -- writing ------------------------------------------------------------------

    def store(self, mail_from: str, rcpt_tos: Sequence[str], content: bytes) -> MailSummary:
        """Persist one received mail and return its index entry.

        Synchronous on purpose: two small local writes are far cheaper than handing the
        work to a thread, and staying on the loop keeps sequence numbers race-free.
        """
        mail_id = f"{self._next_seq:08d}-{uuid.uuid4().hex}"
        self._next_seq += 1
        summary = self._summarise(mail_id, _utc_now_iso(), mail_from, rcpt_tos, content)
        path = self.mail_dir / f"{mail_id}.eml"
        tmp = path.with_suffix(".eml.tmp")
        # Write-then-rename so a reader never sees a half-written .eml file.
        tmp.write_bytes(content)
        os.replace(tmp, path)
        self._index.append(summary.to_dict())
        self._summaries.append(summary)
        self._by_id[mail_id] = summary
        return summary

    def close(self) -> None:
        """Close the index file handle."""
        self._index.close()

    # -- reading ------------------------------------------------------------------

    def count(self) -> int:
        """Number of stored mails."""
        return len(self._summaries)

    def list_mails(
        self, *, limit: int = 50, offset: int = 0, to: str | None = None
    ) -> tuple[list[MailSummary], int]:
        """Return ``(page, total)``: newest first, optionally only mails for envelope rcpt ``to``.

        ``to`` is compared case-insensitively against the SMTP envelope recipients;
        ``total`` counts all matches, not just the page.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        if to is None:
            total = len(self._summaries)
            # Slice from the end instead of reversing the whole (possibly 10k) list.
            stop = max(total - offset, 0)
            start = max(stop - limit, 0)
            return self._summaries[start:stop][::-1], total
        wanted = to.strip().lower()
        matches = [
            s for s in reversed(self._summaries) if any(r.lower() == wanted for r in s.rcpt_tos)
        ]
        return matches[offset : offset + limit], len(matches)

    def get_summary(self, mail_id: str) -> MailSummary | None:
        """Index entry for ``mail_id`` or ``None``."""
        return self._by_id.get(mail_id)

    def raw_mail(self, mail_id: str) -> bytes | None:
        """Raw RFC 5322 bytes of ``mail_id`` or ``None`` if unknown."""
        # Only ids we issued are looked up, so a crafted id cannot escape mail_dir.
        if mail_id not in self._by_id:
            return None
        try:
            return (self.mail_dir / f"{mail_id}.eml").read_bytes()
        except FileNotFoundError:
            return None

    def get_mail(self, mail_id: str) -> ParsedMail | None:
        """Parsed mail (headers, subject, text and html bodies) or ``None``."""
        summary = self._by_id.get(mail_id)
        raw = self.raw_mail(mail_id)
        if summary is None or raw is None:
            return None
        return parse_mail(summary, raw)


# -- SMTP server -------------------------------------------------------------------


class MailboxHandler:
    """aiosmtpd handler that accepts every mail and stores it in a :class:`Mailbox`."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the mail; any storage failure becomes a temporary SMTP error."""
        content = envelope.original_content
        if content is None:
            raw = envelope.content
            content = raw.encode("utf-8") if isinstance(raw, str) else (raw or b"")
        try:
            summary = self.mailbox.store(envelope.mail_from or "", envelope.rcpt_tos, content)
        except OSError:
            log.exception("could not store mail")
            return "451 Requested action aborted: local error in processing"
        log.debug("stored mail %s for %s", summary.id, summary.rcpt_tos)
        return "250 Message accepted for delivery"


class _TrackedSMTP(SMTP):
    """SMTP protocol that registers itself so the server can close pooled connections."""

    def __init__(self, handler: MailboxHandler, registry: set[SMTP], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._registry = registry

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._registry.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(error)


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
        self._connections: set[SMTP] = set()
        self._handler = MailboxHandler(mailbox)

    @property
    def port(self) -> int:
        """The bound port (only valid after :meth:`start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("SMTP server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _make_protocol(self) -> SMTP:
        return _TrackedSMTP(
            self._handler,
            self._connections,
            hostname=self.hostname,
            enable_SMTPUTF8=True,
            # Short idle timeout: pooled clients reconnect cheaply, leaked ones go away.
            timeout=60,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("SMTP server already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._make_protocol, host=self.host, port=self._requested_port, reuse_address=True
        )
        log.info("SMTP mailbox listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and close all open client connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        handler_tasks: list[asyncio.Task[None]] = []
        for proto in list(self._connections):
            # _handler_coroutine is aiosmtpd's per-connection task; awaiting it makes
            # stop() return only once every session has really finished.
            task = proto._handler_coroutine
            if task is not None:
                handler_tasks.append(task)
            if proto.transport is not None:
                proto.transport.close()
        if handler_tasks:
            await asyncio.wait(handler_tasks, timeout=5)
        await server.wait_closed()
        self._connections.clear()
