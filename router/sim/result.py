"""What a simulation returns: counts, timings and the regret summary per region.

The regret summary is built by `router.sim.regret.RegretAccumulator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionRegret:
    """How much a policy lost against the best site in hindsight, for one client region.

    `best_share`: fraction of requests sent to a hindsight-best site (ties count: two
    identical hubs side by side are equally best).
    `best_sites`: how often each site was the hindsight best (fractions).
    Percentiles are histogram estimates (bins 2.6% wide)."""

    requests: int
    mean_regret_ms: float
    p50_regret_ms: float
    p90_regret_ms: float
    p99_regret_ms: float
    max_regret_ms: float
    total_regret_s: float
    best_share: float
    best_sites: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    """One simulated run. `rows` holds every request row only when the caller gave no
    `on_rows` callback (small runs, tests); otherwise rows were streamed and it is empty."""

    scenario: str
    policy: str
    seed: int
    requests: int
    ok: int
    failed: int
    rejected: int
    retried: int
    sim_duration_s: float
    wall_s: float
    cpu_s: float
    regret: dict[str, RegionRegret]
    rows: list[dict[str, Any]] = field(default_factory=list)
