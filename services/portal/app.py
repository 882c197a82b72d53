"""The portal's composition root: settings, gateway, store, templates, routes, middleware.

``create_app(settings, gateway=None)`` builds the FastAPI app; without a gateway it connects
to NATS at start. The app stores only staff accounts and sessions, login failures, the
rate-limit counts and its secret key (database ``radslag_portal``); everything else is
commands and queries to the owning services.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.natsauth import PORTAL
from infra.queries import QueryFailed
from infra.store import connect, database
from services.portal import (
    accounts,
    api,
    audit,
    campaign_api,
    campaign_pages,
    contact_health,
    maps,
    member_api,
    member_import_api,
    member_import_pages,
    member_pages,
    member_panel_pages,
    member_phone_pages,
    pages,
    panel_pages,
    pin_map,
    poll_pages,
    renew_pages,
    results_downloads,
    round_api,
    round_pages,
    round_review,
    settings_pages,
    sign_up_by_code,
    team_pages,
    text_pages,
    topics,
)
from services.portal.dependencies import NotSignedIn
from services.portal.gateway import Gateway, NatsGateway, PublishFailed
from services.portal.handlers import Portal, RateLimited, correlation_id
from services.portal.i18n import Catalogues
from services.portal.keys import installation_key
from services.portal.metrics import PortalMetrics
from services.portal.rendering import build_environment, render
from services.portal.settings import PortalSettings

log = structlog.get_logger()

STATIC_DIR = Path(__file__).parent / "static"
LANGUAGE_COOKIE = "lang"
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Personal links carry tokens in the path: never send them to another site as a
    # referrer. Not "no-referrer": under it browsers send "Origin: null" with the portal's own
    # form posts (Fetch standard), which the Origin check must refuse.
    "referrer-policy": "same-origin",
}


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods named in metrics and logs; any other token a client sends counts as ``other``."""


