"""The audit trail: who in a council's staff changed what, and who printed or copied personal
data, kept in the portal's database (``audit``) and shown to the council's staff.

Recorded by ``AuditTrail``, an ASGI middleware, for every request a staff session makes that
changes something (POST, PUT, DELETE) or reads personal data (``AUDITED_READS``) and is
answered with a status below 400: the route's name is the action, its path parameters (round,
campaign, member) the target. Nothing of the request's body is kept.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.store import Document, epoch_ms

log = structlog.get_logger()

AUDITED_READS = frozenset(
    {
        "letters_pdf",
        "member_data",
        "rejections",
        # Written answers can name people, whatever the question asked.
        "written_answers_csv",
        "api_written_answers_csv",
    }
)
"""Reads that copy personal data or working codes out of the system."""
KEEP_DAYS = 400
"""How long an entry is kept (a TTL index removes older ones)."""


async def ensure_index(db: AsyncDatabase[Document]) -> None:
    await db.audit.create_index([("tenant", 1), ("at_ms", -1)])
    await db.audit.create_index("expires_at", expireAfterSeconds=0)


async def record(
    db: AsyncDatabase[Document],
    *,
    tenant: str | None,
    username: str,
    action: str,
    target: dict[str, str],
    method: str,
    status: int,
) -> None:
    now = datetime.now(UTC)
    await db.audit.insert_one(
        {
            "_id": str(uuid.uuid4()),
            "tenant": tenant,
            "username": username,
            "action": action,
            "target": target,
            "method": method,
            "status": status,
            "at_ms": epoch_ms(now),
            "expires_at": datetime.fromtimestamp(now.timestamp() + KEEP_DAYS * 86400, UTC),
        }
    )


async def recent(db: AsyncDatabase[Document], tenant: str, limit: int = 200) -> list[Document]:
    """The council's newest entries, newest first."""
    cursor = db.audit.find({"tenant": tenant}, {"expires_at": 0}).sort("at_ms", -1).limit(limit)
    return await cursor.to_list()


class AuditTrail:
    """Records staff requests that change something or copy personal data (see the module)."""

    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        staff = scope.get("state", {}).get("staff")
        endpoint = scope.get("endpoint")
        if staff is None or endpoint is None or status >= 400:
            return
        action = getattr(endpoint, "__name__", "unknown")
        if scope["method"] in ("GET", "HEAD") and action not in AUDITED_READS:
            return
        target = {k: str(v) for k, v in (scope.get("path_params") or {}).items() if k != "tenant"}
        tenant = (scope.get("path_params") or {}).get("tenant")
        try:
            await record(
                self.state.portal.db,
                tenant=tenant,
                username=staff.account.username,
                action=action,
                target=target,
                method=scope["method"],
                status=status,
            )
        except PyMongoError as exc:  # the action happened; losing its entry is logged
            log.error("audit entry not written", action=action, error=type(exc).__name__)
