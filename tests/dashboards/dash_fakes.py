"""A seeded, deterministic router for dashboard tests: snapshots and an admin API in memory.

`FakeRouter.snapshot()` builds a full `RouterStats` (four sites, two regions, fourteen
cities) from a seeded `numpy.random.Generator` and a step counter, so every run of a
test sees the same numbers. `FakeSource` follows a `FakeRouter` like `HTTPSource`
follows a real one: actions change the router's state and show in the next snapshot,
and it can be told to refuse actions or to go unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from dashboards.actions import (
    ADMIN,
    Action,
    ActionResult,
    ReplayControl,
    SetPolicy,
    SetTraffic,
    SiteAction,
    SourceStatus,
)
from router.stats_schema import CityStats, Event, RegionStats, RouterStats, SiteStats

T0 = 1_764_340_000.0  # a fixed Unix time (2025-11-28 14:26:40 UTC)

SITES = [
    # name, kind, hardware, place, lat, lon, ttft p50, tpot p50, $/Mtok, J/tok
    ("riyadh-1", "lpu", "groq-lpu", "Riyadh", 24.7136, 46.6753, 95.0, 3.2, 0.79, 0.42),
    ("riyadh-2", "lpu", "groq-lpu", "Riyadh", 24.7136, 46.6753, 102.0, 3.3, 0.79, 0.43),
    ("virginia", "gpu", "h100-sxm", "Ashburn", 39.0438, -77.4874, 310.0, 24.0, 2.10, 1.9),
    ("ireland", "gpu", "h200", "Dublin", 53.3498, -6.2603, 260.0, 19.0, 2.60, 1.6),
]
CITIES = {
    "Europe": [
        ("London", 51.5074, -0.1278),
        ("Paris", 48.8566, 2.3522),
        ("Frankfurt", 50.1109, 8.6821),
        ("Amsterdam", 52.3676, 4.9041),
        ("Madrid", 40.4168, -3.7038),
        ("Milan", 45.4642, 9.19),
        ("Stockholm", 59.3293, 18.0686),
        ("Warsaw", 52.2297, 21.0122),
    ],
    "Asia": [
        ("Mumbai", 19.076, 72.8777),
        ("Singapore", 1.3521, 103.8198),
        ("Tokyo", 35.6762, 139.6503),
        ("Delhi", 28.7041, 77.1025),
        ("Seoul", 37.5665, 126.978),
        ("Hong Kong", 22.3193, 114.1694),
    ],
}
POLICIES = ["fastest", "nearest", "lowest-rtt", "least-loaded", "round-robin", "cheapest"]


def _pct(rng: np.random.Generator, p50: float) -> dict[str, float | None]:
    jitter = float(rng.uniform(0.9, 1.1))
    return {"p50": p50 * jitter, "p95": p50 * jitter * 1.8, "p99": p50 * jitter * 2.6}


@dataclass
class FakeRouter:
    seed: int = 7
    policy: str = "fastest"
    rate_rps: float = 8.0
    paused: bool = False
    health: dict[str, str] = field(default_factory=lambda: {s[0]: "healthy" for s in SITES})
    events: list[Event] = field(default_factory=list)
    step: int = 0
    refuse: str | None = None  # when set, every action fails with this message

    def clock(self) -> float:
        return T0 + self.step

    def _serving(self) -> list[str]:
        return [n for n, h in self.health.items() if h == "healthy"]

    def snapshot(self) -> RouterStats:
        rng = np.random.default_rng([self.seed, self.step])
        serving = self._serving()
        lpu = [n for n in serving if n.startswith("riyadh")]
        sites: list[SiteStats] = []
        regions: list[RegionStats] = []
        shares_by_region: dict[str, dict[str, float]] = {}
        for region in CITIES:
            if region == "Asia" and lpu:
                weights = dict.fromkeys(lpu, 1.0)
            else:
                weights = {n: (2.0 if n.startswith("riyadh") else 1.0) for n in serving}
            total = sum(weights.values()) or 1.0
            shares_by_region[region] = {n: w / total for n, w in weights.items()}
        for name, kind, hw, place, lat, lon, ttft, tpot, usd, jt in SITES:
            health = self.health[name]
            up = health == "healthy"
            share = np.mean([s.get(name, 0.0) for s in shares_by_region.values()])
            load = float(share) * self.rate_rps * (0.0 if self.paused else 1.0)
            sites.append(
                {
                    "name": name,
                    "kind": kind,  # type: ignore[typeddict-item]
                    "hardware": hw,
                    "model": "llama-3.3-70b",
                    "place": place,
                    "lat": lat,
                    "lon": lon,
                    "url": f"http://127.0.0.1:80{len(sites) + 1:02d}",
                    "health": health,  # type: ignore[typeddict-item]
                    "in_flight": int(load * 2) if up else 0,
                    "queued": int(rng.integers(0, 3)) if up and kind == "gpu" else 0,
                    "running": int(load * 2) if up else 0,
                    "utilisation": min(1.0, load / 10) if up else 0.0,
                    "requests": int(load * 60),
                    "share": float(share),
                    "ttft_ms": _pct(rng, ttft) if up else {"p50": None, "p95": None, "p99": None},
                    "tpot_ms": _pct(rng, tpot) if up else {"p50": None, "p95": None, "p99": None},
                    "e2e_ms": _pct(rng, ttft + tpot * 250),
                    "tokens_per_s": load * 250,
                    "j_per_token": jt if up else None,
                    "usd_per_mtok": usd if up else None,
                }
            )
        for region, cities in CITIES.items():
            share = shares_by_region[region]
            city_rows: list[CityStats] = []
            for i, (cname, lat, lon) in enumerate(cities):
                rtt = float(np.hypot(lat - 24.7, lon - 46.7)) * 1.6 + 10
                e2e = 700.0 + rtt * 2 + 40 * i
                city_rows.append(
                    {
                        "name": cname,
                        "region": region,
                        "lat": lat,
                        "lon": lon,
                        "requests": 20 + 5 * i + self.step % 3,
                        "e2e_ms": _pct(rng, e2e),
                        "ttft_ms": _pct(rng, 150 + rtt),
                        "rtt_ms": rtt,
                        "share": dict(share),
                    }
                )
            regions.append(
                {
                    "region": region,
                    "requests": sum(c["requests"] for c in city_rows),
                    "e2e_ms": _pct(rng, 900.0 + (150 if region == "Asia" else 0) + 10 * self.step),
                    "ttft_ms": _pct(rng, 220.0),
                    "rtt_ms": 90.0 if region == "Europe" else 140.0,
                    "share": dict(share),
                    "cities": city_rows,
                }
            )
        ok = 40 * (self.step + 1)
        return {
            "at": self.clock(),
            "window_s": 60.0,
            "policy": self.policy,
            "policies": list(POLICIES),
            "uptime_s": 125.0 + self.step,
            "requests": {"total": ok + 3, "ok": ok, "failed": 2, "rejected": 1, "in_flight": 0},
            "traffic": {"rate_rps": self.rate_rps, "paused": self.paused},
            "sites": sites,
            "regions": regions,
            "events": list(self.events[-50:]),
        }

    def event(self, kind: str, site: str | None, message: str) -> None:
        self.events.append({"at": self.clock(), "kind": kind, "site": site, "message": message})  # type: ignore[typeddict-item]

    def apply(self, action: Action) -> ActionResult:
        if self.refuse is not None:
            return ActionResult(ok=False, message=self.refuse, code="refused")
        match action:
            case SetPolicy(policy=p):
                if p not in POLICIES:
                    return ActionResult(ok=False, message=f"unknown policy {p!r}")
                self.event("policy-changed", None, f"policy {self.policy} -> {p}")
                self.policy = p
            case SiteAction(site=s, op=op):
                if s not in self.health:
                    return ActionResult(ok=False, message=f"no site {s!r}")
                new = {"fail": "failed", "drain": "draining", "restore": "healthy"}[op]
                kind = {"fail": "site-failed", "drain": "site-drained", "restore": "site-restored"}
                self.health[s] = new
                self.event(kind[op], s, f"{s} {new} (admin)")
                if op == "fail":
                    self.event("failover", s, f"in-flight requests on {s} moved to other sites")
            case SetTraffic(rate_rps=r, paused=p):
                self.rate_rps, self.paused = r, p
                self.event("rate-changed", None, f"traffic {r:g} req/s{' paused' if p else ''}")
            case ReplayControl():
                return ActionResult(ok=False, message="not a replay")
        return ActionResult(ok=True, message="ok")


class FakeSource:
    """The app's `StatsSource` over a `FakeRouter`; `push()` sends the next snapshot."""

    capabilities = frozenset({ADMIN})
    label = "fake://router"

    def __init__(self, router: FakeRouter | None = None, *, auto: bool = False) -> None:
        self.router = router or FakeRouter()
        self.actions: list[Action] = []
        self.queue: asyncio.Queue[RouterStats] = asyncio.Queue()
        self.status = SourceStatus(state="live", detail="fake", since_at=T0)
        self.auto = auto  # push a fresh snapshot after every action

    def push(self, advance: bool = True) -> RouterStats:
        stats = self.router.snapshot()
        if advance:
            self.router.step += 1
        self.queue.put_nowait(stats)
        return stats

    async def snapshots(self) -> AsyncIterator[RouterStats]:
        while True:
            yield await self.queue.get()

    async def act(self, action: Action) -> ActionResult:
        self.actions.append(action)
        result = self.router.apply(action)
        if self.auto:
            self.push(advance=False)
        return result

    async def aclose(self) -> None:
        return None
