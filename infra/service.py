"""The runtime every service shares: broker, store, outbox relay, HTTP health and metrics.

A service supplies its name, a function that builds its subscribers, its indexes, the
collections whose documents carry outboxes, and a function that refreshes its domain gauges.
``Service.http_app()`` is what uvicorn runs; tests call ``start``/``stop`` directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import structlog
from fastapi import APIRouter, FastAPI, Response
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsRouter, NatsUserPassword, PullSub
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js import JetStreamContext
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from contracts.envelope import Envelope
from contracts.subjects import DEAD_LETTER_STREAM, stream_name, subject_pattern
from infra import bus, outcomes
from infra.deadletter import file_exhausted
from infra.natsauth import BusLogin, declared, inbox_prefix, own_streams
from infra.relay import OutboxRelay
from infra.sealing import Sealer
from infra.store import (
    Document,
    connect,
    database,
    ensure_outbox_index,
    insert_new,
    new_document,
)

log = structlog.get_logger()

BACKLOG_CAP = 1000
"""The outbox backlog gauge reads at most this many documents: 1000 means 1000 or more."""


class ServiceSettings(BaseSettings):
    """Where a service finds the bus and the store (environment: NATS_URL, NATS_USER,
    NATS_PASSWORD, MONGODB_URL …)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    """The process's own NATS user; unset, the service's (or the portal's) name."""
    nats_password: SecretStr | None = None
    """That user's password (never put it in ``NATS_URL``, which may be logged)."""
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    portal_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    seal_keys: str = ""
    """SEAL_KEYS: the installation's seal keys (``infra.sealing``); required to start."""
    pseudonym_key: SecretStr | None = None
    """PSEUDONYM_KEY (rounds): keys the pseudonyms of longitudinal answers. Unset, it is derived
    from the last (oldest) seal key: set it in production, so that rotating the seal keys does
    not change the pseudonyms."""

    def bus_login(self, default_user: str) -> BusLogin:
        """How this process logs in to NATS: its user (``default_user`` unless set)."""
        password = self.nats_password.get_secret_value() if self.nats_password else None
        return BusLogin(self.nats_url, self.nats_user or default_user, password)


@dataclass
class Runtime:
    """What handlers need at run time, filled in by ``Service.start``."""

    service: str
    settings: ServiceSettings
    registry: CollectorRegistry
    db: AsyncDatabase[Document] = field(init=False)
    js: JetStreamContext = field(init=False)
    nc: Any = field(init=False)
    """The core NATS connection (for outcome notifications)."""
    relay: OutboxRelay = field(init=False)
    sealer: Sealer = field(init=False)
    """Seals personal links and dead letters (``infra.sealing``)."""
    extras: dict[str, Any] = field(default_factory=dict)

    async def flush(self, collection: str, ids: Sequence[Any] | None = None) -> None:
        """Publish the messages a handler just wrote (the sweep would, a little later)."""
        await self.relay.flush(collection, ids)

    async def publish_written(
        self, collection: str, written: Sequence[tuple[Any, Envelope]], *, sole: bool = False
    ) -> None:
        """Publish messages a handler just stored as (document id, message), without a read.

        ``sole``: they are the last their documents will get (see ``OutboxRelay``).
        """
        await self.relay.publish_written(collection, written, sole=sole)

    async def send_once(self, collection: str, key: str, message: Envelope) -> None:
        """Send ``message`` from a document of its own, ``key`` (derived from the cause), made
        once: a redelivered cause finds it and sends nothing twice."""
        await insert_new(self.db[collection], [new_document({"_id": key}, message)])
        await self.flush(collection, [key])

    async def settle(self, command: Envelope, status: str, reason: str | None = None) -> None:
        """Record the outcome of the command being handled and push it to its waiter."""
        await outcomes.settle(self.db, self.nc, command, status, reason)

    async def publish(self, message: Envelope) -> None:
        """Publish a message directly (for the portal and tools; services use the outbox)."""
        await bus.publish(self.js, message)


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[None]])


