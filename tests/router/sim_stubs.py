"""A constant-latency engine and estimator for simulator tests and harness benchmarks:
no queueing, TTFT `ttft_s` after arrival, then one token every `tpot_s`."""

from __future__ import annotations

import dataclasses
import heapq

from router.sim import SimDeps, default_deps
from sites.engine_api import (
    DeploymentSpec,
    EngineLoad,
    EngineRequest,
    LatencyEstimate,
    RequestResult,
    StepReport,
)


class StubEngine:
    def __init__(self, spec: DeploymentSpec, *, ttft_s: float = 0.1, tpot_s: float = 0.01) -> None:
        self.spec = spec
        self.ttft_s = ttft_s
        self.tpot_s = tpot_s
        self._due: list[tuple[float, str]] = []
        self._live: dict[str, EngineRequest] = {}
        self._now = 0.0

    def _result(self, r: EngineRequest, end: float, cancelled: bool = False) -> RequestResult:
        first = r.arrived_at + self.ttft_s
        emitted = first <= end
        return RequestResult(
            request_id=r.request_id,
            prompt_tokens=r.prompt_tokens,
            output_tokens=r.output_tokens,
            arrived_at=r.arrived_at,
            first_scheduled_at=r.arrived_at,
            first_token_at=first if emitted else None,
            finished_at=end,
            queue_s=0.0,
            ttft_s=self.ttft_s if emitted else None,
            tpot_s=self.tpot_s,
            energy_j=1.0,
            cost_usd=1e-6,
            cancelled=cancelled,
        )

    def submit(self, request: EngineRequest) -> None:
        end = request.arrived_at + self.ttft_s + self.tpot_s * (request.output_tokens - 1)
        self._live[request.request_id] = request
        heapq.heappush(self._due, (end, request.request_id))

    def cancel(self, request_id: str, at: float) -> RequestResult | None:
        r = self._live.pop(request_id, None)
        return None if r is None else self._result(r, at, cancelled=True)

    def next_event_at(self) -> float | None:
        return self._due[0][0] if self._due else None

    def advance(self, until: float, *, record_tokens: bool = True) -> StepReport:
        done = []
        while self._due and self._due[0][0] < until:
            end, rid = heapq.heappop(self._due)
            r = self._live.pop(rid, None)
            if r is not None:
                done.append(self._result(r, end))
        self._now = max(self._now, until)
        return StepReport(now=self._now, finished=done)

    def load(self) -> EngineLoad:
        n = len(self._live)
        return EngineLoad(
            at=self._now,
            queued=0,
            running=n,
            max_running=max(n, 256),
            queued_prompt_tokens=0,
            kv_used_fraction=0.0,
            tokens_per_s=n / self.tpot_s,
        )


def stub_deps(*, ttft_s: float = 0.1, tpot_s: float = 0.01) -> SimDeps:
    """The real network model, geography and prices; stub engines and estimates."""
    estimate = LatencyEstimate(queue_s=0.0, ttft_s=ttft_s, tpot_s=tpot_s)
    return dataclasses.replace(
        default_deps(),
        build_engine=lambda spec: StubEngine(spec, ttft_s=ttft_s, tpot_s=tpot_s),
        estimate_latency=lambda spec, load, prompt, output: estimate,
    )
