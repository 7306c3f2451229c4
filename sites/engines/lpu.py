"""LPUEngine: a Groq deployment of deterministic chip pipelines (replicas).

Each replica keeps up to `max_num_seqs` sequences in flight (one per pipeline stage)
and every one of them runs at the pipeline's per-token speed, whatever the load: the
schedule is static, so load shows up only as queueing for a free slot (FCFS, the
earliest-free replica first). A request's whole timeline is known when it is
admitted: first token after its prefill, then one token every `token_s`. The engine is
therefore event-driven in O(log n) per request, whatever the output length, and
O(log replicas) to pick a replica (`sites.engines.replicas`).

Energy and cost: the replica's chips draw idle power plus a dynamic share per occupied
slot (power linear in occupancy). A request pays its slot's dynamic power for its
time in flight, and the idle power and the price per chip-hour shared equally with the
sequences in flight at each moment (∫ dt / n(t) over its lifetime,
`sites.engines.sharing`).
"""

from __future__ import annotations

import heapq
import math
from collections import deque

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
from sites.engines.fastcost import lpu_terms
from sites.engines.lpu_load import LoadTracker
from sites.engines.replicas import ReplicaSlots
from sites.engines.sharing import ShareLine

#: A finished request as `advance_raw` reports it, the fields of its RequestResult
#: (same values): (request_id, output_tokens, first_token_at, finished_at, queue_s,
#: ttft_s, tpot_s, energy_j, cost_usd).
RawResult = tuple[str, int, float, float, float, float, float | None, float, float]

_new = object.__new__


class _Req:
    """What the engine keeps of a request (EngineRequest's fields, as `submit_raw`
    takes them without building the frozen dataclass)."""

    __slots__ = ("arrived_at", "output_tokens", "prompt_tokens", "request_id")

    def __init__(self, request_id: str, prompt_tokens: int, output_tokens: int,
                 arrived_at: float) -> None:
        self.request_id = request_id
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.arrived_at = arrived_at


