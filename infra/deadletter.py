"""List and replay dead letters: ``python -m infra.deadletter list|replay``.

A dead letter keeps the original bytes, sealed (``infra.sealing``: they can hold addresses,
links and answers), and, in headers, where it came from and why it failed. Listing shows a
body's shape only; replay opens the body with ``SEAL_KEYS`` and publishes the original bytes
to the original subject again (with a fresh Nats-Msg-Id so the duplicate window does not
swallow it), then removes the dead letter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.subjects import DEAD_LETTER_STREAM, dead_letter_subject
from infra.bus import work_queues
from infra.natsauth import OPS, BusLogin
from infra.sealing import Sealer, Unsealable, is_sealed


@dataclass(frozen=True)
class DeadLetter:
    """One message a consumer gave up on."""

    sequence: int
    subject: str
    reason: str
    error: str
    stream: str
    consumer: str
    delivered: str
    failed_at: str
    original_message_id: str
    data: bytes

    def summary(self, sealer: Sealer | None = None) -> dict[str, object]:
        """A JSON-friendly view without personal data: the body's size, its field names and
        its envelope (message id, council, correlation), never its values (addresses, tokens,
        answers). A sealed body is opened with ``sealer`` to see its shape, if given."""
        return {
            "seq": self.sequence,
            "subject": self.subject,
            "reason": self.reason,
            "error": _error_text(self.error, sealer),
            "consumer": f"{self.stream}/{self.consumer}",
            "delivered": self.delivered,
            "failed_at": self.failed_at,
            "original_message_id": self.original_message_id,
            "body": _shape(_opened(self.data, sealer)),
        }


ENVELOPE_FIELDS = ("message_id", "tenant", "correlation_id", "schema_version")
"""Body fields the summary shows with their values: identifiers, never personal data."""


def _error_text(error: str, sealer: Sealer | None) -> str:
    """A dead letter's error; an exception's text is sealed (it can quote personal data)."""
    if not is_sealed(error.encode()):
        return error
    if sealer is None:
        return "(sealed: set SEAL_KEYS to read it)"
    try:
        return sealer.open(error.encode()).decode(errors="replace")
    except Unsealable:
        return "(sealed with a key not in SEAL_KEYS)"


def _opened(data: bytes, sealer: Sealer | None) -> bytes:
    if not is_sealed(data) or sealer is None:
        return data
    try:
        return sealer.open(data)
    except Unsealable:
        return data


def _shape(data: bytes) -> dict[str, object]:
    """What a body holds, by name: enough to tell what failed, nothing about whom."""
    if is_sealed(data):
        return {"bytes": len(data), "sealed": True}
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return {"bytes": len(data), "json": False}
    if not isinstance(parsed, dict):
        return {"bytes": len(data), "json": True, "fields": None}
    shown = {k: parsed[k] for k in ENVELOPE_FIELDS if isinstance(parsed.get(k), str | int)}
    return {"bytes": len(data), "json": True, "fields": sorted(parsed), **shown}


async def list_dead_letters(js: JetStreamContext, limit: int = 100) -> list[DeadLetter]:
    """The oldest ``limit`` dead letters still kept."""
    info = await js.stream_info(DEAD_LETTER_STREAM)
    letters: list[DeadLetter] = []
    if not info.state.messages:
        return letters
    seq = max(info.state.first_seq, 1)
    while seq <= info.state.last_seq and len(letters) < limit:
        try:
            raw = await js.get_msg(DEAD_LETTER_STREAM, seq)
        except NotFoundError:
            seq += 1
            continue
        h = raw.headers or {}
        letters.append(
            DeadLetter(
                sequence=seq,
                subject=h.get("Radslag-Original-Subject", ""),
                reason=h.get("Radslag-Reason", ""),
                error=h.get("Radslag-Error", ""),
                stream=h.get("Radslag-Stream", ""),
                consumer=h.get("Radslag-Consumer", ""),
                delivered=h.get("Radslag-Delivered", ""),
                failed_at=h.get("Radslag-Failed-At", ""),
                original_message_id=h.get("Radslag-Original-Msg-Id", ""),
                data=raw.data or b"",
            )
        )
        seq += 1
    return letters


async def replay(js: JetStreamContext, sequence: int, sealer: Sealer) -> str:
    """Publish dead letter ``sequence`` to its original subject again and delete it.

    Raises ``Unsealable`` (and keeps the dead letter) when its body cannot be opened."""
    raw = await js.get_msg(DEAD_LETTER_STREAM, sequence)
    h = raw.headers or {}
    subject = str(h["Radslag-Original-Subject"])
    data = raw.data or b""
    if is_sealed(data):
        data = sealer.open(data)
    await js.publish(subject, data, headers={"Nats-Msg-Id": f"replay:{sequence}:{raw.seq}"})
    await js.delete_msg(DEAD_LETTER_STREAM, sequence)
    return subject


async def _main(argv: list[str], login: BusLogin | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deadletter", description=__doc__)
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="print dead letters as JSON lines")
    ls.add_argument("--limit", type=int, default=100)
    rp = sub.add_parser("replay", help="publish dead letters to their original subjects again")
    rp.add_argument("sequences", type=int, nargs="+", help="sequence numbers from 'list'")
    args = parser.parse_args(argv)
    keys = os.environ.get("SEAL_KEYS", "")
    sealer = Sealer(keys) if keys else None
    if args.command == "replay" and sealer is None:
        print("replay needs SEAL_KEYS: dead-letter bodies are sealed", file=sys.stderr)
        return 2
    if login is None:
        # The operator's login (NATS_USER, default ops; NATS_PASSWORD), never on the command
        # line, where other users of the machine could read it.
        login = BusLogin(
            args.nats_url,
            os.environ.get("NATS_USER") or OPS,
            os.environ.get("NATS_PASSWORD"),
        )
    nc = await login.connect()
    try:
        js = nc.jetstream()
        if args.command == "list":
            for letter in await list_dead_letters(js, args.limit):
                print(json.dumps(letter.summary(sealer), ensure_ascii=False))
        else:
            assert sealer is not None
            for seq in args.sequences:
                print(f"replayed {seq} to {await replay(js, seq, sealer)}")
    finally:
        await nc.close()
    return 0


def main(argv: list[str], login: BusLogin | None = None) -> int:
    """Run the command line (``login``: connect so instead of from the environment)."""
    return asyncio.run(_main(argv, login))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


async def file_exhausted(js: JetStreamContext, advisory: bytes, sealer: Sealer) -> bool:
    """File the message a max-deliveries advisory names, then remove it from its work queue.

    This covers what the consumer middleware cannot: a process that died or hung on the
    last allowed delivery. The stream's owner files it, whichever service's consumer gave up:
    only the owner may read its stream by sequence (a consumer may be allowed only some of
    its subjects). Filing uses the same Nats-Msg-Id as the middleware, so a message both of
    them see is filed once. Returns False if the message is gone already.
    """
    event = json.loads(advisory)
    stream, consumer, seq = event["stream"], event["consumer"], int(event["stream_seq"])
    try:
        raw = await js.get_msg(stream, seq)
    except NotFoundError:
        return False
    headers = {
        "Radslag-Original-Subject": raw.subject,
        "Radslag-Stream": stream,
        "Radslag-Consumer": consumer,
        "Radslag-Reason": "exhausted",
        "Radslag-Error": "no outcome after the last delivery (process stopped or timed out)",
        "Radslag-Delivered": str(event.get("deliveries", "")),
        "Radslag-Failed-At": datetime.now(UTC).isoformat(),
        "Nats-Msg-Id": f"dl:{stream}:{seq}:{consumer}",
    }
    original = (raw.headers or {}).get("Nats-Msg-Id")
    if original:
        headers["Radslag-Original-Msg-Id"] = original
    await js.publish(
        dead_letter_subject(stream, consumer),
        sealer.seal(raw.data or b""),
        headers=headers,
        stream=DEAD_LETTER_STREAM,
    )
    # A work queue would otherwise keep the message, undeliverable, for ever. An event stays:
    # other consumers may still need it, and it ages out with its stream.
    if stream in work_queues():
        with contextlib.suppress(NotFoundError):
            await js.delete_msg(stream, seq)
    return True
