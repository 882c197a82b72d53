"""JetStream wiring: streams, publishing with Nats-Msg-Id, and the reliable-consumer policy.

Every subscriber runs with ``AckPolicy.MANUAL`` behind ``reliable_middleware``, which decides
the fate of each delivery (FastStream's default would terminate a message on any exception):

- handled                                   → ack
- invalid (schema, not JSON, tenant of subject ≠ tenant of body, or ``Rejected`` by the handler)
                                            → filed in the dead-letter stream, then terminated
- failed for another reason                 → nak with the next back-off delay
- ``RetryLater(reason, delay)``             → nak with the handler's own delay
- failed on its last allowed delivery       → filed in the dead-letter stream, then terminated
- no answer at all on its last delivery     → filed from the max-deliveries advisory
                                              (``infra.deadletter.file_exhausted``)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pydantic
import structlog
from faststream import BaseMiddleware
from faststream.message import StreamMessage
from faststream.nats.message import NatsMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from contracts.envelope import Envelope
from contracts.registry import OWNERS
from contracts.subjects import (
    DEAD_LETTER_STREAM,
    MessageKind,
    dead_letter_subject,
    stream_name,
    stream_subjects,
    subject_for,
    tenant_of_subject,
)
from infra import outcomes

log = structlog.get_logger()

MAX_DELIVER = 6
"""Deliveries a message gets before it is dead-lettered."""
BACKOFF_SECONDS: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0, 300.0)
"""Delay before the 2nd, 3rd, … delivery after a failure."""
ACK_WAIT_SECONDS = 60.0
"""How long a delivery may run before JetStream redelivers it."""
DUPLICATE_WINDOW_SECONDS = 120.0
"""Window in which a second publish with the same Nats-Msg-Id is dropped."""
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
"""Where JetStream announces that a consumer gave up on a message (``infra.deadletter``)."""


class Rejected(Exception):
    """A handler's verdict that a message can never succeed (unknown round, wrong state …).

    The message is filed in the dead-letter stream with this reason instead of being retried.
    """


class RetryLater(Exception):
    """A handler's verdict that a message cannot be handled yet, and when to try again.

    The delivery is nak'ed with ``delay`` seconds instead of the next back-off step (say, the
    rest of a lease another replica holds on the work).
    """

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


def consumer_config(durable: str) -> ConsumerConfig:
    """Durable pull consumer settings every subscriber shares."""
    return ConsumerConfig(
        durable_name=durable,
        max_deliver=MAX_DELIVER,
        # Past max_deliver JetStream stops delivering; the middleware files the last failure.
        ack_wait=ACK_WAIT_SECONDS,
    )


def stream_configs() -> list[StreamConfig]:
    """Every stream of the installation: events (limits), commands (work queue), dead letters."""
    configs: list[StreamConfig] = []
    kinds: tuple[MessageKind, ...] = ("evt", "cmd")
    for owner in OWNERS:
        for kind in kinds:
            configs.append(
                StreamConfig(
                    name=stream_name(owner, kind),
                    subjects=stream_subjects(owner, kind),
                    retention=(
                        RetentionPolicy.WORK_QUEUE if kind == "cmd" else RetentionPolicy.LIMITS
                    ),
                    storage=StorageType.FILE,
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                    # Events are kept a while so a new subscriber or a replay can catch up.
                    max_age=None if kind == "cmd" else 30 * 24 * 3600.0,
                )
            )
    configs.append(
        StreamConfig(
            name=DEAD_LETTER_STREAM,
            subjects=["deadletter.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=90 * 24 * 3600.0,
        )
    )
    return configs


def work_queues() -> frozenset[str]:
    """The streams whose messages are removed once acknowledged (the commands)."""
    return frozenset(
        str(c.name) for c in stream_configs() if c.retention == RetentionPolicy.WORK_QUEUE
    )


async def ensure_streams(
    js: JetStreamContext,
    streams: Collection[str] | None = None,
    *,
    owned: Collection[str] | None = None,
) -> None:
    """Create the ``streams`` (default: all) that are missing; bring the ``owned`` ones
    (default: all) up to date when their settings changed.

    The operator's tools pass neither. A service passes the streams it owns or consumes from,
    and as ``owned`` its own and the dead letters: the bus lets it create the others, never
    change them (``infra.natsauth``); their owners keep them up to date.
    """
    for config in stream_configs():
        if streams is not None and config.name not in streams:
            continue
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Exists with other settings (the code changed them): the owner updates it.
            if owned is None or config.name in owned:
                await js.update_stream(config)


async def publish(
    js: JetStreamContext, message: Envelope, *, headers: dict[str, str] | None = None
) -> None:
    """Publish one message with its message_id as Nats-Msg-Id, and wait for the stream's ack."""
    await publish_raw(
        js,
        subject_for(message),
        message.model_dump_json().encode(),
        message.message_id,
        headers=headers,
    )


