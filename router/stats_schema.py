"""The JSON shape of `GET /v1/router/stats` and of each `/v1/router/events` SSE event.

The router produces it; the dashboard (over HTTP, or rebuilt from a results database
for replay) consumes it. Changing a key means changing both sides in one commit.
Percentile objects hold None until a window has data.
"""

from __future__ import annotations

from typing import Literal, TypedDict

Health = Literal["healthy", "draining", "failed", "ejected", "unknown"]
EventKind = Literal[
    "site-failed",
    "site-restored",
    "site-drained",
    "failover",
    "policy-changed",
    "overload",
    "rate-changed",
    "info",
]


class Percentiles(TypedDict):
    p50: float | None
    p95: float | None
    p99: float | None


class SiteStats(TypedDict):
    name: str
    kind: Literal["lpu", "gpu"]
    hardware: str
    model: str
    place: str
    lat: float
    lon: float
    url: str
    health: Health
    in_flight: int  # requests the router has open to this site
    queued: int  # from the site's /health
    running: int  # from the site's /health
    utilisation: float  # running / max_running, 0..1
    requests: int  # finished in the rolling window
    share: float  # of all requests finished in the window, 0..1
    ttft_ms: Percentiles  # site-side
    tpot_ms: Percentiles
    e2e_ms: Percentiles  # client-side, for requests this site served
    tokens_per_s: float
    j_per_token: float | None
    usd_per_mtok: float | None


class CityStats(TypedDict):
    name: str
    region: str
    lat: float
    lon: float
    requests: int
    e2e_ms: Percentiles
    ttft_ms: Percentiles
    rtt_ms: float | None  # mean modelled backbone RTT to the sites that served it
    share: dict[str, float]  # site name -> fraction of this city's requests


class RegionStats(TypedDict):
    region: str  # Europe | Asia | Middle East | North America
    requests: int
    e2e_ms: Percentiles
    ttft_ms: Percentiles
    rtt_ms: float | None
    share: dict[str, float]
    cities: list[CityStats]


class Event(TypedDict):
    at: float  # Unix seconds
    kind: EventKind
    site: str | None
    message: str


class TrafficState(TypedDict):
    rate_rps: float
    paused: bool


class RequestTotals(TypedDict):
    total: int
    ok: int
    failed: int
    rejected: int
    in_flight: int


class RouterStats(TypedDict):
    at: float  # Unix seconds when the snapshot was taken
    window_s: float  # rolling window the percentiles cover
    policy: str
    policies: list[str]  # valid policy names
    uptime_s: float
    requests: RequestTotals  # since start
    traffic: TrafficState | None  # None when no generator is attached
    sites: list[SiteStats]
    regions: list[RegionStats]
    events: list[Event]  # most recent last, at most 50
