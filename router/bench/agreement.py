"""Sim versus live on the same scenario, policy and seed: do the two modes agree?

The simulator serves the scenario's requests in virtual time; the live client sends
the very same requests (same seed, same stream) in real time through the scenario's
sites and router started in this process. The acceptance figure is the relative
difference of p50 TTFT and p50 E2E between the modes; paired per-request ratios and
the site choices say where any disagreement comes from.

Two things keep the live run honest to what the simulator models:
- Connection reuse: the simulator charges no handshake to a request drawn as reusing
  a kept-alive connection. The live client gives such a request an idle pooled
  connection, so the pool is warmed before the schedule with as many connections as
  the simulation ever had reusing requests open at once (plus a margin); otherwise the
  first bursts open new connections and the router charges them handshakes.
- The live stack's own time: whatever live TTFT has beyond the legs the router
  reports (handshake, up, queue, prefill, down) is this machine's processing (client,
  router and site code, event-loop waits), which the simulator does not model. It is
  reported as `live_overhead_ms` so a gap can be told apart from a modelling error.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from router.bench.facts import model_of
from router.bench.live import LiveConfig, drive
from router.bench.local import LAYOUTS, local_system, local_system_process
from router.scenarios import Scenario, stream_rng
from router.scenarios.model import STREAM_CONNECTIONS

LEGS = ("handshake_ms", "net_up_ms", "queue_ms", "prefill_ms", "net_down_ms")
WARM_MARGIN = 1.25  # warm connections per reusing request the simulation had open at once

COMPONENTS = (
    "handshake_ms",
    "net_up_ms",
    "router_ms",
    "queue_ms",
    "prefill_ms",
    "ttft_ms",
    "decode_ms",
    "net_down_ms",
    "e2e_ms",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeFigures:
    requests: int
    ok: int
    ttft_p50_ms: float
    e2e_p50_ms: float
    ttft_p99_ms: float
    e2e_p99_ms: float
    wall_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    scenario: str
    policy: str
    seed: int
    sim: ModeFigures
    live: ModeFigures
    ttft_p50_diff: float  # (live - sim) / sim
    e2e_p50_diff: float
    paired_e2e_ratio_p50: float  # median over requests of live E2E / sim E2E
    same_site_fraction: float  # requests both modes sent to the same site
    max_lateness_ms: float  # how far behind schedule the live client ever sent
    # where live differs: median over paired requests of live - sim, per breakdown leg
    component_diff_ms: dict[str, float]
    new_connection_fraction: dict[str, float]  # {"sim": f, "live": f}: handshakes paid
    # median of live TTFT minus the legs the router reports: this machine's own time
    live_overhead_ms: float = float("nan")
    live_overhead_by_site_ms: dict[str, float] = field(default_factory=dict)
    late_sends: int = 0  # live requests sent more than live.LATE_MS behind schedule
    warm_connections: int = 0  # kept-alive connections opened before the live schedule
    layout: str = "one"  # where the live sites and router ran (router.bench.local)
    event_loop: str = ""  # the live sites' and router's event loop
    client_loop: str = ""  # the live client's event loop


def _figures(rows: list[dict[str, Any]], wall_s: float) -> ModeFigures:
    ok = [r for r in rows if r["status"] == "ok"]
    ttft = np.array([r["ttft_ms"] for r in ok], dtype=float)
    e2e = np.array([r["e2e_ms"] for r in ok], dtype=float)
    if not ok:
        raise RuntimeError("no request succeeded: nothing to compare")
    return ModeFigures(
        requests=len(rows),
        ok=len(ok),
        ttft_p50_ms=round(float(np.percentile(ttft, 50)), 2),
        e2e_p50_ms=round(float(np.percentile(e2e, 50)), 2),
        ttft_p99_ms=round(float(np.percentile(ttft, 99)), 2),
        e2e_p99_ms=round(float(np.percentile(e2e, 99)), 2),
        wall_s=round(wall_s, 3),
    )


def run_sim(
    scenario: Scenario, *, policy: str, seed: int, max_requests: int | None
) -> tuple[list[dict[str, Any]], float]:
    from router.sim import simulate

    t0 = time.perf_counter()
    result = simulate(scenario, policy=policy, seed=seed, max_requests=max_requests)
    return list(result.rows), time.perf_counter() - t0


def peak_reusing(rows: list[dict[str, Any]]) -> int:
    """The most requests without a handshake (riding a kept-alive connection) that were
    open at once, from each row's arrival to its end."""
    edges: list[tuple[float, int]] = []
    for r in rows:
        if r["status"] == "ok" and not r["handshake_ms"] and r["e2e_ms"] is not None:
            edges.append((float(r["arrived_at"]), 1))
            edges.append((float(r["arrived_at"]) + float(r["e2e_ms"]) / 1000.0, -1))
    edges.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    peak = level = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def warm_connections_for(scenario: Scenario, sim_rows: list[dict[str, Any]]) -> int:
    """How many kept-alive connections the live client opens before its schedule."""
    if scenario.network.connection_reuse <= 0:
        return 0
    return math.ceil(peak_reusing(sim_rows) * WARM_MARGIN) + 2


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveRun:
    rows: list[dict[str, Any]]
    wall_s: float
    max_lateness_ms: float
    late_sends: int
    warmed: int
    layout: str
    event_loop: str
    client_loop: str


