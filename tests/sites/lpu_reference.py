"""The LPU engine as it was before the O(log n) rewrite (sort per admission, numpy per
finish): the reference the optimised engine is pinned to in test_lpu_equivalence.py.


Each replica keeps up to `max_num_seqs` sequences in flight (one per pipeline stage)
and every one of them runs at the pipeline's per-token speed, whatever the load: the
schedule is static, so load shows up only as queueing for a free slot (FCFS, the
earliest-free replica first). A request's whole timeline is known when it is
admitted: first token after its prefill, then one token every `token_s`. The engine is
therefore event-driven in O(log n) per request, whatever the output length.

Energy and cost: the replica's chips draw idle power plus a dynamic share per occupied
slot (power linear in occupancy). A request pays its slot's dynamic power for its
time in flight, and the idle power and the price per chip-hour shared equally with the
sequences in flight at each moment (∫ dt / n(t) over its lifetime).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque

import numpy as np

from sites.engine_api import (
    DeploymentSpec,
    EngineLoad,
    EngineRequest,
    RequestResult,
    StepReport,
    TokenRun,
)
from sites.engines.accounting import check_request, make_result
from sites.engines.deploy import LPUDeployment


class _Flight:
    """An admitted request: its full, deterministic token timeline."""

    __slots__ = ("finish_at", "first_at", "interval_s", "replica", "reported", "req",
                 "start_at")

    def __init__(self, req: EngineRequest, replica: int, start_at: float, first_at: float,
                 interval_s: float) -> None:
        self.req = req
        self.replica = replica
        self.start_at = start_at
        self.first_at = first_at
        self.interval_s = interval_s
        self.finish_at = first_at + (req.output_tokens - 1) * interval_s
        self.reported = 0

    def started_before(self, until: float) -> int:
        """Tokens whose iteration started before `until` (token 0's is the prefill)."""
        if self.start_at >= until:
            return 0
        x = (until - self.first_at) / self.interval_s
        return min(self.req.output_tokens, 1 + max(0, math.ceil(x)))


class LPUEngine:
    """Pipelined LPU deployment; implements `sites.engine_api.Engine`."""

    def __init__(self, deployment: LPUDeployment, *, start_at: float = 0.0) -> None:
        self._dep = deployment
        self._cost = deployment.cost
        self._cap = deployment.max_num_seqs
        # Per replica: a min-heap of (finish_at, kv_tokens, request id) for the sequences
        # that hold a pipeline slot and SRAM for their KV cache.
        self._held: list[list[tuple[float, int, str]]] = [[] for _ in range(deployment.replicas)]
        self._kv_cap = deployment.kv_capacity_tokens
        self._last_start = start_at
        self._queue: deque[EngineRequest] = deque()
        self._flights: dict[str, _Flight] = {}
        self._active: set[str] = set()  # queued or in flight
        # Per replica: (start, end) of recent flights, sorted by start, for sharing idle
        # power and price; their starts (for bisect) and the longest span.
        self._spans: list[list[tuple[float, float]]] = [[] for _ in range(deployment.replicas)]
        self._span_starts: list[list[float]] = [[] for _ in range(deployment.replicas)]
        self._longest_s: list[float] = [0.0] * deployment.replicas
        # (finish time, id). A request is reported finished once `until` reaches its last
        # token (its tokens go out one iteration earlier): by then every admission that
        # overlaps it is known, so its share of idle power and price is exact.
        self._done_heap: list[tuple[float, str]] = []
        self._now = start_at
        hw = deployment.hardware
        chips = deployment.cost.chips
        self._idle_w = hw.idle_power_w * chips
        self._full_w = hw.power_w * chips
        self._price_s = hw.price_usd_per_hour * chips / 3600.0
        self._max_context = min(deployment.model.max_context, deployment.kv_capacity_tokens)
        self._token_s_cache: dict[int, float] = {}

    @property
    def spec(self) -> DeploymentSpec:
        return self._dep.spec

    @property
    def deployment(self) -> LPUDeployment:
        return self._dep

    def token_s(self, prompt_tokens: int, output_tokens: int) -> float:
        """Per-token time for a request (attention at its mean context, 64-token bins)."""
        ctx_bin = (prompt_tokens + output_tokens // 2) // 64
        t = self._token_s_cache.get(ctx_bin)
        if t is None:
            t = self._cost.token_s(ctx_bin * 64 + 32)
            self._token_s_cache[ctx_bin] = t
        return t

    def submit(self, request: EngineRequest) -> None:
        check_request(request, self._max_context, self._active)
        self._active.add(request.request_id)
        self._queue.append(request)

    def _earliest_start(self, r: int, at: float, kv: int) -> tuple[float, int]:
        """When replica `r` first has a free slot and `kv` tokens of SRAM at or after
        `at`, and how many sequences are in flight then (including this one)."""
        active = sorted(h for h in self._held[r] if h[0] > at)
        n = len(active)
        used = sum(h[1] for h in active)
        if n < self._cap and used + kv <= self._kv_cap:
            return at, n + 1
        for finish_at, k, _ in active:
            n -= 1
            used -= k
            if n < self._cap and used + kv <= self._kv_cap:
                return finish_at, n + 1
        return at, 1  # unreachable: submit() rejects requests larger than the SRAM

    def _admit(self, until: float) -> None:
        while self._queue:
            req = self._queue[0]
            kv = req.prompt_tokens + req.output_tokens
            at = max(req.arrived_at, self._last_start)
            options = [self._earliest_start(r, at, kv) for r in range(len(self._held))]
            r = min(range(len(options)), key=lambda i: options[i][0])
            start, _ = options[r]
            if start >= until:
                return
            self._queue.popleft()
            self._last_start = start
            held = self._held[r]
            while held and held[0][0] <= start:
                heapq.heappop(held)
            interval = self.token_s(req.prompt_tokens, req.output_tokens)
            first_at = start + self._cost.prefill_s(req.prompt_tokens)
            f = _Flight(req, r, start, first_at, interval)
            self._add_span(r, start, f.finish_at)
            heapq.heappush(held, (f.finish_at, kv, req.request_id))
            self._flights[req.request_id] = f
            heapq.heappush(self._done_heap, (f.finish_at, req.request_id))

    def _shared_s(self, r: int, start: float, end: float) -> float:
        """∫ dt / n(t) over [start, end): n = flights in flight on replica r. Spans are
        sorted by start, and none is longer than the longest seen, so only a window of
        them can overlap."""
        spans, starts = self._spans[r], self._span_starts[r]
        lo = bisect.bisect_right(starts, start - self._longest_s[r])
        hi = bisect.bisect_left(starts, end)
        window = np.array(spans[lo:hi], dtype=float).reshape(-1, 2)
        window = window[window[:, 1] > start]
        if not len(window):
            return 0.0
        times = np.concatenate((np.maximum(window[:, 0], start), np.minimum(window[:, 1], end)))
        deltas = np.concatenate((np.ones(len(window)), -np.ones(len(window))))
        order = np.lexsort((deltas, times))
        times, n = times[order], np.cumsum(deltas[order])
        gaps = np.diff(times)
        busy = n[:-1] > 0
        return float(np.sum(gaps[busy] / n[:-1][busy]))

    def _add_span(self, r: int, start: float, end: float) -> None:
        self._spans[r].append((start, end))
        self._span_starts[r].append(start)
        self._longest_s[r] = max(self._longest_s[r], end - start)
        if len(self._spans[r]) > 8 * self._cap + 64:
            # Forget spans that ended before every unreported flight of replica r began.
            starts = [f.start_at for f in self._flights.values() if f.replica == r]
            horizon = min(starts) if starts else start
            keep = [sp for sp in self._spans[r] if sp[1] > horizon]
            self._spans[r] = keep
            self._span_starts[r] = [sp[0] for sp in keep]

    def _result(self, f: _Flight, end_at: float, generated: int, cancelled: bool) -> RequestResult:
        busy_s = max(end_at - f.start_at, 0.0)
        shared_s = self._shared_s(f.replica, f.start_at, end_at) if busy_s > 0 else 0.0
        slot_w = (self._full_w - self._idle_w) / self._cap
        energy = slot_w * busy_s + self._idle_w * shared_s
        last = None
        if generated:
            last = f.first_at + (generated - 1) * f.interval_s
        return make_result(
            f.req, generated=generated, first_scheduled_at=f.start_at,
            first_token_at=f.first_at if generated else None, last_token_at=last,
            finished_at=end_at, energy_j=energy, cost_usd=self._price_s * shared_s,
            cancelled=cancelled,
        )

    def cancel(self, request_id: str, at: float) -> RequestResult | None:
        self._active.discard(request_id)
        for req in self._queue:
            if req.request_id == request_id:
                self._queue.remove(req)
                return make_result(
                    req, generated=0, first_scheduled_at=None, first_token_at=None,
                    last_token_at=None, finished_at=max(at, req.arrived_at), energy_j=0.0,
                    cost_usd=0.0, cancelled=True,
                )
        f = self._flights.pop(request_id, None)
        if f is None:
            return None
        end = min(max(at, f.start_at), f.finish_at)
        held = self._held[f.replica]
        for i, h in enumerate(held):
            if h[2] == request_id:
                held[i] = (end, h[1], h[2])  # the slot and its SRAM free now
        heapq.heapify(held)
        spans = self._spans[f.replica]
        spans[spans.index((f.start_at, f.finish_at))] = (f.start_at, end)
        generated = f.started_before(end) if end > f.start_at else 0
        generated = min(generated, max(0, math.floor((end - f.first_at) / f.interval_s) + 1))
        return self._result(f, end, generated, cancelled=True)

    def next_event_at(self) -> float | None:
        """The next completion or admission (always after the last `until`, so that
        `advance(until=next_event_at())` makes progress); None when idle and empty."""
        times = [f.finish_at for f in self._flights.values()]
        if self._queue:
            req = self._queue[0]
            kv = req.prompt_tokens + req.output_tokens
            at = max(req.arrived_at, self._last_start)
            times.append(min(self._earliest_start(r, at, kv)[0] for r in range(len(self._held))))
        if not times:
            return None
        t = min(times)
        return t if t > self._now else self._now + 1e-9

    def advance(self, until: float, *, record_tokens: bool = True) -> StepReport:
        self._admit(until)
        tokens: list[TokenRun] = []
        finished: list[RequestResult] = []
        if record_tokens:
            for rid, f in self._flights.items():
                n = f.started_before(until)
                if n > f.reported:
                    first = f.first_at + f.reported * f.interval_s
                    tokens.append(TokenRun(rid, f.reported, n - f.reported, first, f.interval_s))
                    f.reported = n
        heap = self._done_heap
        while heap and heap[0][0] <= until:
            _, rid = heapq.heappop(heap)
            done = self._flights.pop(rid, None)
            if done is None:
                continue  # cancelled
            self._active.discard(rid)
            finished.append(self._result(done, done.finish_at, done.req.output_tokens, False))
        self._now = max(self._now, until)
        return StepReport(now=self._now, tokens=tokens, finished=finished)

    def load(self) -> EngineLoad:
        now = self._now
        running = sum(1 for held in self._held for h in held if h[0] > now)
        kv_tokens = sum(h[1] for held in self._held for h in held if h[0] > now)
        capacity = self._kv_cap * len(self._held)
        rate = sum(1.0 / f.interval_s for f in self._flights.values()
                   if f.first_at <= now < f.finish_at)
        return EngineLoad(
            at=now, queued=len(self._queue), running=running,
            max_running=self._cap * len(self._held),
            queued_prompt_tokens=sum(r.prompt_tokens for r in self._queue),
            kv_used_fraction=min(kv_tokens / capacity, 1.0) if capacity > 0 else 0.0,
            tokens_per_s=rate,
        )
