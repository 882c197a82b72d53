"""Queries: request/reply over core NATS. They never change state, so they need no stream.

The owner answers with ``{"ok": true, "data": …}``, ``{"ok": true, "data": null}`` (not found)
or ``{"ok": false, "error": …}``; a query whose subject tenant differs from its body tenant is
refused like a message would be.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import pydantic
import structlog
from faststream._internal.context.context_type import Context
from faststream.nats import NatsRouter
from faststream.nats.message import NatsMessage
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from contracts.envelope import Query
from contracts.subjects import subject_for, subject_pattern
from infra.bus import tenant_matches

log = structlog.get_logger()

Q = TypeVar("Q", bound=Query)
R = TypeVar("R", bound=BaseModel)


class _MessageField(Context):
    """The delivered message, resolved without a thread.

    FastStream's own ``Context`` is resolved by a plain function, which fast_depends runs in
    a worker thread per call: 15 % of rounds' CPU while residents answered.
    """

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        resolved: dict[str, Any] = super().use(**kwargs)
        return resolved


IncomingQuery = Annotated[NatsMessage, _MessageField("message")]


class QueryFailed(Exception):
    """The owner could not answer: unavailable, timed out, or refused the query."""


MAX_REPLY_BYTES = 900_000
"""Largest reply a query sends: NATS refuses messages over its max payload (1 MiB by default),
so a bigger one is answered with an error, logged, instead of never arriving."""


def answers(
    router: NatsRouter, query: type[Q], service: str, *, max_workers: int = 1
) -> Callable[[Callable[[Q], Awaitable[BaseModel | None]]], None]:
    """Register the handler that answers ``query`` for every tenant (one per queue group).

    ``max_workers`` > 1 answers that many at once (for handlers that batch their reads).
    """

    def register(handler: Callable[[Q], Awaitable[BaseModel | None]]) -> None:
        @router.subscriber(
            subject_pattern(query),
            queue=service,
            max_workers=max_workers,
            title=f"{query.name}:query",
            description=(query.__doc__ or "").strip().split("\n")[0],
        )
        async def reply(message: IncomingQuery) -> dict[str, Any]:
            body: bytes = message.body
            if not tenant_matches(message.raw_message.subject, body):
                return {"ok": False, "error": "refused: tenant of subject differs from body"}
            try:
                q = query.model_validate_json(body)
            except pydantic.ValidationError as exc:
                return {"ok": False, "error": f"invalid: {exc.errors()[0]['msg']}"}
            structlog.contextvars.bind_contextvars(
                tenant=q.tenant, message_id=q.message_id, correlation_id=q.correlation_id
            )
            try:
                result = await handler(q)
                data = None if result is None else result.model_dump(mode="json")
                if result is not None and len(result.model_dump_json()) > MAX_REPLY_BYTES:
                    # The bus would refuse it, and the caller would only time out: say why.
                    log.error("query reply too large", query=query.name, limit=MAX_REPLY_BYTES)
                    return {"ok": False, "error": "failed: reply too large"}
            except Exception as exc:
                log.exception("query failed", query=query.name)
                return {"ok": False, "error": f"failed: {type(exc).__name__}"}
            finally:
                structlog.contextvars.unbind_contextvars("tenant", "message_id", "correlation_id")
            return {"ok": True, "data": data}

        _ = reply

    return register


async def ask(nc: NatsClient, query: Query, reply: type[R], *, timeout: float = 5.0) -> R | None:
    """Send a query to its owner and parse the reply; None means not found."""
    try:
        msg = await nc.request(subject_for(query), query.model_dump_json().encode(), timeout)
    except (NatsTimeout, NoRespondersError) as exc:
        raise QueryFailed(f"{query.owner} did not answer {query.name}: {exc!r}") from exc
    data = json.loads(msg.data)
    if not data.get("ok"):
        raise QueryFailed(f"{query.owner} refused {query.name}: {data.get('error')}")
    if data.get("data") is None:
        return None
    return reply.model_validate(data["data"])
