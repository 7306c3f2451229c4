"""The `fastest` policy's ranking and the hindsight regret, scored together from the
simulator's own state, with the E2E forecasts taken from columns over many requests.

Both score every site with `estimate_latency(...).e2e_s`: the policy at the router's
view (stale snapshot plus live in-flight count), the regret at the true occupancy.
Between two changes of a site's load the forecast depends on the request's lengths
only, so instead of one forecast call per (request, site):
- LPU sites: a request's TTFT, TPOT and slot time are computed for a whole arrival
  block at once (`sites.engines.estimate_many`); the load only adds a queue term,
  done here with the scalar forecast's arithmetic.
- GPU sites: a load met for the first few times is forecast per request (the scalar
  call); one that keeps recurring is forecast for the requests ahead in one numpy
  pass, a column twice as long each time it runs out (an idle or steady GPU site
  costs a few columns per block; a busy one, whose load changes with every request,
  stays on the scalar path).

The regret skips a GPU site whose score's floor (its legs' fixed parts plus
m x one idle decode iteration) is already at or above the best score so far: it cannot
be the best, and its score is computed late only when the policy ranks it first.

The result is bit-identical to `FastestPolicy.decide` + `Hindsight.score`: the same
candidates, scores (same floating-point operations in the same order), the same
tie-breaks (score, load fraction, RTT, name). Tests pin both against the scalar path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import itemgetter

import numpy as np

from router.policies.types import LatencyEstimator
from router.sim.paths import PathTable
from router.sim.state import SimRequest, SimSite
from sites.engine_api import DeploymentSpec, EngineLoad

_SITE_OF = itemgetter(4)  # a ranking entry's site index
_NO_MEMO: tuple[object, int, None] = (None, -1, None)

#: A GPU load met this many times gets a forecast column for the requests ahead,
#: first this long, doubling while the load keeps recurring (a column of n costs
#: about as much as 10 + n / 10 single forecasts).
MISSES_BEFORE_COLUMN = 3
FIRST_COLUMN = 16
MAX_COLUMN = 4096

E2EMany = Callable[[DeploymentSpec, EngineLoad, np.ndarray, np.ndarray], np.ndarray]


class _LPUColumns:
    """Per request of the current block: TTFT, TPOT, max(o - 1, 0) and slot time."""

    __slots__ = ("m", "service", "tpot", "ttft")

    def __init__(self, ttft: list[float], tpot: list[float], m: list[int],
                 service: list[float]) -> None:
        self.ttft, self.tpot, self.m, self.service = ttft, tpot, m, service


_SiteRow = tuple[SimSite, int, str, float, float, float, float, float, float, float, float,
                 float, int, float, float]

#: The regret's score of a site skipped by its lower bound (`FastestRanker.rank`).
_DEFERRED = -1.0
#: Relative slack of a GPU site's per-token floor: far more than the rounding of the
#: forecast's few operations, so the floor stays below every forecast.
_FLOOR_SLACK = 1e-6


class _Column:
    """Forecasts at one GPU load for requests [start, end) of the block."""

    __slots__ = ("end", "length", "misses", "start", "values")

    def __init__(self) -> None:
        self.start = self.end = 0
        self.values: list[float] = []
        self.misses = 0
        self.length = FIRST_COLUMN


class FastestRanker:
    """`fastest` decisions and regret scores for the requests of one arrival block."""

    def __init__(
        self,
        sites: Sequence[SimSite],
        paths: PathTable,
        *,
        policy_base_ms: list[list[tuple[float, float]]],
        regret_handshake: list[list[float]],
        allowed: list[list[bool]],
        estimate: LatencyEstimator,
        estimate_many: E2EMany,
        max_attempts: int,
    ) -> None:
        from sites.engines.deploy import LPUDeployment, resolve
        from sites.engines.fastcost import lpu_terms

        self.sites = sites
        self.paths = paths
        #: Per (group, site): (RTT, RTT + TLS handshake) as the policy adds them.
        self.policy_base_ms = policy_base_ms
        self.regret_handshake = regret_handshake
        self.allowed = allowed
        self.estimate = estimate
        self.estimate_many = estimate_many
        self.max_attempts = max_attempts
        self.n_sites = len(sites)
        # LPU sites share columns by cost model (riyadh-1 and riyadh-2: one spec).
        self.lpu_key: list[int] = []
        self.lpu_terms: dict[int, object] = {}
        for s in sites:
            dep = resolve(s.spec)
            if isinstance(dep, LPUDeployment):
                terms = lpu_terms(dep.cost)
                self.lpu_key.append(id(terms))
                self.lpu_terms[id(terms)] = terms
            else:
                self.lpu_key.append(0)
        # Per group: one row per site the residency rules allow, with what the scores
        # add per (group, site) unpacked: the policy's RTT and RTT + TLS handshake, the
        # regret's handshake and both legs' delay parameters.
        self.table: list[tuple[list[_SiteRow], list[_SiteRow]]] = [
            (self._rows(g, False), self._rows(g, True)) for g in range(len(allowed))
        ]
        self.prompts: np.ndarray = np.zeros(0, dtype=np.int64)
        self.outputs: np.ndarray = np.zeros(0, dtype=np.int64)
        self.prompt_list: list[int] = []
        self.output_list: list[int] = []
        self.lpu: list[_LPUColumns | None] = [None] * len(sites)
        self.gpu_cols: dict[tuple[int, int, int, float, int], _Column] = {}
        #: The network legs (up, down) the regret drew for the last ranked request's
        #: first site, or None: its first dispatch reuses them (`PathTable.legs_ms`).
        self.first_legs: tuple[float, float] | None = None
        self._ups = [0.0] * len(sites)
        self._downs = [0.0] * len(sites)
        # Per GPU site: (load, total, column) of its last column hit, the policy's and the
        # regret's: a site whose load object and occupancy did not change since then
        # hits the same column without building and hashing its key again.
        self._memo_view: list[tuple[object, int, _Column | None]] = [_NO_MEMO] * len(sites)
        self._memo_true: list[tuple[object, int, _Column | None]] = [_NO_MEMO] * len(sites)

    def _rows(self, g: int, new_conn: bool) -> list[_SiteRow]:
        """Group g's sites the residency rules allow, with what the scores add per
        (group, site, new connection or not) unpacked: the RTT, the policy's RTT (+ TLS
        handshake on a new connection), the regret's handshake (0 on a warm one) and
        both legs' delay parameters."""
        rows: list[_SiteRow] = []
        legs_ids: dict[tuple[float, ...], int] = {}
        for s in self.sites:
            i = s.idx
            if not self.allowed[g][i]:
                continue
            rtt, rtt_hs = self.policy_base_ms[g][i]
            params = (*self.paths.up[g][i], *self.paths.down[g][i])
            # Sites with the same legs' parameters (riyadh-1 and riyadh-2) share one id:
            # the same inputs give the same legs, computed once per request.
            legs_id = legs_ids.setdefault(params, len(legs_ids))
            hs = self.regret_handshake[g][i] if new_conn else 0.0
            up_f, down_f = params[0], params[3]
            rows.append((
                s, i, s.name, rtt, rtt_hs if new_conn else rtt + 0.0, hs, *params, legs_id,
                # the regret's score without the legs' random parts and the forecast
                hs + up_f + down_f, self._token_floor_ms(s),
            ))
        return rows

    def _token_floor_ms(self, s: SimSite) -> float:
        """A lower bound of a GPU site's forecast TPOT (ms), 0 for an LPU site (not
        skipped: its forecast costs a list read). TPOT >= one decode iteration of one
        sequence at no context: `GPUTerms.iteration_s` grows with both (the folded
        formula; other models get 0, a bound too)."""
        if self.lpu_key[s.idx]:
            return 0.0
        from sites.engines.deploy import GPUDeployment, resolve
        from sites.engines.fastcost import gpu_terms

        dep = resolve(s.spec)
        assert isinstance(dep, GPUDeployment)
        gpu = gpu_terms(dep.cost)
        if not gpu._fast:
            return 0.0
        return gpu.iteration_s(1, 0.0) * 1000.0 * (1.0 - _FLOOR_SLACK)

    def set_block(self, prompts: np.ndarray, outputs: np.ndarray) -> None:
        """The next arrival block's lengths (int64 arrays, all >= 1)."""
        from sites.engines.estimate_many import lpu_request_terms, lpu_service

        self.prompts = prompts.astype(np.int64, copy=False)
        self.outputs = outputs.astype(np.int64, copy=False)
        self.prompt_list = self.prompts.tolist()
        self.output_list = self.outputs.tolist()
        by_terms: dict[int, _LPUColumns] = {}
        for i, key in enumerate(self.lpu_key):
            if not key:
                self.lpu[i] = None
                continue
            cols = by_terms.get(key)
            if cols is None:
                ttft, tpot = lpu_request_terms(
                    self.lpu_terms[key], self.prompts, self.outputs  # type: ignore[arg-type]
                )
                cols = by_terms[key] = _LPUColumns(
                    ttft.tolist(), tpot.tolist(), np.maximum(self.outputs - 1, 0).tolist(),
                    lpu_service(ttft, tpot, self.outputs).tolist(),
                )
            self.lpu[i] = cols
        # Loads that recurred keep their column length into the new block (a steady
        # GPU site then costs one column per block); the others are forgotten.
        kept = {k: c for k, c in self.gpu_cols.items() if c.misses >= MISSES_BEFORE_COLUMN}
        if len(kept) > 256:
            kept.clear()
        for c in kept.values():
            c.start = c.end = 0
            c.values = []
        self.gpu_cols = kept
        self._memo_view = [_NO_MEMO] * len(self.sites)
        self._memo_true = [_NO_MEMO] * len(self.sites)

    def _gpu_e2e(self, s: SimSite, j: int, base: EngineLoad, running: int, queued: int,
                 cap: int) -> float:
        """The GPU forecast's E2E for request j at `base`'s load with this occupancy
        (as `SiteView.effective_load` and `SimSite.true_now` build it). A load met for
        the first times is forecast per request; one that keeps recurring gets a
        column for the requests ahead, twice as long each time it runs out."""
        key = (s.idx, running, queued, base.kv_used_fraction, base.queued_prompt_tokens)
        hit = self.gpu_cols.get(key)
        if hit is None:
            hit = self.gpu_cols[key] = _Column()
        elif hit.start <= j < hit.end:
            return hit.values[j - hit.start]
        hit.misses += 1
        if hit.misses >= MISSES_BEFORE_COLUMN:
            hi = min(j + hit.length, len(self.prompt_list))
            hit.values = self.estimate_many(
                s.spec, _load(base, running, queued, cap), self.prompts[j:hi],
                self.outputs[j:hi],
            ).tolist()
            hit.start, hit.end = j, hi
            hit.length = min(2 * hit.length, MAX_COLUMN)
            return hit.values[0]
        output = self.output_list[j]
        est = self.estimate(s.spec, _load(base, running, queued, cap), self.prompt_list[j],
                            output)
        return est.queue_s + est.ttft_s + max(output - 1, 0) * est.tpot_s

    def _gpu_lookup(self, s: SimSite, j: int, base: EngineLoad, total: int, cap: int,
                    memo: list[tuple[object, int, _Column | None]]) -> float:
        """The GPU forecast for request j with `total` requests at `base`'s load, when
        the site's memo (`rank`'s, the policy's or the regret's) has no column holding
        it: the column of that load if it holds j (remembered in the memo), else
        `_gpu_e2e`."""
        i = s.idx
        running = total if total < cap else cap
        if memo[i][0] is base and memo[i][1] == total:
            col = memo[i][2]
        else:
            col = self.gpu_cols.get((i, running, total - running, base.kv_used_fraction,
                                     base.queued_prompt_tokens))
            if col is not None:
                memo[i] = (base, total, col)
        if col is not None and col.start <= j < col.end:
            return col.values[j - col.start]
        return self._gpu_e2e(s, j, base, running, total - running, cap)

    def rank(self, req: SimRequest, j: int, with_regret: bool) -> tuple[int, ...]:
        """The sites `fastest` ranks for request j of the block (best first, at most
        `max_attempts`; empty when none is eligible), and with `with_regret` the
        request's best site in hindsight and both scores."""
        lpu = self.lpu
        memo_view, memo_true = self._memo_view, self._memo_true
        keyed: list[tuple[float, float, float, str, int]] = []
        best, best_ms, chosen_ms = -1, math.inf, math.inf
        # The regret's score per site (inf: not scored). A list, not a dict: callgrind
        # counted ~0.5% of a request's instructions less (near its run-to-run spread).
        scored = [math.inf] * self.n_sites
        z_up, z_down = req.z_up, req.z_down
        exp = math.exp
        ups, downs = self._ups, self._downs
        last_legs = -1
        up = down = 0.0
        m = self.output_list[j] - 1  # max(o - 1, 0): lengths are >= 1 here
        for (s, i, name, rtt, base_ms, hs, up_f, up_m, up_s, down_f, down_m, down_s,
             legs_id, floor_ms, token_floor_ms) in self.table[req.group][req.new_conn]:
            cols = lpu[i]
            # -- the policy: the router's view (SiteView.effective_load) ----------
            in_flight = s.in_flight
            if in_flight < s.route_limit:  # healthy (or unknown) and below its cap
                busy = s.snap_busy
                total = busy if busy > in_flight else in_flight
                cap = s.snap_cap
                if cols is not None:  # _lpu_e2e; queued + 1 > free <=> total >= cap
                    if total < cap:
                        e2e_s = cols.service[j]
                    else:  # running = cap
                        e2e_s = _lpu_e2e(cols, j, cap, cap, total - cap)
                else:  # _gpu_lookup, a hit of the memo's column inlined
                    snap = s.snapshot
                    memo = memo_view[i]
                    col = memo[2]
                    if (memo[0] is snap and memo[1] == total and col is not None
                            and col.start <= j < col.end):
                        e2e_s = col.values[j - col.start]
                    else:
                        e2e_s = self._gpu_lookup(s, j, snap, total, cap, memo_view)
                ms = base_ms + e2e_s * 1000.0
                keyed.append((ms, total / cap, rtt, name, i))
            # -- the regret: the true occupancy (SimSite.true_now) -----------------
            if with_regret and not (s.down or s.drained):
                if cols is None and floor_ms + m * token_floor_ms >= best_ms:
                    # A GPU site whose score cannot go below the best so far cannot be
                    # the best (ties keep the earlier site): its forecast and legs are
                    # needed only if the policy ranks it first (`_deferred_regret`).
                    # The floor: the score's terms in the same order, each at or below
                    # its value (legs without the lognormal part, E2E >= m x TPOT).
                    # Callgrind: 149.0k -> 144.2k instructions per request (eu-asia-baseline).
                    scored[i] = _DEFERRED
                    continue
                total = len(s.inflight)
                cap = s.true_cap
                if cols is not None:
                    if total < cap:
                        e2e_s = cols.service[j]
                    else:
                        e2e_s = _lpu_e2e(cols, j, cap, cap, total - cap)
                else:
                    true = s.true_load
                    memo = memo_true[i]
                    col = memo[2]
                    if (memo[0] is true and memo[1] == total and col is not None
                            and col.start <= j < col.end):
                        e2e_s = col.values[j - col.start]
                    else:
                        e2e_s = self._gpu_lookup(s, j, true, total, cap, memo_true)
                if legs_id != last_legs:  # PathTable.legs_ms, inlined
                    up = up_f + exp(up_m + up_s * z_up)
                    down = down_f + exp(down_m + down_s * z_down)
                    last_legs = legs_id
                ups[i] = up
                downs[i] = down
                ms = hs + up + down + e2e_s * 1000.0
                scored[i] = ms
                if ms < best_ms:
                    best, best_ms = i, ms
        if not keyed:
            return ()
        keyed.sort()
        first = keyed[0][4]
        self.first_legs = None
        if with_regret:
            chosen_ms = scored[first]
            if chosen_ms == _DEFERRED:
                chosen_ms, ups[first], downs[first] = self._deferred_regret(req, j, first)
            if chosen_ms != math.inf:  # (an infinite score draws the legs again: the same)
                self.first_legs = (ups[first], downs[first])
            req.best_site = best
            req.best_pred_ms = best_ms
            req.chosen_pred_ms = chosen_ms
        return tuple(map(_SITE_OF, keyed[: self.max_attempts]))


    def _deferred_regret(self, req: SimRequest, j: int, i: int) -> tuple[float, float, float]:
        """(score, up, down) of the regret for GPU site i, which `rank` skipped by its
        floor and then ranked first: the loop's arithmetic (the same values)."""
        row = next(r for r in self.table[req.group][req.new_conn] if r[1] == i)
        s, hs, up_f, up_m, up_s, down_f, down_m, down_s = row[0], *row[5:12]
        total = len(s.inflight)
        e2e_s = self._gpu_lookup(s, j, s.true_load, total, s.true_cap, self._memo_true)
        up = up_f + math.exp(up_m + up_s * req.z_up)
        down = down_f + math.exp(down_m + down_s * req.z_down)
        return hs + up + down + e2e_s * 1000.0, up, down


def _lpu_e2e(cols: _LPUColumns, j: int, cap: int, running: int, queued: int) -> float:
    """`_estimate_lpu(...)` -> e2e_s, with the load-free terms from the block columns."""
    free = cap - running
    if queued + 1 > free:
        service = cols.service[j]
        queue = (queued + 1 - (free if free > 0 else 0)) * service / cap
        return queue + cols.ttft[j] + cols.m[j] * cols.tpot[j]
    return cols.service[j]


def _load(base: EngineLoad, running: int, queued: int, cap: int) -> EngineLoad:
    """An occupancy over `base`'s other figures (`SiteView.effective_load`,
    `SimSite.true_now`)."""
    return EngineLoad(
        at=base.at,
        queued=queued,
        running=running,
        max_running=cap,
        queued_prompt_tokens=base.queued_prompt_tokens,
        kv_used_fraction=base.kv_used_fraction,
        tokens_per_s=base.tokens_per_s,
    )
