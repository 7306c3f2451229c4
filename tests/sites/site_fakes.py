"""A small, honest implementation of the Engine protocol for the site-server tests:
a fixed number of slots, a prefill time per request, then one token per `tpot_s`.

It follows the contract the real engines follow: `advance(until)` runs every
"iteration" (a request's admission/prefill, or one decode step) that starts before
`until`, stamps each token at the end of the iteration that makes it, frees a slot
when a request's last token is out, and never reads a clock.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from sites.engine_api import (
    DeploymentSpec,
    EngineCapacityError,
    EngineLoad,
    EngineRequest,
    RequestResult,
    StepReport,
    TokenRun,
)

ENERGY_J_PER_TOKEN = 0.5
COST_USD_PER_TOKEN = 1e-6


@dataclass
class _Seq:
    req: EngineRequest
    admitted_at: float
    first_at: float
    emitted: int = 0
    cancelled: bool = False

    def token_at(self, k: int, tpot_s: float) -> float:
        return self.first_at + k * tpot_s

    def iteration_start(self, k: int, tpot_s: float) -> float:
        return self.admitted_at if k == 0 else self.token_at(k - 1, tpot_s)


@dataclass
class FixedRateEngine:
    """`slots` sequences at a time; TTFT = `prefill_s` after admission; then one
    token every `tpot_s`."""

    prefill_s: float = 0.02
    tpot_s: float = 0.005
    slots: int = 8
    max_context: int = 4096
    hardware: str = "h100-sxm"
    model: str = "llama-3.1-8b"
    submitted: list[EngineRequest] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: list[EngineRequest] = []
        self._running: dict[str, _Seq] = {}
        self._free_at: list[float] = [-math.inf] * self.slots  # heap of slot free times
        self._now = 0.0

    @property
    def spec(self) -> DeploymentSpec:
        return DeploymentSpec(
            hardware=self.hardware, model=self.model, devices=1, tp=1, max_num_seqs=self.slots
        )

    def submit(self, request: EngineRequest) -> None:
        if request.prompt_tokens + request.output_tokens > self.max_context:
            raise EngineCapacityError(
                f"{request.prompt_tokens + request.output_tokens} tokens > {self.max_context}"
            )
        self.submitted.append(request)
        self._queue.append(request)

    def cancel(self, request_id: str, at: float) -> RequestResult | None:
        self.cancelled.append(request_id)
        for i, req in enumerate(self._queue):
            if req.request_id == request_id:
                del self._queue[i]
                return self._result(req, None, at, 0, cancelled=True)
        seq = self._running.pop(request_id, None)
        if seq is None:
            return None
        heapq.heappush(self._free_at, at)
        return self._result(seq.req, seq, at, seq.emitted, cancelled=True)

    def next_event_at(self) -> float | None:
        times = [s.iteration_start(s.emitted, self.tpot_s) for s in self._running.values()]
        if self._queue and self._free_at:
            times.append(max(self._queue[0].arrived_at, self._free_at[0]))
        return min(times) if times else None

    def advance(self, until: float, *, record_tokens: bool = True) -> StepReport:
        tokens: list[TokenRun] = []
        finished: list[RequestResult] = []
        progressed = True
        while progressed:
            progressed = False
            while self._queue and self._free_at:
                start = max(self._queue[0].arrived_at, self._free_at[0])
                if start >= until:
                    break
                heapq.heappop(self._free_at)
                req = self._queue.pop(0)
                self._running[req.request_id] = _Seq(req, start, start + self.prefill_s)
                progressed = True
            for rid, seq in list(self._running.items()):
                n = seq.req.output_tokens
                k0 = seq.emitted
                k1 = k0
                while k1 < n and seq.iteration_start(k1, self.tpot_s) < until:
                    k1 += 1
                if k1 == k0:
                    continue
                progressed = True
                seq.emitted = k1
                if record_tokens:
                    tokens.append(
                        TokenRun(rid, k0, k1 - k0, seq.token_at(k0, self.tpot_s), self.tpot_s)
                    )
                self._now = max(self._now, seq.token_at(k1 - 1, self.tpot_s))
                if k1 == n:
                    del self._running[rid]
                    done_at = seq.token_at(n - 1, self.tpot_s)
                    heapq.heappush(self._free_at, done_at)
                    finished.append(self._result(seq.req, seq, done_at, n))
        self._now = max(self._now, until)
        return StepReport(now=self._now, tokens=tokens, finished=finished)

    def load(self) -> EngineLoad:
        return EngineLoad(
            at=self._now,
            queued=len(self._queue),
            running=len(self._running),
            max_running=self.slots,
            queued_prompt_tokens=sum(r.prompt_tokens for r in self._queue),
            kv_used_fraction=len(self._running) / self.slots,
            tokens_per_s=len(self._running) / self.tpot_s,
        )

    def _result(
        self,
        req: EngineRequest,
        seq: _Seq | None,
        at: float,
        emitted: int,
        *,
        cancelled: bool = False,
    ) -> RequestResult:
        first = seq.first_at if seq is not None and emitted > 0 else None
        return RequestResult(
            request_id=req.request_id,
            prompt_tokens=req.prompt_tokens,
            output_tokens=emitted,
            arrived_at=req.arrived_at,
            first_scheduled_at=seq.admitted_at if seq is not None else None,
            first_token_at=first,
            finished_at=at,
            queue_s=(seq.admitted_at - req.arrived_at) if seq is not None else at - req.arrived_at,
            ttft_s=(first - req.arrived_at) if first is not None else None,
            tpot_s=self.tpot_s if emitted > 1 else None,
            energy_j=ENERGY_J_PER_TOKEN * emitted,
            cost_usd=COST_USD_PER_TOKEN * emitted,
            cancelled=cancelled,
        )
