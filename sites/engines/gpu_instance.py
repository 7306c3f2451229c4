"""One tensor-parallel GPU group running continuous batching (the vLLM/TRT-LLM scheduler).

Each iteration: every running sequence that finished its prefill decodes one token;
the rest of the `max_batched_tokens` budget goes to prefill chunks of running
sequences, then to new requests admitted FCFS while `max_num_seqs` and the KV-cache
blocks allow (a request is admitted only when blocks for its whole prompt are free).
When the KV cache cannot hold the next decode step, the most recently admitted
sequence is preempted (vLLM's recompute mode: its KV is dropped and it re-queues at the
front, to prefill prompt + generated tokens again).

Jump-ahead: while the batch is all-decode and nothing can join, the iteration time is
fixed for a *segment* of iterations that ends at the next completion, the next arrival
that could join, the KV limit, or once the growing KV cache would have changed the
iteration time by more than SEGMENT_TIME_TOLERANCE. A segment is O(1) to run (plus one
TokenRun per sequence when tokens are recorded): per-sequence counters are derived
from instance-wide step and energy counters. Running a segment one iteration per
`advance` call gives exactly the same timestamps as running it in one call.

KV usage is counted as floor(Σ context / block) + one partial block per sequence, an
O(1) bound that is at most one block per sequence above the exact paged count.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from sites.engine_api import EngineRequest, RequestResult, TokenRun
from sites.engines.accounting import make_result, power_w
from sites.engines.deploy import GPUDeployment
from sites.physics import constants as consts


class Seq:
    """A request inside one instance. Decode-phase counters are lazy: the true value
    is entry value + (instance counter now - instance counter at entry)."""

    __slots__ = (
        "c_entry",
        "cost",
        "e_entry",
        "energy",
        "finish_step",
        "first_scheduled_at",
        "first_token_at",
        "generated",
        "kv_entry",
        "last_token_at",
        "order",
        "out",
        "preemptions",
        "prefilled",
        "req",
        "s_entry",
        "target",
    )

    def __init__(self, req: EngineRequest, order: int) -> None:
        self.req = req
        self.order = order
        self.out = req.output_tokens
        self.generated = 0
        self.target = req.prompt_tokens  # tokens to prefill (prompt + regenerated on resume)
        self.prefilled = 0
        self.first_scheduled_at: float | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.energy = 0.0
        self.cost = 0.0
        self.preemptions = 0
        self.s_entry = 0
        self.e_entry = 0.0
        self.c_entry = 0.0
        self.kv_entry = 0
        self.finish_step = 0


class GPUInstance:
    """A single tensor-parallel group with its own scheduler, KV cache and clock."""

    def __init__(self, dep: GPUDeployment) -> None:
        self.dep = dep
        self.cm = dep.cost
        self.total_blocks = dep.kv_blocks
        self.watermark_blocks = max(1, dep.kv_blocks // 100)  # vLLM watermark 0.01
        self.max_seqs = dep.max_num_seqs
        self.max_tokens = dep.max_batched_tokens
        self.chunked = dep.cost.profile.chunked_prefill
        hw = dep.hardware
        self.tp = dep.cost.tp
        self.idle_w = hw.idle_power_w * self.tp
        self.full_w = hw.power_w * self.tp
        self.price_s = hw.price_usd_per_hour * self.tp / 3600.0
        self.now = 0.0
        self.queue: deque[Seq] = deque()
        self.running: dict[str, Seq] = {}  # admission order
        self.prefilling: list[Seq] = []
        self.decoding: dict[str, Seq] = {}
        self.prefill_kv = 0  # KV tokens reserved by prefilling sequences
        self.steps = 0  # decode steps run (every decoding sequence advances by one)
        self.e_cum = 0.0  # energy per decoding sequence, cumulative
        self.c_cum = 0.0
        self.dec_ctx_const = 0  # Σ(kv_entry - s_entry) over decoding sequences
        self.finish_heap: list[tuple[int, int, str]] = []
        self.seg_left = 0
        self.seg_dt = 0.0
        self.seg_e = 0.0  # energy per sequence per iteration in the segment
        self.seg_c = 0.0
        self.last_tokens_per_s = 0.0
        self._order = 0

    # --- bookkeeping helpers ------------------------------------------------------
    @property
    def dec_ctx(self) -> int:
        return self.dec_ctx_const + len(self.decoding) * self.steps

    @property
    def kv_tokens(self) -> int:
        return self.dec_ctx + self.prefill_kv

    def used_blocks(self, extra_tokens: int = 0, extra_seqs: int = 0) -> int:
        blocks = (self.kv_tokens + extra_tokens) // consts.KV_BLOCK_TOKENS
        return blocks + len(self.running) + extra_seqs

    def has_work(self) -> bool:
        return bool(self.running or self.queue)

    def queued_prompt_tokens(self) -> int:
        return sum(s.target - s.prefilled for s in self.queue)

    def next_event_at(self) -> float | None:
        """End of the current stable segment (the next completion or batch change); when
        the next iteration is not planned yet, a time just after it starts (any
        iteration lasts at least the fixed overhead), so advancing there runs exactly
        one iteration."""
        if self.seg_left > 0:
            return self.now + self.seg_left * self.seg_dt
        if self.running:
            return self.now + self.cm.fixed_s
        if self.queue:
            head_at = self.queue[0].req.arrived_at
            return head_at if head_at > self.now else self.now + self.cm.fixed_s
        return None

    def submit(self, req: EngineRequest) -> None:
        self._order += 1
        self.queue.append(Seq(req, self._order))
        self.seg_left = 0

    # --- sequence state changes ----------------------------------------------------
    def _decode_generated(self, s: Seq) -> int:
        return s.generated + (self.steps - s.s_entry)

    def _enter_decode(self, s: Seq) -> None:
        s.s_entry = self.steps
        s.e_entry = self.e_cum
        s.c_entry = self.c_cum
        s.kv_entry = s.target
        s.finish_step = self.steps + (s.out - s.generated)
        self.dec_ctx_const += s.kv_entry - s.s_entry
        self.decoding[s.req.request_id] = s
        heapq.heappush(self.finish_heap, (s.finish_step, s.order, s.req.request_id))

    def _leave_decode(self, s: Seq) -> None:
        """Fold the lazy counters into the sequence and drop it from the decode set."""
        s.generated = self._decode_generated(s)
        s.energy += self.e_cum - s.e_entry
        s.cost += self.c_cum - s.c_entry
        self.dec_ctx_const -= s.kv_entry - s.s_entry
        del self.decoding[s.req.request_id]

    def _remove_running(self, s: Seq) -> None:
        rid = s.req.request_id
        if rid in self.decoding:
            self._leave_decode(s)
        elif s in self.prefilling:
            self.prefilling.remove(s)
            self.prefill_kv -= s.target
        del self.running[rid]

    def _preempt_newest(self) -> None:
        rid = next(reversed(self.running))
        s = self.running[rid]
        self._remove_running(s)
        s.preemptions += 1
        s.target = s.req.prompt_tokens + s.generated
        s.prefilled = 0
        self.queue.appendleft(s)

    def _result(self, s: Seq, finished_at: float, *, cancelled: bool = False) -> RequestResult:
        return make_result(
            s.req, generated=s.generated, first_scheduled_at=s.first_scheduled_at,
            first_token_at=s.first_token_at, last_token_at=s.last_token_at,
            finished_at=finished_at, energy_j=s.energy, cost_usd=s.cost,
            preemptions=s.preemptions, cancelled=cancelled,
        )

    def cancel(self, rid: str, at: float) -> RequestResult | None:
        self.seg_left = 0
        s = self.running.get(rid)
        if s is not None:
            if rid in self.decoding and self.steps > s.s_entry:
                s.last_token_at = self.now  # its token of the last iteration run
            self._remove_running(s)
            return self._result(s, max(at, s.req.arrived_at), cancelled=True)
        for q in self.queue:
            if q.req.request_id == rid:
                self.queue.remove(q)
                return self._result(q, max(at, q.req.arrived_at), cancelled=True)
        return None

    def _pop_finished(self, end_of_step: float, step0: int, dt: float,
                      out: list[RequestResult]) -> None:
        """Finish decoding sequences whose last step has run; the token of step k
        (k > step0) was emitted at end_of_step + (k - step0 - 1) × dt."""
        heap = self.finish_heap
        while heap and heap[0][0] <= self.steps:
            fstep, _, rid = heapq.heappop(heap)
            s = self.decoding.get(rid)
            if s is None or s.finish_step != fstep:
                continue  # stale entry (preempted or cancelled)
            s.last_token_at = end_of_step + (fstep - step0 - 1) * dt
            self._remove_running(s)
            out.append(self._result(s, s.last_token_at))

    def _clean_heap(self) -> None:
        heap = self.finish_heap
        while heap:
            fstep, _, rid = heap[0]
            s = self.decoding.get(rid)
            if s is not None and s.finish_step == fstep:
                return
            heapq.heappop(heap)

    # --- the scheduler -------------------------------------------------------------
    def advance(self, until: float, record: bool, tokens: list[TokenRun],
                finished: list[RequestResult]) -> None:
        """Run every iteration that starts before `until`."""
        while True:
            if self.seg_left > 0:
                if self.now >= until:
                    return
                j = min(self.seg_left, max(1, math.ceil((until - self.now) / self.seg_dt)))
                self._run_segment(j, record, tokens, finished)
                continue
            if not self.running:
                if not self.queue:
                    self.now = max(self.now, until)
                    return
                head_at = self.queue[0].req.arrived_at
                if head_at > self.now:
                    if head_at >= until:
                        self.now = max(self.now, until)
                        return
                    self.now = head_at
            if self.now >= until:
                return
            self._plan_and_run(record, tokens, finished)

    def _plan_and_run(self, record: bool, tokens: list[TokenRun],
                      finished: list[RequestResult]) -> None:
        start = self.now
        # 1. Room for every decode's next token, preempting the newest if needed.
        while self.decoding and self.used_blocks(len(self.decoding)) > self.total_blocks:
            self._preempt_newest()
        n_dec = len(self.decoding)
        budget = self.max_tokens - n_dec
        chunks: list[tuple[Seq, int]] = []
        for s in self.prefilling:
            if budget <= 0:
                break
            c = min(s.target - s.prefilled, budget)
            chunks.append((s, c))
            budget -= c
        # 2. Admit FCFS while slots, budget and KV blocks allow.
        while self.queue and len(self.running) < self.max_seqs and budget > 0:
            head = self.queue[0]
            if head.req.arrived_at > start:
                break
            need = self.used_blocks(head.target, 1) + self.watermark_blocks
            if need > self.total_blocks:
                break
            if (not self.chunked and budget < head.target <= self.max_tokens
                    and (chunks or n_dec)):
                break  # unchunked context: wait for an iteration with room for all of it
            self.queue.popleft()
            self.running[head.req.request_id] = head
            self.prefilling.append(head)
            self.prefill_kv += head.target
            if head.first_scheduled_at is None:
                head.first_scheduled_at = start
            c = min(head.target, budget)
            chunks.append((head, c))
            budget -= c
        if not chunks:
            if n_dec == 0:  # nothing runnable: wait for the queue head to arrive
                self.now = max(start, self.queue[0].req.arrived_at) if self.queue else start
                if self.queue and self.queue[0].req.arrived_at <= start:
                    raise RuntimeError("scheduler stalled: queue head cannot be admitted")
                return
            self._start_segment(start)
            return
        self._run_mixed(start, n_dec, chunks, record, tokens, finished)

    def _start_segment(self, start: float) -> None:
        n = len(self.decoding)
        dt, busy = self.cm.iteration_parts(decode_seqs=n, decode_context_tokens=self.dec_ctx)
        self._clean_heap()
        k = self.finish_heap[0][0] - self.steps
        room = consts.KV_BLOCK_TOKENS * (self.total_blocks - len(self.running)) + (
            consts.KV_BLOCK_TOKENS - 1) - self.kv_tokens
        k = min(k, max(1, room // n))
        growth = n * self.cm.kv_bytes_per_token / self.cm.mem_bw
        if growth > 0:
            k = min(k, max(1, int(consts.SEGMENT_TIME_TOLERANCE * dt / growth)))
        if self.queue and len(self.running) < self.max_seqs:
            head_at = self.queue[0].req.arrived_at
            if head_at > start:
                k = min(k, max(1, math.ceil((head_at - start) / dt)))
        energy = power_w(self.idle_w, self.full_w, busy) * dt
        self.seg_left = k
        self.seg_dt = dt
        self.seg_e = energy / n
        self.seg_c = self.price_s * dt / n
        self.last_tokens_per_s = n / dt

    def _run_segment(self, j: int, record: bool, tokens: list[TokenRun],
                     finished: list[RequestResult]) -> None:
        start, dt = self.now, self.seg_dt
        step0 = self.steps
        if record:
            first_at = start + dt
            for rid, s in self.decoding.items():
                tokens.append(TokenRun(rid, self._decode_generated(s), j, first_at, dt))
        self.steps += j
        self.e_cum += self.seg_e * j
        self.c_cum += self.seg_c * j
        self.seg_left -= j
        self.now = start + j * dt
        self._pop_finished(start + dt, step0, dt, finished)

    def _run_mixed(self, start: float, n_dec: int, chunks: list[tuple[Seq, int]],
                   record: bool, tokens: list[TokenRun], finished: list[RequestResult]) -> None:
        prefill_tokens = sum(c for _, c in chunks)
        pairs = sum(c * (s.prefilled + c / 2.0) for s, c in chunks)
        prior = sum(s.prefilled for s, _ in chunks)
        completing = sum(1 for s, c in chunks if s.prefilled + c == s.target)
        dt, busy = self.cm.iteration_parts(
            decode_seqs=n_dec, decode_context_tokens=self.dec_ctx,
            prefill_tokens=prefill_tokens, prefill_attention_pairs=pairs,
            prefill_context_tokens=prior, logits_tokens=n_dec + completing,
        )
        end = start + dt
        energy = power_w(self.idle_w, self.full_w, busy) * dt
        total_tokens = n_dec + prefill_tokens
        e_tok = energy / total_tokens
        c_tok = self.price_s * dt / total_tokens
        self.last_tokens_per_s = (n_dec + completing) / dt
        step0 = self.steps
        if n_dec:
            if record:
                for rid, s in self.decoding.items():
                    tokens.append(TokenRun(rid, self._decode_generated(s), 1, end, dt))
            self.steps += 1
            self.e_cum += e_tok
            self.c_cum += c_tok
        self.now = end
        if n_dec:
            self._pop_finished(end, step0, dt, finished)
        for s, c in chunks:
            s.prefilled += c
            s.energy += e_tok * c
            s.cost += c_tok * c
            if s.prefilled < s.target:
                continue
            self.prefilling.remove(s)
            self.prefill_kv -= s.target
            if record:
                tokens.append(TokenRun(s.req.request_id, s.generated, 1, end, dt))
            s.generated += 1
            s.last_token_at = end
            if s.first_token_at is None:
                s.first_token_at = end
            if s.generated >= s.out:
                del self.running[s.req.request_id]
                finished.append(self._result(s, end))
            else:
                self._enter_decode(s)