def subscriber(
    router: NatsRouter,
    message: type[Envelope],
    durable: str,
    *,
    batch_size: int = 50,
    max_workers: int | None = None,
) -> Callable[[Handler], Handler]:
    """Subscribe to a message for every tenant with a durable pull consumer, manual ack."""
    register = router.subscriber(
        subject_pattern(message),
        stream=JStream(stream_name(message.owner, message.kind), declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        config=bus.consumer_config(durable),
        max_workers=max_workers,
        # None: deliveries come under the connection's own inbox prefix (_INBOX.<user>), the
        # only inboxes the bus lets this user read; FastStream's default is "_INBOX.".
        inbox_prefix=cast(bytes, None),
    )

    def decorate(handler: Handler) -> Handler:
        register(handler)
        return handler

    return decorate


Indexes = Callable[[AsyncDatabase[Document]], Awaitable[None]]
Gauges = Callable[[Runtime], Awaitable[None]]


class Service:
    """One service process: owns its database, its consumers and its outbox relay."""

    def __init__(
        self,
        name: str,
        *,
        build_router: Callable[[Runtime], NatsRouter],
        indexes: Indexes,
        outbox_collections: Sequence[str] = (),
        refresh_gauges: Gauges | None = None,
        settings: ServiceSettings | None = None,
    ) -> None:
        self.name = name
        self.settings = settings or ServiceSettings()
        self.registry = CollectorRegistry()
        self.runtime = Runtime(name, self.settings, self.registry)
        self._outbox_backlog = Gauge(
            "radslag_outbox_backlog",
            "Documents whose pending messages the relay has not published yet (capped at 1000).",
            ["collection"],
            registry=self.registry,
        )
        self._outcomes = Counter(
            "radslag_deliveries_total",
            "Deliveries handled by this service's consumers, by subject pattern and outcome.",
            ["subject", "outcome"],
            registry=self.registry,
        )
        login = self.settings.bus_login(name)
        self.broker = NatsBroker(
            login.url,
            name=f"radslag-{name}",
            security=(
                NatsUserPassword(login.user, login.password) if login.password is not None else None
            ),
            inbox_prefix=inbox_prefix(login.user),
            middlewares=[
                NatsPrometheusMiddleware(registry=self.registry, app_name=name),
                bus.reliable_middleware(
                    self._dead_letter, on_outcome=self._count, settle=self._settle
                ),
            ],
            graceful_timeout=10.0,
            # Our middleware logs each message as JSON with its context; FastStream's own
            # plain-text lines would only break the log format.
            logger=None,
        )
        self.build_router = build_router
        self._indexes = indexes
        self._outbox_collections = tuple(outbox_collections)
        self._refresh_gauges = refresh_gauges
        self._client: AsyncMongoClient[Document] | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._background_jobs: list[Callable[[Runtime], Awaitable[None]]] = []
        self._routes: list[APIRouter] = []
        self._background: list[asyncio.Task[None]] = []
        self._advisories: list[Any] = []
        self.ready = False

    @property
    def own_streams(self) -> tuple[str, ...]:
        """The streams of the messages this service owns (none for a test's probe)."""
        return own_streams(self.name)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` when the service stops (close pools the service opened)."""
        self._on_stop.append(callback)

    def add_routes(self, routes: APIRouter) -> None:
        """Serve more HTTP routes next to health and metrics (a provider's webhook, say)."""
        self._routes.append(routes)

    def in_background(self, job: Callable[[Runtime], Awaitable[None]]) -> None:
        """Run ``job`` once in the background after the service has started (repairs, say)."""
        self._background_jobs.append(job)

    def set_gauge_refresher(self, refresh: Gauges) -> None:
        """Set what recomputes the domain gauges on each /metrics scrape."""
        self._refresh_gauges = refresh

    def _count(self, subject: str, outcome: str) -> None:
        # Label by message name, not by tenant, to keep the series count bounded.
        name = subject.rsplit(".", 1)[-1]
        self._outcomes.labels(name, outcome).inc()

    async def _settle(
        self, waiter: outcomes.Waiter, command_id: str, tenant: str, status: str, reason: str | None
    ) -> None:
        await outcomes.record_id(self.runtime.db, command_id, tenant, status, reason)
        await outcomes.notify(self.runtime.nc, command_id, tenant, status, reason, waiter=waiter)

    async def _dead_letter(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        # Sealed: a dead letter may hold addresses, links or answers, and is kept 90 days.
        sealed = self.runtime.sealer.seal(data)
        if headers.get("Radslag-Reason") == "exhausted" and "Radslag-Error" in headers:
            # Any exception's text, which can quote what the handler was working on.
            error = self.runtime.sealer.seal(headers["Radslag-Error"].encode()).decode()
            headers = {**headers, "Radslag-Error": error}
        await self.runtime.js.publish(subject, sealed, headers=headers, stream=DEAD_LETTER_STREAM)

    async def _on_exhausted(self, msg: Any) -> None:
        try:
            if await file_exhausted(self.runtime.js, msg.data, self.runtime.sealer):
                self._count("advisory", "dead_lettered")
        except Exception as exc:
            log.error("could not file an exhausted message", error=repr(exc))

    async def start(self) -> None:
        """Connect, create streams and indexes, start consumers and the relay."""
        self.runtime.sealer = Sealer(self.settings.seal_keys)
        self._client = connect(self.settings.mongodb_url)
        self.runtime.db = database(self._client, self.name)
        await self._indexes(self.runtime.db)
        await outcomes.ensure_index(self.runtime.db)
        for collection in self._outbox_collections:
            await ensure_outbox_index(self.runtime.db, collection)
        connection = await self.broker.connect()
        self.runtime.nc = connection
        self.runtime.js = connection.jetstream()
        router = self.build_router(self.runtime)
        # Its own streams (and the dead letters) it creates or updates; the streams it
        # consumes from it only creates if missing, so that the services can start in any
        # order: their owners keep them up to date (infra.natsauth allows no more).
        owned = (*self.own_streams, DEAD_LETTER_STREAM)
        consumed = {consumer.stream for consumer in declared(router)[0]}
        await bus.ensure_streams(self.runtime.js, {*owned, *consumed}, owned=owned)
        self.runtime.relay = OutboxRelay(self.runtime.db, self.runtime.js, self._outbox_collections)
        self.broker.include_router(router)
        await self.broker.start()
        # A stream's owner files the messages any consumer of it gave up on (only the owner
        # may read its streams by sequence); one replica takes each advisory (queue group).
        connection = await self.broker.connect()
        for stream in self.own_streams:
            self._advisories.append(
                await connection.subscribe(
                    bus.MAX_DELIVERIES_ADVISORY.format(stream=stream, consumer="*"),
                    queue=f"{self.name}-advisories",
                    cb=self._on_exhausted,
                )
            )
        # Ready means the server has every subscription: a query sent now finds its responder.
        await connection.flush()
        self._relay_task = asyncio.create_task(self.runtime.relay.run(), name=f"{self.name}-relay")
        for job in self._background_jobs:
            self._background.append(asyncio.create_task(self._run_job(job)))
        self.ready = True
        log.info("service started", service=self.name)

    async def _run_job(self, job: Callable[[Runtime], Awaitable[None]]) -> None:
        try:
            await job(self.runtime)
        except Exception as exc:
            log.error("background job failed", job=job.__name__, error=repr(exc)[:500])

    async def stop(self) -> None:
        """Stop consumers and the relay, then close connections."""
        self.ready = False
        for task in self._background:
            task.cancel()
        for advisories in self._advisories:
            await advisories.unsubscribe()
        self._advisories.clear()
        if self._relay_task is not None:
            self.runtime.relay.stop()
            await self._relay_task
        await self.broker.stop()
        for callback in self._on_stop:
            await callback()
        if self._client is not None:
            await self._client.close()
        log.info("service stopped", service=self.name)

    async def is_ready(self) -> tuple[bool, str]:
        """Ready when started, the store answers and the bus is connected."""
        if not self.ready or self._client is None:
            return False, "starting"
        try:
            await self.runtime.db.command("ping")
        except Exception as exc:
            return False, f"store: {exc!r}"
        if not await self.broker.ping(timeout=2.0):
            return False, "bus: not connected"
        return True, "ok"

    def http_app(self) -> FastAPI:
        """The HTTP side: /health/live, /health/ready, /metrics; lifespan runs the service."""

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=f"radslag-{self.name}", lifespan=lifespan, docs_url=None)
        for routes in self._routes:
            app.include_router(routes)

        @app.get("/health/live")
        async def live() -> dict[str, str]:
            return {"status": "ok", "service": self.name}

        @app.get("/health/ready")
        async def ready(response: Response) -> dict[str, str]:
            ok, detail = await self.is_ready()
            response.status_code = 200 if ok else 503
            return {"status": "ok" if ok else "unavailable", "service": self.name, "detail": detail}

        @app.get("/metrics")
        async def metrics() -> Response:
            if self.ready:
                for collection in self._outbox_collections:
                    # Read at most BACKLOG_CAP ids: a count would read every pending document.
                    pending = (
                        await self.runtime.db[collection]
                        .find({"outbox_pending": {"$gt": 0}}, {"_id": 1})
                        .limit(BACKLOG_CAP)
                        .to_list()
                    )
                    self._outbox_backlog.labels(collection).set(len(pending))
            if self._refresh_gauges is not None and self.ready:
                try:
                    await self._refresh_gauges(self.runtime)
                except Exception as exc:
                    log.warning("gauge refresh failed", error=repr(exc))
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return app
