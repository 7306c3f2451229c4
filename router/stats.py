"""Rolling-window statistics for `GET /v1/router/stats` (pure).

Fed with finished request rows (the `router.store.REQUEST_COLUMNS` dicts the daemon
records) and a snapshot of site state, `RollingStats.snapshot` builds the exact
`RouterStats` shape of `router.stats_schema`. The dashboard's replay mode feeds the
same class rows read back from a results database, so live and replay agree.

Definitions: a row belongs to the window while its finish time (`arrived_at +
e2e_ms / 1000`) is within `window_s` of `now`. Site TTFT is site-side (`queue_ms +
prefill_ms`); E2E is client-side. Tokens/s, J/token and $/Mtok count output tokens of
requests that finished ok. A city's `rtt_ms` is the mean sampled round trip
(`net_up_ms + net_down_ms`) of the requests it sent.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.stats_schema import (
    CityStats,
    Event,
    Health,
    Percentiles,
    RegionStats,
    RequestTotals,
    RouterStats,
    SiteStats,
    TrafficState,
)

Row = Mapping[str, Any]
MAX_EVENTS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteState:
    """What the stats need of one site beyond its finished requests."""

    name: str
    kind: str  # "lpu" | "gpu"
    hardware: str
    model: str
    place: str
    lat: float
    lon: float
    url: str
    health: Health
    in_flight: int = 0
    queued: int = 0
    running: int = 0
    max_running: int = 1


def percentiles(values: Sequence[float]) -> Percentiles:
    """p50/p95/p99 (linear interpolation), all None for an empty window."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(np.asarray(values, dtype=float), [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def finished_at(row: Row) -> float:
    return float(row["arrived_at"]) + float(row.get("e2e_ms") or 0.0) / 1000.0


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _shares(rows: Sequence[Row]) -> dict[str, float]:
    counts = Counter(str(r["site"]) for r in rows if r.get("site"))
    total = sum(counts.values())
    return {site: n / total for site, n in sorted(counts.items())} if total else {}


class RollingStats:
    """Totals since start plus a rolling window of finished rows. Rows must be added
    roughly in finish order (as a live router produces them, or sorted for replay)."""

    def __init__(self, window_s: float = 60.0) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s!r}")
        self.window_s = window_s
        self._window: deque[Row] = deque()
        self.totals: Counter[str] = Counter()

    def add(self, row: Row) -> None:
        status = str(row.get("status", "failed"))
        self.totals[status if status in ("ok", "rejected") else "failed"] += 1
        self._window.append(row)

    def add_many(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.add(row)

    def _evict(self, now: float) -> list[Row]:
        horizon = now - self.window_s
        while self._window and finished_at(self._window[0]) < horizon:
            self._window.popleft()
        return [r for r in self._window if finished_at(r) <= now]

    def snapshot(
        self,
        *,
        now: float,
        sites: Sequence[SiteState],
        policy: str,
        policies: Sequence[str],
        uptime_s: float,
        in_flight: int = 0,
        traffic: TrafficState | None = None,
        events: Iterable[Event] = (),
    ) -> RouterStats:
        rows = self._evict(now)
        served = [r for r in rows if r.get("status") == "ok"]
        ok, failed, rejected = (self.totals[k] for k in ("ok", "failed", "rejected"))
        totals: RequestTotals = {
            "total": ok + failed + rejected + in_flight,
            "ok": ok,
            "failed": failed,
            "rejected": rejected,
            "in_flight": in_flight,
        }
        return {
            "at": now,
            "window_s": self.window_s,
            "policy": policy,
            "policies": list(policies),
            "uptime_s": uptime_s,
            "requests": totals,
            "traffic": traffic,
            "sites": [self._site(s, served) for s in sites],
            "regions": _regions(served),
            "events": list(events)[-MAX_EVENTS:],
        }

    def _site(self, site: SiteState, served: Sequence[Row]) -> SiteStats:
        mine = [r for r in served if r.get("site") == site.name]
        tokens = sum(int(r.get("output_tokens") or 0) for r in mine)
        energy_j = sum(float(r.get("energy_j") or 0.0) for r in mine)
        cost_usd = sum(float(r.get("cost_usd") or 0.0) for r in mine)
        return {
            "name": site.name,
            "kind": "lpu" if site.kind == "lpu" else "gpu",
            "hardware": site.hardware,
            "model": site.model,
            "place": site.place,
            "lat": site.lat,
            "lon": site.lon,
            "url": site.url,
            "health": site.health,
            "in_flight": site.in_flight,
            "queued": site.queued,
            "running": site.running,
            "utilisation": min(1.0, site.running / max(site.max_running, 1)),
            "requests": len(mine),
            "share": len(mine) / len(served) if served else 0.0,
            "ttft_ms": percentiles(
                [float(r["queue_ms"] or 0) + float(r["prefill_ms"] or 0) for r in mine]
            ),
            "tpot_ms": percentiles([float(r["tpot_ms"]) for r in mine if r.get("tpot_ms")]),
            "e2e_ms": percentiles([float(r["e2e_ms"]) for r in mine]),
            "tokens_per_s": tokens / self.window_s,
            "j_per_token": energy_j / tokens if tokens else None,
            "usd_per_mtok": cost_usd / tokens * 1e6 if tokens else None,
        }


def _group(rows: Sequence[Row], key: str) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(str(r.get(key) or "unknown"), []).append(r)
    return groups


def _rtt(rows: Sequence[Row]) -> float | None:
    return _mean([float(r["net_up_ms"] or 0) + float(r["net_down_ms"] or 0) for r in rows])


def _regions(served: Sequence[Row]) -> list[RegionStats]:
    regions: list[RegionStats] = []
    for region, rows in sorted(_group(served, "client_region").items()):
        cities: list[CityStats] = []
        for city, crow in sorted(_group(rows, "client_place").items()):
            cities.append(
                {
                    "name": city,
                    "region": region,
                    "lat": float(crow[0].get("client_lat") or 0.0),
                    "lon": float(crow[0].get("client_lon") or 0.0),
                    "requests": len(crow),
                    "e2e_ms": percentiles([float(r["e2e_ms"]) for r in crow]),
                    "ttft_ms": percentiles([float(r["ttft_ms"]) for r in crow]),
                    "rtt_ms": _rtt(crow),
                    "share": _shares(crow),
                }
            )
        regions.append(
            {
                "region": region,
                "requests": len(rows),
                "e2e_ms": percentiles([float(r["e2e_ms"]) for r in rows]),
                "ttft_ms": percentiles([float(r["ttft_ms"]) for r in rows]),
                "rtt_ms": _rtt(rows),
                "share": _shares(rows),
                "cities": cities,
            }
        )
    return regions