class Edge:
    """ASGI middleware for every HTTP request: language, correlation id, headers, metrics, log.

    The language comes from ``?lang=`` (remembered in a cookie) or the ``lang`` cookie, else
    Swedish. The correlation id (from ``X-Correlation-ID`` or new) is bound into the log
    context and carried by every message the request sends.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        catalogues: Catalogues,
        metrics: PortalMetrics,
        secure_cookies: bool,
        hsts: bool,
        public_origin: str,
        image_sources: str = "",
    ) -> None:
        self.app = app
        self.headers = dict(_SECURITY_HEADERS)
        if image_sources:
            # A configured map tile server: allowed for images only (maps.image_sources).
            self.headers["content-security-policy"] = self.headers[
                "content-security-policy"
            ].replace("img-src 'self' data:", f"img-src 'self' data: {image_sources}")
        self.catalogues = catalogues
        self.metrics = metrics
        self.secure_cookies = secure_cookies
        self.hsts = hsts
        self.public_origin = public_origin

    def _same_origin(self, headers: dict[str, str], scope: Scope) -> bool:
        """Whether a POST comes from the portal's own pages (or from no browser at all).

        Browsers name the page's origin in ``Origin`` on every cross-site POST; one that is
        neither the public URL's nor the address this request was sent to is another site
        making its visitor post (sign-up, confirmation, answers, login). No ``Origin``: not a
        browser's cross-site request (API clients, curl), which CSRF tokens cover anyway.
        """
        origin = headers.get("origin")
        if origin is None:
            return True
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
        return origin.lower() in {self.public_origin, own}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [None])[0]
        cookie_lang = _cookie(headers.get("cookie", ""), LANGUAGE_COOKIE)
        lang = self.catalogues.choose(asked, cookie_lang)
        remember = asked is not None and asked == lang and asked != cookie_lang
        scope.setdefault("state", {})["lang"] = lang
        incoming = headers.get("x-correlation-id", "")
        cid = incoming if _CORRELATION_RE.fullmatch(incoming) else str(uuid.uuid4())
        path: str = scope["path"]
        method = scope["method"] if scope["method"] in METHODS else "other"
        foreign = scope["method"] == "POST" and not self._same_origin(headers, scope)
        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out = MutableHeaders(scope=message)
                out["x-correlation-id"] = cid
                for name, value in self.headers.items():
                    out.setdefault(name, value)
                if self.hsts:
                    out.setdefault("strict-transport-security", "max-age=31536000")
                if not path.startswith("/static/"):
                    out.setdefault("cache-control", "no-store")
                if remember:
                    secure = "; Secure" if self.secure_cookies else ""
                    out.append(
                        "set-cookie",
                        f"{LANGUAGE_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
                    )
            await send(message)

        token = correlation_id.set(cid)
        try:
            with structlog.contextvars.bound_contextvars(correlation_id=cid):
                try:
                    if foreign:
                        await _forbidden(send_with_headers)
                    else:
                        await self.app(scope, receive, send_with_headers)
                finally:
                    route = scope.get("route")
                    template = getattr(route, "path", None) or "unmatched"
                    elapsed = time.perf_counter() - started
                    self.metrics.requests.labels(method, template, str(status)).inc()
                    self.metrics.request_seconds.labels(template).observe(elapsed)
                    log.info(
                        "request",
                        method=method,
                        route=template,
                        status=status,
                        ms=round(elapsed * 1000, 1),
                    )
        finally:
            correlation_id.reset(token)


async def _forbidden(send: Send) -> None:
    body = "Formuläret kom från en annan webbplats. / The form came from another site.".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _route(request: Request) -> str:
    # The route template, never the path: paths can hold personal-link tokens.
    return str(getattr(request.scope.get("route"), "path", "unmatched"))


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/health/"))


def create_app(settings: PortalSettings | None = None, gateway: Gateway | None = None) -> FastAPI:
    """The portal app. Without ``gateway`` it connects a ``NatsGateway`` at start."""
    settings = settings or PortalSettings()
    catalogues = Catalogues()
    metrics = PortalMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = connect(settings.mongodb_url)
        db = database(client, "portal")
        nats_gateway: NatsGateway | None = None
        http = httpx.AsyncClient()
        purging: asyncio.Task[None] | None = None
        try:
            await accounts.ensure_indexes(db)
            await audit.ensure_index(db)
            active: Gateway
            if gateway is None:
                nats_gateway = await NatsGateway.connect(
                    settings.bus_login(PORTAL), timeout=settings.portal_query_timeout_seconds
                )
                active = nats_gateway
            else:
                active = gateway
            portal = Portal(
                settings=settings,
                gateway=active,
                db=db,
                metrics=metrics,
                http=http,
                key=await installation_key(db),
            )
            await portal.limits.ensure_indexes()
            purging = asyncio.create_task(
                portal.limits.purge_every(settings.portal_rate_limit_window_seconds)
            )
            app.state.portal = portal
            log.info("portal started")
            yield
        finally:
            if purging is not None:
                purging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purging
            if nats_gateway is not None:
                await nats_gateway.close()
            await http.aclose()
            await client.close()
            log.info("portal stopped")

    app = FastAPI(
        title="Rådslag portal API",
        summary="Sign-up, answers and staff work for the councils of a Rådslag installation.",
        version="1",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        # Bodies past the limit get 413 before anything parses them (JSON and forms alike).
        max_body_size=settings.portal_max_body_bytes,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.ops_networks = _ops_networks(settings.portal_ops_networks)
    app.state.catalogues = catalogues
    app.state.templates = build_environment(catalogues)
    pin_map.install(app.state.templates, settings, catalogues)
    app.add_middleware(
        Edge,
        catalogues=catalogues,
        metrics=metrics,
        secure_cookies=settings.cookies_secure,
        hsts=settings.served_over_https,
        public_origin=_origin(settings.portal_url),
        image_sources=maps.image_sources(settings),
    )
    # Outside Edge; what either refuses is answered with 4xx and is not an action taken.
    app.add_middleware(audit.AuditTrail, state=app.state)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(round_api.router)
    app.include_router(round_review.api)
    app.include_router(topics.api)
    app.include_router(campaign_api.router)
    app.include_router(pages.router)
    app.include_router(round_pages.router)
    app.include_router(round_review.pages)
    app.include_router(topics.pages)
    app.include_router(campaign_pages.router)
    app.include_router(panel_pages.router)
    app.include_router(settings_pages.router)
    app.include_router(team_pages.router)
    app.include_router(renew_pages.router)
    app.include_router(member_api.router)
    app.include_router(member_pages.router)
    app.include_router(member_panel_pages.router)
    app.include_router(member_phone_pages.router)
    app.include_router(poll_pages.router)
    app.include_router(sign_up_by_code.router)
    app.include_router(sign_up_by_code.pages)
    app.include_router(member_import_api.router)
    app.include_router(member_import_pages.router)
    app.include_router(contact_health.router)
    app.include_router(results_downloads.router)
    app.include_router(results_downloads.pages)
    app.include_router(text_pages.router)
    app.include_router(maps.router)
    _add_operations(app, metrics)
    _add_error_handlers(app)
    return app


def _ops_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    parts = (n.strip() for n in spec.split(","))
    return tuple(ipaddress.ip_network(n, strict=False) for n in parts if n)


def _from_ops_network(request: Request) -> bool:
    """Whether the client is in ``PORTAL_OPS_NETWORKS`` (monitoring, load balancers)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    networks = request.app.state.ops_networks
    return any(address in network for network in networks)


