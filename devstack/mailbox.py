"""Fake SMTP mailbox for local development and tests.

Every mail delivered to the SMTP server is accepted and stored durably:

* ``<data_dir>/mail/spool`` gets the raw message appended, framed by a line
  ``#mail <id> <size>`` before it and a newline after it, where ``id`` is
  ``<8-digit sequence>-<uuid hex>`` so a plain lexical sort is arrival order;
* ``<data_dir>/mail/index.jsonl`` gets one JSON line per mail (id, received_at,
  mail_from, rcpt_tos, subject, message_id, size, and the mail's offset in the spool) so
  listing never has to re-read the mails.

Two appends per mail, both flushed to the OS before the mail is acknowledged: one file per
mail cost more than the rest of an SMTP exchange (creating a file is ~0.8 ms here), which
made the sink the bottleneck of a round's invitations. Data directories from before the spool
keep working: their ``<id>.eml`` files are read as before.

The SMTP server in front of it is :mod:`devstack.smtp_server`.

The index is loaded into memory at start; listing and counting are served from memory,
fetching one mail reads and parses it on demand.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import IO, Any

from devstack._jsonl import JsonlAppender, read_jsonl

log = logging.getLogger(__name__)


# Sequence part of the id is zero padded so lexical order == arrival order for up to
# 10^8 mails, which is far beyond what a dev mailbox will ever hold.
_ID_RE = re.compile(r"^(\d{8})-([0-9a-f]{32})$")
_INDEX_NAME = "index.jsonl"
_SPOOL_NAME = "spool"
_FRAME_RE = re.compile(rb"^#mail (\d{8}-[0-9a-f]{32}) (\d+)\n$")
_HEADER_RE = re.compile(rb"^(subject|message-id)[ \t]*:[ \t]*(.*)$", re.IGNORECASE)


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
    offset: int | None = None
    """Where the mail starts in the spool (None: a ``<id>.eml`` file of an older mailbox)."""

    @property
    def seq(self) -> int:
        """Arrival sequence number encoded in the id."""
        return int(self.id.split("-", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly representation (what the HTTP API shows)."""
        return {
            "id": self.id,
            "received_at": self.received_at,
            "mail_from": self.mail_from,
            "rcpt_tos": list(self.rcpt_tos),
            "subject": self.subject,
            "message_id": self.message_id,
            "size": self.size,
        }

    def index_row(self) -> dict[str, Any]:
        """The line ``index.jsonl`` keeps: the public fields and where the mail is stored."""
        data = self.to_dict()
        if self.offset is not None:
            data["offset"] = self.offset
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailSummary:
        """Build a summary from an index line; raises ``KeyError``/``ValueError`` if bad."""
        mail_id = str(data["id"])
        if not _ID_RE.match(mail_id):
            raise ValueError(f"bad mail id {mail_id!r}")
        message_id = data.get("message_id")
        offset = data.get("offset")
        return cls(
            id=mail_id,
            received_at=str(data["received_at"]),
            mail_from=str(data.get("mail_from") or ""),
            rcpt_tos=tuple(str(r) for r in data.get("rcpt_tos") or ()),
            subject=str(data.get("subject") or ""),
            message_id=None if message_id is None else str(message_id),
            size=int(data.get("size") or 0),
            offset=None if offset is None else int(offset),
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
        self._spool_path = self.mail_dir / _SPOOL_NAME
        self._summaries: list[MailSummary] = []
        self._by_id: dict[str, MailSummary] = {}
        self._load()
        self._next_seq = (self._summaries[-1].seq + 1) if self._summaries else 1
        self._index = JsonlAppender(self.mail_dir / _INDEX_NAME)
        self._recover_spool()
        self._recover_orphans()
        self._spool: IO[bytes] = self._spool_path.open("ab")

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

    def _add_recovered(self, summary: MailSummary) -> None:
        log.warning("recovered unindexed mail %s", summary.id)
        self._index.append(summary.index_row())
        self._by_id[summary.id] = summary
        self._summaries.append(summary)

    def _recover_spool(self) -> None:
        """Index spooled mails whose index line was lost; cut off a torn last mail."""
        if not self._spool_path.exists():
            return
        indexed = [s for s in self._summaries if s.offset is not None]
        last = max(indexed, key=lambda s: s.offset or 0, default=None)
        start = 0 if last is None or last.offset is None else last.offset + last.size + 1
        recovered = False
        with self._spool_path.open("r+b") as spool:
            spool.seek(start)
            while True:
                frame_at = spool.tell()
                match = _FRAME_RE.match(spool.readline())
                raw = spool.read(int(match.group(2))) if match else b""
                if match is None or len(raw) != int(match.group(2)) or spool.read(1) != b"\n":
                    spool.truncate(frame_at)  # nothing, or a mail torn by a crash mid-write
                    break
                mail_id = match.group(1).decode()
                if mail_id in self._by_id:
                    continue
                received = datetime.fromtimestamp(self._spool_path.stat().st_mtime, UTC)
                self._add_recovered(
                    self._summarise(
                        mail_id,
                        received.isoformat(timespec="microseconds"),
                        "",
                        [],
                        raw,
                        offset=frame_at + len(match.group(0)),
                    )
                )
                recovered = True
        if recovered:
            self._summaries.sort(key=lambda s: s.id)
            self._next_seq = max(self._next_seq, self._summaries[-1].seq + 1)

    def _recover_orphans(self) -> None:
        """Index ``.eml`` files (of an older mailbox) whose index line was lost."""
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
            self._add_recovered(
                self._summarise(mail_id, received.isoformat(timespec="microseconds"), "", [], raw)
            )
        if orphans:
            self._summaries.sort(key=lambda s: s.id)
            self._next_seq = max(self._next_seq, self._summaries[-1].seq + 1)

    @staticmethod
    def _summarise(
        mail_id: str,
        received_at: str,
        mail_from: str,
        rcpt_tos: Sequence[str],
        raw: bytes,
        offset: int | None = None,
    ) -> MailSummary:
        subject, message_id = _quick_headers(raw)
        return MailSummary(
            id=mail_id,
            received_at=received_at,
            mail_from=mail_from,
            rcpt_tos=tuple(rcpt_tos),
            subject=subject,
            message_id=message_id,
            size=len(raw),
            offset=offset,
        )

    # -- writing ------------------------------------------------------------------

    def store(self, mail_from: str, rcpt_tos: Sequence[str], content: bytes) -> MailSummary:
        """Persist one received mail and return its index entry.

        Synchronous on purpose: two appends are far cheaper than handing the work to a
        thread, and staying on the loop keeps sequence numbers race-free. The spool is
        written first, so a crash between the two leaves a mail the next start indexes.
        """
        mail_id = f"{self._next_seq:08d}-{uuid.uuid4().hex}"
        self._next_seq += 1
        frame = f"#mail {mail_id} {len(content)}\n".encode()
        offset = self._spool.tell() + len(frame)
        summary = self._summarise(
            mail_id, _utc_now_iso(), mail_from, rcpt_tos, content, offset=offset
        )
        self._spool.write(frame + content + b"\n")
        self._spool.flush()
        self._index.append(summary.index_row())
        self._summaries.append(summary)
        self._by_id[mail_id] = summary
        return summary

    def close(self) -> None:
        """Close the spool and the index (idempotent)."""
        if not self._spool.closed:
            self._spool.close()
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
        summary = self._by_id.get(mail_id)
        if summary is None:
            return None
        try:
            if summary.offset is None:
                return (self.mail_dir / f"{mail_id}.eml").read_bytes()
            with self._spool_path.open("rb") as spool:
                spool.seek(summary.offset)
                return spool.read(summary.size)
        except FileNotFoundError:
            return None

    def get_mail(self, mail_id: str) -> ParsedMail | None:
        """Parsed mail (headers, subject, text and html bodies) or ``None``."""
        summary = self._by_id.get(mail_id)
        raw = self.raw_mail(mail_id)
        if summary is None or raw is None:
            return None
        return parse_mail(summary, raw)


def _quick_headers(raw: bytes) -> tuple[str, str | None]:
    """Subject and Message-ID from the header block, without the email package's parser.

    That parser cost about as much as the rest of storing a mail; these two headers need
    only unfolding and, for an encoded subject, RFC 2047 decoding.
    """
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    found: dict[bytes, bytes] = {}
    name: bytes | None = None
    for line in (raw if end < 0 else raw[:end]).split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if name is not None:  # a folded continuation of the header before
                found[name] += b" " + line.strip()
            continue
        match = _HEADER_RE.match(line.rstrip(b"\r"))
        name = match.group(1).lower() if match else None
        if name is not None and name in found:
            name = None  # the first one counts
        elif name is not None and match:
            found[name] = match.group(2).strip()
    subject = found.get(b"subject")
    message_id = found.get(b"message-id")
    return (
        "" if subject is None else _decode_words(subject.decode("utf-8", "replace")),
        None if message_id is None else message_id.decode("utf-8", "replace"),
    )


def _decode_words(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value