async def publish_raw(
    js: JetStreamContext,
    subject: str,
    data: bytes,
    message_id: str,
    *,
    headers: dict[str, str] | None = None,
) -> None:
    """Publish prepared bytes (from an outbox entry) with ``message_id`` as Nats-Msg-Id."""
    await js.publish(subject, data, headers={**(headers or {}), "Nats-Msg-Id": message_id})


def tenant_matches(subject: str, body: bytes) -> bool:
    """False when a body names a tenant other than its subject's."""
    tenant = _body_tenant(body)
    return tenant is None or tenant == tenant_of_subject(subject)


class InvalidBody(Exception):
    """The body cannot be parsed at all (not JSON, or nested too deeply): filed at once."""


def _parse_body(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object (None for other JSON values); ``InvalidBody`` if unparsable.

    A body nested deeply enough makes the parser recurse out of stack (``RecursionError``):
    that is bad input like any other, not a failure to retry.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidBody(f"body is not parsable JSON ({type(exc).__name__})") from None
    return data if isinstance(data, dict) else None


def _field(data: dict[str, Any] | None, name: str) -> str | None:
    value = data.get(name) if data is not None else None
    return value if isinstance(value, str) else None


def _body_tenant(body: bytes) -> str | None:
    try:
        return _field(_parse_body(body), "tenant")
    except InvalidBody:
        return None


def _describe(exc: Exception) -> str:
    """What went wrong, without the offending values (they can be e-mail addresses)."""
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )[:500]
    return str(exc)[:500]


def _backoff(delivered: int, backoff: Sequence[float]) -> float:
    return backoff[min(delivered - 1, len(backoff) - 1)]


DeadLetterSink = Callable[[str, bytes, dict[str, str]], Awaitable[None]]
Settle = Callable[[outcomes.Waiter, str, str, str, str | None], Awaitable[None]]
"""``settle(waiter, command_id, tenant, status, reason)``: record an outcome, tell the waiter."""


