"""Sim versus live on the same scenario, policy and seed: do the two modes agree?

The simulator serves the scenario's requests in virtual time; the live client sends
the very same requests (same seed, same stream) in real time through the scenario's
sites and router started in this process. The acceptance figure is the relative
difference of p50 TTFT and p50 E2E between the modes; paired per-request ratios and
the site choices say where any disagreement comes from.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.bench.facts import model_of
from router.bench.live import LiveConfig, drive
from router.bench.local import local_system, local_system_process
from router.scenarios import Scenario, stream_rng
from router.scenarios.model import STREAM_CONNECTIONS

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


async def run_live(
    scenario: Scenario,
    *,
    policy: str,
    seed: int,
    max_requests: int | None,
    separate_process: bool = False,
) -> tuple[list[dict[str, Any]], float, float]:
    requests = scenario.requests(seed)
    if max_requests is not None:
        requests = itertools.islice(requests, max_requests)
    start = local_system_process if separate_process else local_system
    async with start(scenario, policy=policy, seed=seed) as system:
        cfg = LiveConfig(
            router_url=system.router_url,
            model=model_of(scenario),
            policy=policy,
            connection_reuse=scenario.network.connection_reuse,
        )
        result = await drive(cfg, requests, reuse_rng=stream_rng(seed, STREAM_CONNECTIONS))
    return result.rows, result.wall_s, result.max_lateness_ms


async def compare_modes(
    scenario: Scenario,
    *,
    policy: str,
    seed: int,
    max_requests: int | None = None,
    separate_process: bool = False,
) -> Agreement:
    """Run both modes and compare them (the sim runs in a thread: it is CPU-bound).
    `separate_process` runs the live sites and router in a child process."""
    sim_rows, sim_wall = await asyncio.to_thread(
        run_sim, scenario, policy=policy, seed=seed, max_requests=max_requests
    )
    live_rows, live_wall, lateness = await run_live(
        scenario,
        policy=policy,
        seed=seed,
        max_requests=max_requests,
        separate_process=separate_process,
    )
    sim, live = _figures(sim_rows, sim_wall), _figures(live_rows, live_wall)
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
        max_lateness_ms=round(lateness, 2),
        component_diff_ms={
            k: round(float(np.median(v)), 2) if v else float("nan") for k, v in diffs.items()
        },
        new_connection_fraction={
            "sim": _handshake_fraction(sim_rows),
            "live": _handshake_fraction(live_rows),
        },
    )


def _handshake_fraction(rows: list[dict[str, Any]]) -> float:
    ok = [r for r in rows if r["status"] == "ok"]
    return round(sum(1 for r in ok if (r["handshake_ms"] or 0) > 0) / len(ok), 4) if ok else 0.0
