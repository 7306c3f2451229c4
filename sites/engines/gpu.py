"""GPUEngine: a GPU serving deployment of one or more tensor-parallel instances.

Requests go to the instance with the fewest requests (a data-parallel load balancer);
each instance runs continuous batching with chunked prefill and preemption
(`sites.engines.gpu_instance`).
"""

from __future__ import annotations

from sites.engine_api import (
    DeploymentSpec,
    EngineLoad,
    EngineRequest,
    RequestResult,
    StepReport,
    TokenRun,
)
from sites.engines.accounting import check_request
from sites.engines.deploy import GPUDeployment
from sites.engines.gpu_instance import GPUInstance
from sites.physics import constants as consts


class GPUEngine:
    """Continuous-batching GPU deployment; implements `sites.engine_api.Engine`."""

    def __init__(self, deployment: GPUDeployment, *, start_at: float = 0.0) -> None:
        self._dep = deployment
        self._instances = [GPUInstance(deployment) for _ in range(deployment.instances)]
        for inst in self._instances:
            inst.now = start_at
        self._where: dict[str, GPUInstance] = {}
        # A lone request must fit the KV cache with the admission watermark to spare.
        watermark = max(1, deployment.kv_blocks // 100)
        self._max_tokens_per_request = min(
            deployment.model.max_context,
            (deployment.kv_blocks - watermark - 2) * consts.KV_BLOCK_TOKENS,
        )

    @property
    def spec(self) -> DeploymentSpec:
        return self._dep.spec

    @property
    def deployment(self) -> GPUDeployment:
        return self._dep

    def submit(self, request: EngineRequest) -> None:
        check_request(request, self._max_tokens_per_request, self._where)
        inst = min(self._instances, key=lambda i: len(i.running) + len(i.queue))
        inst.submit(request)
        self._where[request.request_id] = inst

    def cancel(self, request_id: str, at: float) -> RequestResult | None:
        inst = self._where.pop(request_id, None)
        if inst is None:
            return None
        return inst.cancel(request_id, at)

    def next_event_at(self) -> float | None:
        """The earliest time at which some instance finishes its current stable segment
        (a completion or batch change), or a time just after its next iteration starts;
        `advance(until=next_event_at())` always makes progress and never runs past a
        completion. None when idle and empty."""
        times = [t for t in (i.next_event_at() for i in self._instances) if t is not None]
        return min(times) if times else None

    def advance(self, until: float, *, record_tokens: bool = True) -> StepReport:
        tokens: list[TokenRun] = []
        finished: list[RequestResult] = []
        for inst in self._instances:
            inst.advance(until, record_tokens, tokens, finished)
        for r in finished:
            self._where.pop(r.request_id, None)
        now = max(inst.now for inst in self._instances)
        return StepReport(now=max(now, until), tokens=tokens, finished=finished)

    def is_idle(self) -> bool:
        """Nothing running or queued: `load()` gives the same figures (but `at`) until
        a request is submitted."""
        return not any(i.running or i.queue for i in self._instances)

    def advance_raw(
        self, until: float
    ) -> list[tuple[str, int, float | None, float, float, float | None, float | None, float, float]]:  # noqa: E501
        """`advance(until, record_tokens=False).finished` as tuples of the results'
        fields (request_id, output_tokens, first_token_at, finished_at, queue_s,
        ttft_s, tpot_s, energy_j, cost_usd): the simulator's path, no report object."""
        finished: list[RequestResult] = []
        for inst in self._instances:
            inst.advance(until, False, [], finished)
        where = self._where
        for r in finished:
            where.pop(r.request_id, None)
        return [
            (r.request_id, r.output_tokens, r.first_token_at, r.finished_at, r.queue_s,
             r.ttft_s, r.tpot_s, r.energy_j, r.cost_usd)
            for r in finished
        ]

    def load(self) -> EngineLoad:
        insts = self._instances
        total_blocks = sum(i.total_blocks for i in insts)
        used = sum(i.used_blocks() for i in insts if i.running)
        return EngineLoad(
            at=max(i.now for i in insts),
            queued=sum(len(i.queue) for i in insts),
            running=sum(len(i.running) for i in insts),
            max_running=self._dep.max_num_seqs * len(insts),
            queued_prompt_tokens=sum(i.queued_prompt_tokens() for i in insts),
            kv_used_fraction=min(used / total_blocks, 1.0) if total_blocks else 0.0,
            tokens_per_s=sum(i.last_tokens_per_s for i in insts if i.running),
        )