def reliable_middleware(
    dead_letter: DeadLetterSink,
    *,
    max_deliver: int | None = None,
    backoff: Sequence[float] | None = None,
    on_outcome: Callable[[str, str], None] | None = None,
    settle: Settle | None = None,
) -> type[BaseMiddleware]:
    """A FastStream middleware class applying the delivery policy described in this module.

    ``dead_letter(subject, data, headers)`` files a message in the dead-letter stream;
    ``on_outcome(subject, outcome)`` is told ``handled``, ``retried`` or ``dead_lettered``;
    ``settle`` is called for a command someone waits for (``infra.outcomes``) that its handler
    did not settle itself: ``done`` once handled, ``refused`` when rejected or invalid.
    """

    async def settle_waiter(
        waiter: outcomes.Waiter | None,
        message_id: str,
        tenant: str | None,
        status: str,
        reason: str | None,
    ) -> None:
        if settle is None or waiter is None or waiter.settled or not message_id or not tenant:
            return
        try:
            await settle(waiter, message_id, tenant, status, reason)
        except Exception as exc:  # the command itself went fine; the waiter falls back
            log.warning("could not settle the command's outcome", error=repr(exc)[:300])

    def limits() -> tuple[int, Sequence[float]]:
        # Read at delivery time so settings (and tests) can change the module defaults.
        return max_deliver or MAX_DELIVER, backoff or BACKOFF_SECONDS

    def report(subject: str, outcome: str) -> None:
        if on_outcome is not None:
            on_outcome(subject, outcome)

    class ReliableMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            raw = msg.raw_message
            subject: str = raw.subject
            if not (raw.reply or "").startswith("$JS.ACK."):
                # Core NATS (queries): no acks or redelivery; infra.queries checks the tenant.
                # A body that cannot be parsed is refused here: FastStream's own decoding
                # would raise before the responder could answer. The refusal is returned, so
                # FastStream sends it as the one reply (the bus allows a responder one).
                try:
                    _parse_body(msg.body)
                except InvalidBody as exc:
                    return {"ok": False, "error": f"invalid: {exc}"}
                return await call_next(msg)
            metadata = raw.metadata
            delivered = int(metadata.num_delivered)
            body: bytes = msg.body
            headers = dict(msg.headers or {})
            message_id = headers.get("Nats-Msg-Id", "")
            structlog.contextvars.bind_contextvars(subject=subject, message_id=message_id)
            waiter = outcomes.waiter_from_headers(headers)
            token = outcomes.current_waiter.set(waiter)
            body_tenant: str | None = None
            try:
                data = _parse_body(body)
                body_tenant = _field(data, "tenant")
                correlation_id = _field(data, "correlation_id")
                structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
                subject_tenant = tenant_of_subject(subject)
                if body_tenant is not None and body_tenant != subject_tenant:
                    raise Rejected(
                        f"tenant of subject ({subject_tenant}) differs from body ({body_tenant})"
                    )
                if body_tenant is not None:
                    structlog.contextvars.bind_contextvars(tenant=body_tenant)
                result = await call_next(msg)
            except (pydantic.ValidationError, InvalidBody, Rejected) as exc:
                reason = "rejected" if isinstance(exc, Rejected) else "invalid"
                error = _describe(exc)
                log.warning("message dead-lettered", reason=reason, error=error)
                await self._file(metadata, subject, body, headers, reason, error, delivered)
                await msg.reject()
                report(subject, "dead_lettered")
                await settle_waiter(waiter, message_id, body_tenant, "refused", reason)
                return None
            except Exception as exc:
                most, delays = limits()
                if delivered >= most:
                    log.error("message exhausted its deliveries", error=repr(exc)[:500])
                    await self._file(
                        metadata, subject, body, headers, "exhausted", repr(exc), delivered
                    )
                    await msg.reject()
                    report(subject, "dead_lettered")
                    return None
                delay = exc.delay if isinstance(exc, RetryLater) else _backoff(delivered, delays)
                log.warning(
                    "handler failed, will retry",
                    error=repr(exc)[:500],
                    delivered=delivered,
                    retry_in=delay,
                )
                await cast(NatsMessage, msg).nack(delay=delay)
                report(subject, "retried")
                return None
            finally:
                outcomes.current_waiter.reset(token)
                structlog.contextvars.unbind_contextvars(
                    "subject", "message_id", "tenant", "correlation_id"
                )
            # Recorded before the ack: a crash in between redelivers, and settles it then.
            await settle_waiter(waiter, message_id, body_tenant, "done", None)
            await msg.ack()
            log.info(
                "message handled",
                subject=subject,
                message_id=message_id,
                tenant=body_tenant,
                delivered=delivered,
            )
            report(subject, "handled")
            return result

        async def _file(
            self,
            metadata: Any,
            subject: str,
            body: bytes,
            headers: dict[str, str],
            reason: str,
            error: str,
            delivered: int,
        ) -> None:
            stream = str(metadata.stream)
            consumer = str(metadata.consumer)
            dl_headers = {
                "Radslag-Original-Subject": subject,
                "Radslag-Stream": stream,
                "Radslag-Consumer": consumer,
                "Radslag-Reason": reason,
                "Radslag-Error": error[:1000].replace("\r", " ").replace("\n", " "),
                "Radslag-Delivered": str(delivered),
                "Radslag-Failed-At": datetime.now(UTC).isoformat(),
                # One dead letter per original delivery, even if filing is retried.
                "Nats-Msg-Id": f"dl:{stream}:{metadata.sequence.stream}:{consumer}",
            }
            if "Nats-Msg-Id" in headers:
                dl_headers["Radslag-Original-Msg-Id"] = headers["Nats-Msg-Id"]
            await dead_letter(dead_letter_subject(stream, consumer), body, dl_headers)

    return ReliableMiddleware