def _add_operations(app: FastAPI, metrics: PortalMetrics) -> None:
    """Liveness for everyone; the detailed readiness and the metrics for the ops networks."""

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": "portal"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        portal: Portal = request.app.state.portal
        checks = await portal.readiness()
        not_ready = [name for name, state in checks.items() if state != "ok"]
        body: dict[str, Any] = {"status": "unavailable" if not_ready else "ok"}
        if _from_ops_network(request):
            body.update(service="portal", not_ready=not_ready, checks=checks)
        return JSONResponse(body, status_code=503 if not_ready else 200)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not _from_ops_network(request):
            raise StarletteHTTPException(status_code=404)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _wants_json(request):
            return JSONResponse(
                {"detail": str(exc.detail), "errors": {}},
                status_code=exc.status_code,
                headers=exc.headers,
            )
        return render(
            request, "error.html", exc.status_code, status=exc.status_code, detail=exc.detail
        )

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _wants_json(request):
            return await request_validation_exception_handler(request, exc)
        return render(request, "error.html", 400, status=400)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, api.ApiError)
        return JSONResponse(
            {"detail": exc.detail, "errors": exc.errors}, status_code=exc.status_code
        )

    async def not_signed_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotSignedIn)
        if _wants_json(request):
            return JSONResponse(
                {"detail": "not signed in for this council", "errors": {}}, status_code=401
            )
        return RedirectResponse(exc.login_url, status_code=303)

    async def rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimited)
        headers = {"Retry-After": str(exc.retry_after)}
        if _wants_json(request):
            return JSONResponse(
                {"detail": "too many requests; try again later", "errors": {}},
                status_code=429,
                headers=headers,
            )
        response = render(request, "error.html", 429, status=429)
        response.headers.update(headers)
        return response

    async def unavailable(request: Request, exc: Exception) -> Response:
        log.warning("back end unavailable", error=str(exc)[:300], route=_route(request))
        if _wants_json(request):
            return JSONResponse(
                {"detail": "a back-end service is unavailable; try again shortly", "errors": {}},
                status_code=503,
                headers={"Retry-After": "10"},
            )
        response = render(request, "error.html", 503, status=503)
        response.headers["Retry-After"] = "10"
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", error=repr(exc)[:500], route=_route(request), exc_info=exc)
        if _wants_json(request):
            return JSONResponse({"detail": "internal error", "errors": {}}, status_code=500)
        return render(request, "error.html", 500, status=500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(api.ApiError, api_error)
    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(RateLimited, rate_limited)
    app.add_exception_handler(QueryFailed, unavailable)
    app.add_exception_handler(PublishFailed, unavailable)
    app.add_exception_handler(Exception, server_error)
