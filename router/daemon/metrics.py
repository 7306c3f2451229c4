"""Prometheus metrics of the router (a registry per app, so tests do not collide)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from router.daemon.state import RouterState

_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "georoute_router_requests",
            "Requests finished, by site and status",
            ["site", "status"],
            registry=self.registry,
        )
        self.e2e = Histogram(
            "georoute_router_e2e_seconds",
            "Client-side end-to-end time of ok requests",
            ["site"],
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.ttft = Histogram(
            "georoute_router_ttft_seconds",
            "Client-side time to first token of ok requests",
            ["site"],
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.retries = Counter(
            "georoute_router_retries", "Failovers to the next site", registry=self.registry
        )
        self.in_flight = Gauge(
            "georoute_router_in_flight",
            "Requests open to each site",
            ["site"],
            registry=self.registry,
        )
        self.healthy = Gauge(
            "georoute_router_site_healthy",
            "1 when the site may take new requests",
            ["site"],
            registry=self.registry,
        )

        # Labelled children, looked up once per (site, status): `labels()` takes a lock
        # and builds its key every call, on the loop, for every request.
        self._counted: dict[tuple[str, str], Any] = {}
        self._timed: dict[str, tuple[Any, Any]] = {}

    def observe(self, row: dict[str, Any]) -> None:
        site = row.get("site") or "none"
        status = row["status"]
        counter = self._counted.get((site, status))
        if counter is None:
            counter = self._counted[site, status] = self.requests.labels(site=site, status=status)
        counter.inc()
        if row.get("retries"):
            self.retries.inc(row["retries"])
        if status == "ok":
            timed = self._timed.get(site)
            if timed is None:
                timed = self._timed[site] = (
                    self.e2e.labels(site=site),
                    self.ttft.labels(site=site),
                )
            timed[0].observe(row["e2e_ms"] / 1000.0)
            if row.get("ttft_ms") is not None:
                timed[1].observe(row["ttft_ms"] / 1000.0)

    def render(self, state: RouterState, now: float) -> bytes:
        for site in state.sites.values():
            self.in_flight.labels(site=site.name).set(site.in_flight)
            self.healthy.labels(site=site.name).set(
                1.0 if site.health(now) in ("healthy", "unknown") else 0.0
            )
        return generate_latest(self.registry)
