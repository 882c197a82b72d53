"""The portal's settings, from the environment (NATS_URL, MONGODB_URL, DEVTOOLS_URL …)."""

from __future__ import annotations

from pydantic import Field

from infra.service import ServiceSettings


class PortalSettings(ServiceSettings):
    """Everything the portal reads from its environment; names are the fields upper-cased."""

    devtools_url: str | None = None
    """Base URL of the local mail/SMS devtools; the /dev/ pages exist only when it is set."""
    service_health_urls: str = ""
    """``name=http://host:port`` pairs, comma-separated: back ends /health/ready checks."""
    portal_secure_cookies: bool | None = None
    """Mark cookies Secure; unset, they are Secure whenever ``PORTAL_URL`` is ``https://``
    (every installation but the local stack)."""
    portal_ops_networks: str = "127.0.0.0/8,::1/128"
    """Networks (comma-separated CIDRs) that may read ``/metrics`` and the detailed
    ``/health/ready``; everyone else gets 404 and a bare status."""
    portal_trusted_proxies: str = "127.0.0.1"
    """Reverse proxies (addresses or CIDRs, comma-separated, ``*`` for any) whose
    ``X-Forwarded-For``/``-Proto`` are believed: the client address that rate limits and the
    ops networks see is then the one the proxy names."""
    portal_max_body_bytes: int = 256 * 1024
    """Largest request body accepted (JSON or form), refused with 413 before it is parsed."""
    portal_session_hours: float = 8.0
    """How long a staff session lasts."""
    portal_rate_limit: int = Field(default=20, ge=1)
    """Requests one client address (an IPv6 client: its /64) may make to each rate-limited
    group of endpoints (sign-up, confirmation links, answer links, staff login) within
    ``portal_rate_limit_window_seconds``; counted in the portal's database, so the limit holds
    for all replicas together."""
    portal_rate_limit_window_seconds: int = Field(default=60, ge=1)
    """The sliding window those requests are counted in."""
    portal_rate_limit_timeout_seconds: float = 1.0
    """How long counting a request may take; past it (the database is away) the request goes
    through unchecked, logged and counted in ``radslag_portal_rate_limit_unchecked_total``."""
    portal_outcome_wait_seconds: float = 5.0
    """How long a request waits for a command's pushed outcome before asking the owner once
    and, if still unknown, saying it is being processed."""
    portal_tenant_cache_seconds: float = 10.0
    """How long the list of councils is cached."""
    portal_query_timeout_seconds: float = 5.0
    """How long a query to a back end may take."""
    portal_health_timeout_seconds: float = 2.0
    """How long a back end's /health/ready may take."""

    portal_map_tiles: str | None = None
    """Map questions' tile server: a URL template with ``{z}``, ``{x}`` and ``{y}`` (on
    another host, or ``/tiles/{z}/{x}/{y}.png`` for the portal's own grid tiles). Unset: no
    map anywhere, map questions are answered from the list of districts."""
    portal_map_attribution: str = ""
    """Who made the map (shown under it, as the tile server's licence usually asks)."""
    portal_map_views: str = ""
    """Each council's map: ``council=lat,lon,zoom`` pairs separated by ``;`` (``*`` for every
    council without its own). A council with no view gets no map."""
    portal_map_local_tiles: bool = False
    """Serve plain grid tiles under ``/tiles/`` (the local stack: a map with no other host)."""

    def health_urls(self) -> dict[str, str]:
        """The back ends to check, by name."""
        urls: dict[str, str] = {}
        for item in self.service_health_urls.split(","):
            name, sep, url = item.strip().partition("=")
            if sep and name.strip() and url.strip():
                urls[name.strip()] = url.strip().rstrip("/")
        return urls

    @property
    def served_over_https(self) -> bool:
        """Whether residents reach the portal over HTTPS (its public URL says so)."""
        return self.portal_url.lower().startswith("https://")

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies carry ``Secure`` (``PORTAL_SECURE_COOKIES``, else HTTPS or not)."""
        if self.portal_secure_cookies is not None:
            return self.portal_secure_cookies
        return self.served_over_https
