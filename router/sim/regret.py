"""Regret: what each request lost against the best site in hindsight.

At each decision every site the request may use (up, not drained, allowed by the
residency rules) is scored with the *true* state: its engine's occupancy now (the
last collection tick's load with the exact number of requests the engine holds), not
the router's stale snapshot, and the request's own network draws (the same delays it
would have met there). The score is the client-side E2E forecast the `fastest` policy
uses: handshake + up + down + `estimate_latency(...).e2e_s`. A request served on its
first attempt lost score(chosen) - score(best) >= 0; one that had to retry lost its
actual E2E minus score(best), floored at 0. Requests that failed are not counted.

Regret is accumulated in fixed log-spaced histograms, so its percentiles cost
constant memory however many requests a run has.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

import numpy as np

from router.policies.types import LatencyEstimator
from router.sim.paths import PathTable
from router.sim.result import RegionRegret
from router.sim.state import SimRequest, SimSite

# Regret histogram: 0 ms in its own bin, then log-spaced bins from 0.01 ms to 1e7 ms.
_EDGES_MS = np.concatenate([[0.0], np.logspace(-2, 7, 361)])
_EDGE_LIST = _EDGES_MS.tolist()
_LAST_BIN = _EDGES_MS.size - 1


class Hindsight:
    """Scores every allowed site for a request with the true state at decision time."""

    __slots__ = ("allowed", "estimate", "handshake", "paths", "sites")

    def __init__(
        self,
        sites: Sequence[SimSite],
        paths: PathTable,
        handshake: list[list[float]],
        allowed: list[list[bool]],
        estimate: LatencyEstimator,
    ) -> None:
        self.sites = sites
        self.paths = paths
        self.handshake = handshake
        self.allowed = allowed
        self.estimate = estimate

    def score(self, req: SimRequest, chosen: int) -> None:
        """Set the request's best site, its score and the chosen site's score."""
        best = -1
        best_ms = math.inf
        chosen_ms = math.inf
        estimate = self.estimate
        g = req.group
        allowed = self.allowed[g]
        hs = self.handshake[g]
        ups, downs = self.paths.up[g], self.paths.down[g]
        z_up, z_down, new_conn = req.z_up, req.z_down, req.new_conn
        prompt, output = req.prompt, req.output
        exp = math.exp
        for s in self.sites:
            i = s.idx
            if s.down or s.drained or not allowed[i]:
                continue
            # PathTable.legs_ms and LatencyEstimate.e2e_s, inlined (the same arithmetic).
            f, m, sg = ups[i]
            up = f + exp(m + sg * z_up)
            f, m, sg = downs[i]
            down = f + exp(m + sg * z_down)
            est = estimate(s.spec, s.true_now(), prompt, output)
            e2e_s = est.queue_s + est.ttft_s + max(output - 1, 0) * est.tpot_s
            ms = (hs[i] if new_conn else 0.0) + up + down + e2e_s * 1000.0
            if ms < best_ms:
                best, best_ms = i, ms
            if i == chosen:
                chosen_ms = ms
        req.best_site = best
        req.best_pred_ms = best_ms
        req.chosen_pred_ms = chosen_ms


class RegionTally:
    """One region's running regret figures."""

    __slots__ = ("best", "chosen_best", "count", "hist", "max", "sum")

    def __init__(self) -> None:
        self.hist = [0] * _EDGES_MS.size
        self.count = 0
        self.sum = 0.0
        self.max = 0.0
        self.chosen_best = 0
        self.best: dict[str, int] = {}

    def add(self, regret_ms: float, best_site: str, chose_best: bool) -> None:
        if regret_ms <= 0.0:
            self.hist[0] += 1
        else:  # = np.searchsorted(_EDGES_MS, regret_ms), without numpy's per-call cost
            self.hist[min(bisect_left(_EDGE_LIST, regret_ms), _LAST_BIN)] += 1
        self.count += 1
        self.sum += regret_ms
        if regret_ms > self.max:
            self.max = regret_ms
        if chose_best:
            self.chosen_best += 1
        best = self.best
        best[best_site] = best.get(best_site, 0) + 1


class RegretAccumulator:
    """Streaming per-region regret statistics (bounded memory)."""

    __slots__ = ("_regions",)

    def __init__(self) -> None:
        self._regions: dict[str, RegionTally] = {}

    def add(self, region: str, regret_ms: float, best_site: str, chose_best: bool) -> None:
        self.region(region).add(regret_ms, best_site, chose_best)

    def region(self, region: str) -> RegionTally:
        """The region's figures, to `add` to directly (regions are listed in the order
        of their first use)."""
        r = self._regions.get(region)
        if r is None:
            r = self._regions[region] = RegionTally()
        return r

    def summary(self) -> dict[str, RegionRegret]:
        out: dict[str, RegionRegret] = {}
        for region, r in self._regions.items():
            n = r.count
            cdf = np.cumsum(r.hist)

            def pct(q: float, cdf: np.ndarray = cdf, n: int = n) -> float:
                i = int(np.searchsorted(cdf, math.ceil(q * n)))
                return float(_EDGES_MS[min(i, _EDGES_MS.size - 1)])

            out[region] = RegionRegret(
                requests=n,
                mean_regret_ms=r.sum / n if n else 0.0,
                p50_regret_ms=pct(0.5),
                p90_regret_ms=pct(0.9),
                p99_regret_ms=pct(0.99),
                max_regret_ms=r.max,
                total_regret_s=r.sum / 1000.0,
                best_share=r.chosen_best / n if n else 0.0,
                best_sites={k: v / n for k, v in sorted(r.best.items())},
            )
        return out