class _Flight:
    """An admitted request: its full, deterministic token timeline."""

    __slots__ = ("finish_at", "first_at", "interval_s", "replica", "reported", "req",
                 "seq", "start_at")

    def __init__(self, req: EngineRequest | _Req, replica: int, start_at: float, first_at: float,
                 interval_s: float, seq: int) -> None:
        self.req = req
        self.replica = replica
        self.start_at = start_at
        self.first_at = first_at
        self.interval_s = interval_s
        self.finish_at = first_at + (req.output_tokens - 1) * interval_s
        self.reported = 0
        self.seq = seq

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
        self._terms = lpu_terms(deployment.cost)
        self._cap = deployment.max_num_seqs
        self._slots = ReplicaSlots(deployment.replicas, deployment.max_num_seqs,
                                   deployment.kv_capacity_tokens)
        self._last_start = start_at
        self._queue: deque[EngineRequest | _Req] = deque()
        self._queued_prompt = 0
        self._flights: dict[str, _Flight] = {}
        self._active: set[str] = set()  # queued or in flight
        self._lines = [ShareLine() for _ in range(deployment.replicas)]
        # Per replica: flights in admission (= start) order, for forgetting old sharing
        # breakpoints; and the breakpoint count that triggers the next clean-up.
        self._order: list[deque[_Flight]] = [deque() for _ in range(deployment.replicas)]
        self._forget_at = [256] * deployment.replicas
        # (finish time, id, seq, flight). A request is reported finished once `until`
        # reaches its last token (its tokens go out one iteration earlier): by then every
        # admission that overlaps it is known, so its share of idle power and price is
        # exact.
        self._done_heap: list[tuple[float, str, int, _Flight]] = []
        self._seq = 0
        self._tracker = LoadTracker()
        self._now = start_at
        hw = deployment.hardware
        chips = deployment.cost.chips
        self._idle_w = hw.idle_power_w * chips
        self._full_w = hw.power_w * chips
        self._slot_w = (self._full_w - self._idle_w) / self._cap
        self._price_s = hw.price_usd_per_hour * chips / 3600.0
        self._max_context = min(deployment.model.max_context, deployment.kv_capacity_tokens)
        self._token_s_cache: dict[int, float] = {}
        self._prefill_cache: dict[int, float] = {}

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
            t = self._terms.token_s(ctx_bin * 64 + 32)
            self._token_s_cache[ctx_bin] = t
        return t

    def submit(self, request: EngineRequest) -> None:
        check_request(request, self._max_context, self._active)
        self._active.add(request.request_id)
        self._queue.append(request)
        self._queued_prompt += request.prompt_tokens

    def submit_raw(self, request_id: str, prompt_tokens: int, output_tokens: int,
                   arrived_at: float) -> None:
        """`submit(EngineRequest(...))` without building the request object (the
        simulator submits millions)."""
        # _Req(request_id, prompt_tokens, output_tokens, arrived_at) without the call of
        # its __init__ (see _admit)
        req = _new(_Req)
        req.request_id = request_id
        req.prompt_tokens = prompt_tokens
        req.output_tokens = output_tokens
        req.arrived_at = arrived_at
        if (prompt_tokens < 1 or output_tokens < 1 or request_id in self._active
                or prompt_tokens + output_tokens > self._max_context):
            check_request(req, self._max_context, self._active)  # raises, with the reason
        self._active.add(request_id)
        self._queue.append(req)
        self._queued_prompt += prompt_tokens

    def _admit(self, until: float) -> None:
        queue, slots = self._queue, self._slots
        token_s_cache, prefill_cache = self._token_s_cache, self._prefill_cache
        lines, order, flights = self._lines, self._order, self._flights
        tracker, done_heap = self._tracker, self._done_heap
        last_start = self._last_start
        push = heapq.heappush
        new = _new
        while queue:
            req = queue[0]
            prompt, output = req.prompt_tokens, req.output_tokens
            kv = prompt + output
            at = req.arrived_at if req.arrived_at > last_start else last_start
            r, start = slots.earliest(at, kv, last_start)
            if start >= until:
                break
            queue.popleft()
            self._queued_prompt -= prompt
            last_start = self._last_start = start
            interval = token_s_cache.get((prompt + output // 2) // 64)  # token_s, inlined
            if interval is None:
                interval = self.token_s(prompt, output)
            prefill = prefill_cache.get(prompt)  # = self._terms.prefill_s(prompt)
            if prefill is None:
                prefill = self._terms.prefill_s(prompt)
                if len(prefill_cache) < 1 << 16:
                    prefill_cache[prompt] = prefill
            first_at = start + prefill
            self._seq += 1
            seq = self._seq
            # _Flight(req, r, start, first_at, interval, seq), built without the call of
            # its __init__: a class call through a Python __init__ costs ~0.2 us more
            # than object.__new__ and the stores (timeit; this runs once per request)
            f = new(_Flight)
            f.req = req
            f.replica = r
            f.start_at = start
            f.first_at = first_at
            f.interval_s = interval
            finish_at = f.finish_at = first_at + (output - 1) * interval
            f.reported = 0
            f.seq = seq
            slots.take(r, start, finish_at, kv, seq)
            lines[r].add(seq, start, finish_at)
            order[r].append(f)
            flights[req.request_id] = f
            # tracker.admit(seq, kv, first_at, finish_at, 1.0 / interval), inlined
            tracker._n += 1
            tracker._kv += kv
            if first_at < finish_at:
                tracker._first.append((first_at, seq, finish_at, 1.0 / interval))
            push(done_heap, (finish_at, req.request_id, seq, f))

    def _shared_s(self, f: _Flight, end: float) -> float:
        """∫ dt / n(t) over the flight's [start, end) on its replica; then forget the
        sharing history no unreported flight of that replica needs any more."""
        r = f.replica
        line = self._lines[r]
        shared = line.shared_s(f.start_at, end)
        if len(line.bp_t) > self._forget_at[r]:
            self._forget(r, end)
        return shared

    def _forget(self, r: int, end: float) -> None:
        """Drop replica r's sharing breakpoints before its oldest unreported flight,
        and never past the engine's last admission: starts never precede it, but one may
        precede `end` (a live site runs the engine ahead of the wall clock, so a request
        can arrive behind the sweep), and its start must still find its breakpoint."""
        line = self._lines[r]
        order = self._order[r]
        while order and self._flights.get(order[0].req.request_id) is not order[0]:
            order.popleft()
        keep_from = order[0].start_at if order else end
        line.forget_before(min(keep_from, self._last_start))
        self._forget_at[r] = 2 * len(line) + 256

    def _result(self, f: _Flight, end_at: float, generated: int, cancelled: bool) -> RequestResult:
        busy_s = max(end_at - f.start_at, 0.0)
        shared_s = self._shared_s(f, end_at) if busy_s > 0 else 0.0
        energy = self._slot_w * busy_s + self._idle_w * shared_s
        last = None
        if generated:
            last = f.first_at + (generated - 1) * f.interval_s
        return make_result(
            f.req, generated=generated, first_scheduled_at=f.start_at,
            first_token_at=f.first_at if generated else None, last_token_at=last,
            finished_at=end_at, energy_j=energy, cost_usd=self._price_s * shared_s,
            cancelled=cancelled,
        )

    def _finished(self, f: _Flight) -> RequestResult:
        """`_result` of a flight that ran to its last token, built directly (the same
        arithmetic as `make_result`; this runs once per request)."""
        rid, n, first, end, queue_s, ttft_s, tpot_s, energy_j, cost_usd = self._finished_raw(f)
        req = f.req
        return RequestResult(
            request_id=rid, prompt_tokens=req.prompt_tokens, output_tokens=n,
            arrived_at=req.arrived_at, first_scheduled_at=f.start_at, first_token_at=first,
            finished_at=end, queue_s=queue_s, ttft_s=ttft_s, tpot_s=tpot_s,
            energy_j=energy_j, cost_usd=cost_usd,
        )

    def _finished_raw(self, f: _Flight) -> RawResult:
        """The values of `_finished(f)`, as a `RawResult` tuple."""
        req, start, first, end = f.req, f.start_at, f.first_at, f.finish_at
        busy_s = end - start if end > start else 0.0
        shared_s = 0.0
        if busy_s > 0:
            r = f.replica
            line = self._lines[r]
            shared_s = line.shared_s(start, end)
            if len(line.bp_t) > self._forget_at[r]:  # the rest of _shared_s
                self._forget(r, end)
        n = req.output_tokens
        arrived = req.arrived_at
        return (
            req.request_id, n, first, end, start - arrived if start > arrived else 0.0,
            first - arrived, (end - first) / (n - 1) if n > 1 else None,
            self._slot_w * busy_s + self._idle_w * shared_s, self._price_s * shared_s,
        )

    def cancel(self, request_id: str, at: float) -> RequestResult | None:
        self._active.discard(request_id)
        for req in self._queue:
            if req.request_id == request_id:
                self._queue.remove(req)
                self._queued_prompt -= req.prompt_tokens
                return make_result(
                    req, generated=0, first_scheduled_at=None, first_token_at=None,
                    last_token_at=None, finished_at=max(at, req.arrived_at), energy_j=0.0,
                    cost_usd=0.0, cancelled=True,
                )
        f = self._flights.pop(request_id, None)
        if f is None:
            return None
        end = min(max(at, f.start_at), f.finish_at)
        self._slots.release(f.replica, f.seq, end)  # the slot and its SRAM free now
        self._lines[f.replica].shorten(f.seq, f.finish_at, end)
        self._tracker.cancel(f.seq, end, f.req.prompt_tokens + f.req.output_tokens, f.finish_at)
        generated = f.started_before(end) if end > f.start_at else 0
        generated = min(generated, max(0, math.floor((end - f.first_at) / f.interval_s) + 1))
        return self._result(f, end, generated, cancelled=True)

    def _live_min_finish(self) -> float | None:
        heap = self._done_heap
        while heap and self._flights.get(heap[0][1]) is not heap[0][3]:
            heapq.heappop(heap)  # cancelled
        return heap[0][0] if heap else None

    def next_event_at(self) -> float | None:
        """The next completion or admission (always after the last `until`, so that
        `advance(until=next_event_at())` makes progress); None when idle and empty."""
        times = []
        done = self._live_min_finish()
        if done is not None:
            times.append(done)
        if self._queue:
            req = self._queue[0]
            kv = req.prompt_tokens + req.output_tokens
            at = max(req.arrived_at, self._last_start)
            times.append(self._slots.earliest(at, kv, self._last_start)[1])
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
        flights = self._flights
        while heap and heap[0][0] <= until:
            _, rid, _, f = heapq.heappop(heap)
            if flights.get(rid) is not f:
                continue  # cancelled
            del flights[rid]
            self._active.discard(rid)
            self._tracker.finish(f.seq, f.req.prompt_tokens + f.req.output_tokens, f.finish_at)
            finished.append(self._finished(f))
        if until > self._now:
            self._now = until
        return StepReport(now=self._now, tokens=tokens, finished=finished)

    def advance_raw(self, until: float) -> list[RawResult]:
        """`advance(until, record_tokens=False).finished` as `RawResult` tuples (the
        simulator's path: no report or result objects)."""
        if self._queue:
            self._admit(until)
        finished: list[RawResult] = []
        heap = self._done_heap
        if heap and heap[0][0] <= until:
            flights, active, lines = self._flights, self._active, self._lines
            forget_at, slot_w, idle_w, price_s = (
                self._forget_at, self._slot_w, self._idle_w, self._price_s)
            ended = self._tracker._ended
            pop = heapq.heappop
            while heap and heap[0][0] <= until:
                _, rid, _, f = pop(heap)
                if flights.get(rid) is not f:
                    continue  # cancelled
                del flights[rid]
                active.discard(rid)
                # self._finished_raw(f), inlined (this runs once per request)
                req, start, first, end = f.req, f.start_at, f.first_at, f.finish_at
                busy_s = end - start if end > start else 0.0
                shared_s = 0.0
                if busy_s > 0:
                    r = f.replica
                    line = lines[r]
                    shared_s = line.shared_s(start, end)
                    if len(line.bp_t) > forget_at[r]:
                        self._forget(r, end)
                n = req.output_tokens
                arrived = req.arrived_at
                ended.append((end, f.seq, req.prompt_tokens + n))  # tracker.finish, inlined
                finished.append((
                    rid, n, first, end, start - arrived if start > arrived else 0.0,
                    first - arrived, (end - first) / (n - 1) if n > 1 else None,
                    slot_w * busy_s + idle_w * shared_s, price_s * shared_s,
                ))
        if until > self._now:
            self._now = until
        return finished

    def load(self) -> EngineLoad:
        now = self._now
        tracker = self._tracker
        running, kv_tokens, rate = tracker.at(now)
        done = self._live_min_finish()
        if done is not None and done <= now:
            # An advance went back in time (`until` below an earlier one: neither the
            # simulator nor the site driver does it), so flights that ended by now are
            # not reported finished yet, and the tracker still counts them.
            for finish_at, rid, seq, f in self._done_heap:
                if finish_at <= now and self._flights.get(rid) is f:
                    running -= 1
                    kv_tokens -= f.req.prompt_tokens + f.req.output_tokens
                    rate -= tracker._decoding.get(seq, 0.0)
        replicas = len(self._lines)
        capacity = self._dep.kv_capacity_tokens * replicas
        return EngineLoad(
            at=now, queued=len(self._queue), running=running,
            max_running=self._cap * replicas,
            queued_prompt_tokens=self._queued_prompt,
            kv_used_fraction=min(kv_tokens / capacity, 1.0) if capacity > 0 else 0.0,
            tokens_per_s=rate,
        )