async def run_live(
    scenario: Scenario,
    *,
    policy: str,
    seed: int,
    max_requests: int | None,
    layout: str = "one",
    warm_connections: int = 0,
) -> LiveRun:
    """The scenario live through local sites and router (`layout`: router.bench.local)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}: {layout!r}")
    requests = scenario.requests(seed)
    if max_requests is not None:
        requests = itertools.islice(requests, max_requests)
    system_cm = (
        local_system(scenario, policy=policy, seed=seed)
        if layout == "one"
        else local_system_process(scenario, policy=policy, seed=seed, layout=layout)
    )
    async with system_cm as system:
        cfg = LiveConfig(
            router_url=system.router_url,
            model=model_of(scenario),
            policy=policy,
            connection_reuse=scenario.network.connection_reuse,
            warm_connections=warm_connections,
            # two stats refreshes: the router's view of the sites no longer holds the warm-up
            settle_s=2.0 * scenario.routing.stats_interval_s if warm_connections else 0.0,
        )
        result = await drive(cfg, requests, reuse_rng=stream_rng(seed, STREAM_CONNECTIONS))
    return LiveRun(
        rows=result.rows,
        wall_s=result.wall_s,
        max_lateness_ms=result.max_lateness_ms,
        late_sends=result.late_sends,
        warmed=result.warmed,
        layout=system.layout,
        event_loop=system.event_loop,
        client_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
    )


async def compare_modes(
    scenario: Scenario,
    *,
    policy: str,
    seed: int,
    max_requests: int | None = None,
    layout: str = "one",
    warm: bool = True,
) -> Agreement:
    """Run both modes and compare them (the sim runs in a thread: it is CPU-bound).
    `layout` places the live sites and router (router.bench.local.LAYOUTS); `warm`
    opens the kept-alive connections reusing requests need before the live schedule."""
    sim_rows, sim_wall = await asyncio.to_thread(
        run_sim, scenario, policy=policy, seed=seed, max_requests=max_requests
    )
    run = await run_live(
        scenario,
        policy=policy,
        seed=seed,
        max_requests=max_requests,
        layout=layout,
        warm_connections=warm_connections_for(scenario, sim_rows) if warm else 0,
    )
    live_rows = run.rows
    sim, live = _figures(sim_rows, sim_wall), _figures(live_rows, run.wall_s)
    by_id = {r["request_id"]: r for r in sim_rows}
    ratios, same = [], 0
    diffs: dict[str, list[float]] = {k: [] for k in COMPONENTS}
    for r in live_rows:
        s = by_id.get(r["request_id"])
        if s is None:
            continue
        same += s["site"] == r["site"]
        if r["status"] == "ok" and s["status"] == "ok" and s["e2e_ms"]:
            ratios.append(r["e2e_ms"] / s["e2e_ms"])
            for k in COMPONENTS:
                diffs[k].append(float(r[k] or 0.0) - float(s[k] or 0.0))
    return Agreement(
        scenario=scenario.name,
        policy=policy,
        seed=seed,
        sim=sim,
        live=live,
        ttft_p50_diff=round((live.ttft_p50_ms - sim.ttft_p50_ms) / sim.ttft_p50_ms, 4),
        e2e_p50_diff=round((live.e2e_p50_ms - sim.e2e_p50_ms) / sim.e2e_p50_ms, 4),
        paired_e2e_ratio_p50=round(float(np.median(ratios)), 4) if ratios else float("nan"),
        same_site_fraction=round(same / len(live_rows), 4) if live_rows else 0.0,
        max_lateness_ms=round(run.max_lateness_ms, 2),
        component_diff_ms={
            k: round(float(np.median(v)), 2) if v else float("nan") for k, v in diffs.items()
        },
        new_connection_fraction={
            "sim": _handshake_fraction(sim_rows),
            "live": _handshake_fraction(live_rows),
        },
        live_overhead_ms=_overhead_ms(live_rows),
        live_overhead_by_site_ms={
            site: _overhead_ms([r for r in live_rows if r["site"] == site])
            for site in sorted({str(r["site"]) for r in live_rows if r["status"] == "ok"})
        },
        late_sends=run.late_sends,
        warm_connections=run.warmed,
        layout=run.layout,
        event_loop=run.event_loop,
        client_loop=run.client_loop,
    )


def _overhead_ms(rows: list[dict[str, Any]]) -> float:
    """Median of TTFT minus the reported legs over successful rows."""
    extra = [
        float(r["ttft_ms"]) - sum(float(r[k] or 0.0) for k in LEGS)
        for r in rows
        if r["status"] == "ok" and r["ttft_ms"] is not None
    ]
    return round(float(np.median(extra)), 2) if extra else float("nan")


def _handshake_fraction(rows: list[dict[str, Any]]) -> float:
    ok = [r for r in rows if r["status"] == "ok"]
    return round(sum(1 for r in ok if (r["handshake_ms"] or 0) > 0) / len(ok), 4) if ok else 0.0
