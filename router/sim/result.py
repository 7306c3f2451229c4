"""What a simulation returns: counts, timings and the regret summary per region.

Regret is accumulated in fixed log-spaced histograms, so its percentiles cost
constant memory however many requests a run has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Regret histogram: 0 ms in its own bin, then log-spaced bins from 0.01 ms to 1e7 ms.
_EDGES_MS = np.concatenate([[0.0], np.logspace(-2, 7, 361)])


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


class RegretAccumulator:
    """Streaming per-region regret statistics (bounded memory)."""

    __slots__ = ("_best", "_chosen_best", "_count", "_hist", "_max", "_sum")

    def __init__(self) -> None:
        self._hist: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}
        self._sum: dict[str, float] = {}
        self._max: dict[str, float] = {}
        self._chosen_best: dict[str, int] = {}
        self._best: dict[str, dict[str, int]] = {}

    def add(self, region: str, regret_ms: float, best_site: str, chose_best: bool) -> None:
        hist = self._hist.get(region)
        if hist is None:
            hist = self._hist[region] = np.zeros(_EDGES_MS.size, dtype=np.int64)
            self._count[region] = 0
            self._sum[region] = 0.0
            self._max[region] = 0.0
            self._chosen_best[region] = 0
            self._best[region] = {}
        if regret_ms <= 0.0:
            hist[0] += 1
        else:
            hist[min(int(np.searchsorted(_EDGES_MS, regret_ms)), _EDGES_MS.size - 1)] += 1
        self._count[region] += 1
        self._sum[region] += regret_ms
        if regret_ms > self._max[region]:
            self._max[region] = regret_ms
        if chose_best:
            self._chosen_best[region] += 1
        best = self._best[region]
        best[best_site] = best.get(best_site, 0) + 1

    def summary(self) -> dict[str, RegionRegret]:
        out: dict[str, RegionRegret] = {}
        for region, hist in self._hist.items():
            n = self._count[region]
            cdf = np.cumsum(hist)

            def pct(q: float, hist: np.ndarray = hist, cdf: np.ndarray = cdf, n: int = n) -> float:
                i = int(np.searchsorted(cdf, math.ceil(q * n)))
                return float(_EDGES_MS[min(i, _EDGES_MS.size - 1)])

            out[region] = RegionRegret(
                requests=n,
                mean_regret_ms=self._sum[region] / n if n else 0.0,
                p50_regret_ms=pct(0.5),
                p90_regret_ms=pct(0.9),
                p99_regret_ms=pct(0.99),
                max_regret_ms=self._max[region],
                total_regret_s=self._sum[region] / 1000.0,
                best_share=self._chosen_best[region] / n if n else 0.0,
                best_sites={k: v / n for k, v in sorted(self._best[region].items())},
            )
        return out
