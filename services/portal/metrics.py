"""The portal's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class PortalMetrics:
    """Requests by route template and status, commands sent, queries that failed."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "radslag_portal_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "radslag_portal_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.commands = Counter(
            "radslag_portal_commands_published_total",
            "Commands the portal published, by message name.",
            ["command"],
            registry=self.registry,
        )
        self.query_failures = Counter(
            "radslag_portal_query_failures_total",
            "Queries whose owner was unavailable or refused, by message name.",
            ["query"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "radslag_portal_rate_limited_total",
            "Requests refused by a rate limit, by endpoint group.",
            ["scope"],
            registry=self.registry,
        )
        self.honeypot = Counter(
            "radslag_portal_honeypot_total",
            "Sign-ups dropped because a field no person sees was filled in (bots).",
            registry=self.registry,
        )
        self.rate_limit_unchecked = Counter(
            "radslag_portal_rate_limit_unchecked_total",
            "Requests let through unchecked because the rate-limit counts (the portal's "
            "database) did not answer in time, by endpoint group.",
            ["scope"],
            registry=self.registry,
        )
