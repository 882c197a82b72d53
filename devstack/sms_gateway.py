"""SMS gateway simulator with the HTTP API shape of 46elks (https://46elks.com/docs).

Provider API (what the application talks to):

* ``POST /a1/sms`` — HTTP Basic auth, form fields ``from``, ``to``, ``message`` and
  optional ``whendelivered``. A delivery receipt (form: ``id``, ``status``,
  ``delivered``) is POSTed to ``whendelivered`` shortly afterwards.

Developer/test controls (not part of the provider API):

* ``POST /dev/sms/outage`` ``{"on": bool}`` — make ``/a1/sms`` answer 503;
* ``POST /dev/sms/inbound`` ``{"from", "to", "message"}`` — simulate an incoming SMS,
  which is POSTed (form) to the configured inbound callback URL;
* ``GET /dev/sms/messages`` and ``GET /dev/sms/messages/{id}`` — stored traffic.

Numbers whose last four digits are ``0000`` get a ``failed`` receipt, which lets tests
exercise the failure path without extra configuration.

Timestamps mimic 46elks: naive ISO 8601 in UTC (``2024-05-01T12:00:00.123456``).
Every state change is appended as a full snapshot to ``<data_dir>/sms/messages.jsonl``;
on load the last snapshot of each id wins.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import re
import secrets
import uuid
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from devstack._jsonl import JsonlAppender, read_jsonl

log = logging.getLogger(__name__)

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
# 46elks accepts an alphanumeric sender id of up to 11 characters starting with a letter.
ALPHANUMERIC_SENDER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,10}$")
MAX_MESSAGE_CHARS = 1600
# 46elks reports cost in 1/10000 of the account currency; 0.35 SEK per part is typical.
COST_PER_PART = 3500
FAILING_SUFFIX = "0000"

Direction = Literal["outgoing", "incoming"]

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension-table characters cost two septets (escape + char).
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_parts(message: str) -> int:
    """Number of SMS parts ``message`` needs (GSM 03.38 or UCS-2, concatenated SMS)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in message):
        length = sum(2 if c in _GSM_EXTENDED else 1 for c in message)
        single, multi = 160, 153
    else:
        # UCS-2 counts UTF-16 code units, so emoji outside the BMP take two.
        length = len(message.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if length <= single:
        return 1
    return math.ceil(length / multi)


def elks_timestamp() -> str:
    """Current time formatted the way 46elks does (naive UTC, microseconds)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def new_sms_id() -> str:
    """A 46elks-shaped message id: ``s`` followed by 32 hex digits."""
    return "s" + uuid.uuid4().hex


class SmsError(Exception):
    """A request the simulated provider rejects; carries the HTTP status to answer."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _validate_callback_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SmsError(400, f"Invalid '{field}' URL: must be an absolute http(s) URL.")


def _validate_number(value: str, field: str) -> None:
    if not E164_RE.match(value):
        raise SmsError(400, f"Invalid '{field}' phone number: must be E.164, e.g. +46701234567.")


def _validate_message(message: str) -> None:
    if not message:
        raise SmsError(400, "Missing or empty 'message'.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise SmsError(400, f"'message' too long: max {MAX_MESSAGE_CHARS} characters.")


class SmsGateway:
    """State and behaviour of the simulated SMS provider.

    Use from one asyncio event loop: call :meth:`start` before serving requests (it
    creates the HTTP client for callbacks) and :meth:`stop` when done.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        username: str,
        password: str,
        inbound_url: str | None = None,
        outage: bool = False,
        delivery_delay: float = 0.2,
        retry_delays: Sequence[float] = (0.5, 1.0, 2.0),
        callback_timeout: float = 5.0,
    ) -> None:
        self.sms_dir = Path(data_dir) / "sms"
        self.sms_dir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.inbound_url = inbound_url or None
        self.outage = outage
        self.delivery_delay = delivery_delay
        # Pauses between callback attempts; attempts = len(retry_delays) + 1.
        self.retry_delays = tuple(retry_delays)
        self.callback_timeout = callback_timeout
        self._records: dict[str, dict[str, Any]] = {}
        for row in read_jsonl(self.sms_dir / "messages.jsonl"):
            if isinstance(row.get("id"), str):
                # Later snapshots replace earlier ones but keep first-seen order.
                self._records[row["id"]] = row
        self._log = JsonlAppender(self.sms_dir / "messages.jsonl")
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Create the callback HTTP client and resume deliveries interrupted by a restart."""
        if self._client is None:
            # trust_env=False: callbacks go to local apps and must not be routed through
            # whatever HTTP(S)_PROXY the developer's shell happens to export.
            self._client = httpx.AsyncClient(timeout=self.callback_timeout, trust_env=False)
        for record in list(self._records.values()):
            if record["direction"] == "outgoing" and record["status"] == "created":
                self._spawn(self._deliver(record["id"]))

    async def stop(self) -> None:
        """Cancel pending deliveries/callbacks, close the HTTP client and the store."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._log.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        # Keep a strong reference: the loop only holds weak ones to tasks.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _persist(self, record: dict[str, Any]) -> None:
        self._records[record["id"]] = record
        self._log.append(record)

    # -- provider API -----------------------------------------------------------------

    def check_auth(self, authorization: str | None) -> bool:
        """True if the ``Authorization`` header carries the configured Basic credentials."""
        if not authorization:
            return False
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        # Evaluate both comparisons so timing does not reveal which part was wrong.
        user_ok = secrets.compare_digest(user.encode(), self.username.encode())
        password_ok = secrets.compare_digest(password.encode(), self.password.encode())
        return user_ok and password_ok

    def send(
        self, sender: str, to: str, message: str, whendelivered: str | None = None
    ) -> dict[str, Any]:
        """Accept an outgoing SMS (as ``POST /a1/sms`` does) and schedule its delivery.

        Returns the 46elks-style response body; raises :class:`SmsError` on bad input
        or when the simulated outage is on.
        """
        if self.outage:
            raise SmsError(503, "Service temporarily unavailable (simulated outage).")
        if not (E164_RE.match(sender) or ALPHANUMERIC_SENDER_RE.match(sender)):
            raise SmsError(
                400,
                "Invalid 'from': must be E.164 or 3-11 alphanumeric characters "
                "starting with a letter.",
            )
        _validate_number(to, "to")
        _validate_message(message)
        if whendelivered:
            _validate_callback_url(whendelivered, "whendelivered")
        parts = sms_parts(message)
        record: dict[str, Any] = {
            "id": new_sms_id(),
            "direction": "outgoing",
            "from": sender,
            "to": to,
            "message": message,
            "created": elks_timestamp(),
            "status": "created",
            "parts": parts,
            "cost": parts * COST_PER_PART,
            "whendelivered": whendelivered or None,
            "delivered": None,
            "callback": None,
        }
        self._persist(record)
        self._spawn(self._deliver(record["id"]))
        return {
            key: record[key]
            for key in (
                "id",
                "status",
                "direction",
                "from",
                "to",
                "message",
                "created",
                "parts",
                "cost",
            )
        }

    async def _deliver(self, sms_id: str) -> None:
        await asyncio.sleep(self.delivery_delay)
        record = dict(self._records[sms_id])
        record["status"] = "failed" if record["to"].endswith(FAILING_SUFFIX) else "delivered"
        record["delivered"] = elks_timestamp()
        url = record.get("whendelivered")
        if url:
            record["callback"] = {"url": url, "attempts": 0, "ok": None}
        self._persist(record)
        if url:
            data = {"id": sms_id, "status": record["status"], "delivered": record["delivered"]}
            await self._post_callback(sms_id, url, data)

    async def _post_callback(self, sms_id: str, url: str, data: dict[str, str]) -> bool:
        """POST ``data`` form-encoded with retries; record the outcome on the message."""
        if self._client is None:
            raise RuntimeError("SmsGateway.start() was not called")
        attempts = len(self.retry_delays) + 1
        outcome: dict[str, Any] = {"url": url, "attempts": 0, "ok": None}
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.retry_delays[attempt - 1])
            outcome = {
                "url": url,
                "attempts": attempt + 1,
                "ok": False,
                "status_code": None,
                "error": None,
                "at": elks_timestamp(),
            }
            try:
                response = await self._client.post(url, data=data)
            except httpx.HTTPError as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            else:
                outcome["status_code"] = response.status_code
                outcome["ok"] = response.is_success
                if not response.is_success:
                    outcome["error"] = f"HTTP {response.status_code}"
            self._persist({**self._records[sms_id], "callback": outcome})
            if outcome["ok"]:
                return True
            log.warning("callback %s for %s failed: %s", url, sms_id, outcome["error"])
        return False

    # -- simulator controls ---------------------------------------------------------

    async def simulate_inbound(self, sender: str, to: str, message: str) -> dict[str, Any]:
        """Store an incoming SMS and POST it to the inbound URL (awaited, with retries).

        Awaiting lets the developer see the application's reaction (``callback``) in the
        response instead of having to poll for it.
        """
        _validate_number(sender, "from")
        _validate_number(to, "to")
        _validate_message(message)
        record: dict[str, Any] = {
            "id": new_sms_id(),
            "direction": "incoming",
            "from": sender,
            "to": to,
            "message": message,
            "created": elks_timestamp(),
            "status": "received",
            "parts": sms_parts(message),
            "callback": (
                None if self.inbound_url is None else {"url": self.inbound_url, "attempts": 0}
            ),
        }
        self._persist(record)
        if self.inbound_url is not None:
            data = {
                "id": record["id"],
                "direction": "incoming",
                "from": sender,
                "to": to,
                "message": message,
                "created": record["created"],
            }
            await self._post_callback(record["id"], self.inbound_url, data)
        return dict(self._records[record["id"]])

    def messages(
        self,
        *,
        direction: Direction | None = None,
        number: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored messages newest first, optionally filtered by direction or phone number.

        ``number`` matches either the ``from`` or the ``to`` field.
        """
        result: list[dict[str, Any]] = []
        for record in reversed(self._records.values()):
            if direction is not None and record["direction"] != direction:
                continue
            if number is not None and number not in (record["from"], record["to"]):
                continue
            result.append(dict(record))
            if limit is not None and len(result) >= limit:
                break
        return result

    def get(self, sms_id: str) -> dict[str, Any] | None:
        """One stored message by id, or ``None``."""
        record = self._records.get(sms_id)
        return None if record is None else dict(record)


# -- HTTP layer ---------------------------------------------------------------------


class OutageRequest(BaseModel):
    """Body of ``POST /dev/sms/outage``."""

    on: bool


class InboundRequest(BaseModel):
    """Body of ``POST /dev/sms/inbound``."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    message: str


def _error(status_code: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="46elks"'} if status_code == 401 else None
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def create_sms_router(gateway: SmsGateway) -> APIRouter:
    """FastAPI router with the provider API (``/a1/sms``) and the ``/dev/sms`` controls."""
    router = APIRouter()

    @router.post("/a1/sms")
    async def post_sms(request: Request) -> JSONResponse:
        # Outage first: a provider that is down does not check credentials either.
        if gateway.outage:
            return _error(503, "Service temporarily unavailable (simulated outage).")
        if not gateway.check_auth(request.headers.get("authorization")):
            return _error(401, "Unauthorized: wrong or missing API credentials.")
        # Parsed by hand (not Form(...)) so missing fields give the provider's 400,
        # not FastAPI's 422.
        form = await request.form()
        fields: dict[str, str] = {}
        for key in ("from", "to", "message", "whendelivered"):
            value = form.get(key)
            if value is not None and not isinstance(value, str):
                return _error(400, f"'{key}' must be a plain form field.")
            if value is not None:
                fields[key] = value
        for key in ("from", "to", "message"):
            if key not in fields:
                return _error(400, f"Missing key '{key}'.")
        try:
            body = gateway.send(
                fields["from"], fields["to"], fields["message"], fields.get("whendelivered")
            )
        except SmsError as exc:
            return _error(exc.status_code, exc.message)
        return JSONResponse(body)

    @router.get("/dev/sms/outage")
    async def get_outage() -> dict[str, bool]:
        return {"outage": gateway.outage}

    @router.post("/dev/sms/outage")
    async def set_outage(body: OutageRequest) -> dict[str, bool]:
        gateway.outage = body.on
        log.info("simulated SMS outage %s", "ON" if body.on else "OFF")
        return {"outage": gateway.outage}

    @router.post("/dev/sms/inbound")
    async def inbound(body: InboundRequest) -> JSONResponse:
        try:
            record = await gateway.simulate_inbound(body.from_, body.to, body.message)
        except SmsError as exc:
            return _error(exc.status_code, exc.message)
        return JSONResponse(record)

    @router.get("/dev/sms/messages")
    async def list_messages(
        direction: Direction | None = None,
        number: str | None = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
    ) -> list[dict[str, Any]]:
        if number is not None:
            # An unencoded "+46..." in a query string arrives as " 46..."; repair it so
            # curl users do not get a silently empty list.
            number = number.strip()
            if number.isdigit():
                number = "+" + number
        return gateway.messages(direction=direction, number=number, limit=limit)

    @router.get("/dev/sms/messages/{sms_id}")
    async def get_message(sms_id: str) -> JSONResponse:
        record = gateway.get(sms_id)
        if record is None:
            return _error(404, "No such message.")
        return JSONResponse(record)

    return router
