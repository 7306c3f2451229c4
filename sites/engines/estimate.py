"""Closed-form latency forecast for one new request at a given load (no simulation).

Used per request by the router's `fastest` policy (and the simulator's regret), so it
must be cheap: the resolved deployment is looked up by the spec's identity, the LPU
cost model's constants are folded once (`sites.engines.fastcost`), and the parts of
a GPU forecast that depend on the load alone are cached per load. Each evaluates the
same physics, in the same order, as the engines for a representative batch (the
current one plus this request), so the forecasts are bit-identical to the uncached ones.
"""

from __future__ import annotations

from sites.engine_api import DeploymentSpec, EngineLoad, LatencyEstimate
from sites.engines.deploy import Deployment, GPUDeployment, LPUDeployment, resolve
from sites.engines.fastcost import GPUTerms, LPUTerms, gpu_terms, lpu_terms
from sites.physics import constants as consts

#: Cached GPU load terms per deployment; cleared when this many loads pile up.
_MAX_LOADS = 4096


class _GPULoadTerms:
    """What a GPU forecast needs from the load alone."""

    __slots__ = ("decode_seqs", "free_tokens", "full_seqs", "kv_ctx", "last", "queued",
                 "running", "running_seqs", "stall_num")

    def __init__(self, dep: GPUDeployment, load: EngineLoad) -> None:
        cm = dep.cost
        n_inst = dep.instances
        running = load.running / n_inst
        self.running = running
        self.queued = load.queued / n_inst
        capacity_tokens = dep.kv_blocks * consts.KV_BLOCK_TOKENS
        kv_ctx = load.kv_used_fraction * capacity_tokens
        self.kv_ctx = kv_ctx
        self.free_tokens = capacity_tokens - kv_ctx
        self.full_seqs = running >= dep.max_num_seqs
        self.running_seqs = round(running)
        self.decode_seqs = max(round(min(running + 1.0, float(dep.max_num_seqs))), 1)
        # Continuous batching: while this request decodes its `output` tokens, about
        # `running` others finish and are replaced, and each newcomer's prefill stalls
        # one iteration. Their prompts are unknown; the running mean context stands in.
        # The last forecast at this load: the router and the simulator's regret often
        # score one request at equal loads.
        self.last: tuple[int, int, int, LatencyEstimate | None] = (-1, -1, -1, None)
        self.stall_num = 0.0
        if running >= 1:
            other_prompt = max(round(kv_ctx / running), 1)
            base = cm.iteration_parts(decode_seqs=round(running),
                                      decode_context_tokens=kv_ctx)[0]
            extra = _prefill_s(gpu_terms(cm), dep.max_batched_tokens, round(running), kv_ctx,
                               other_prompt) - base
            self.stall_num = running * max(extra, 0.0)


class _Entry:
    __slots__ = ("dep", "gpu", "last_lpu", "loads", "spec", "terms")

    def __init__(self, spec: DeploymentSpec, dep: Deployment) -> None:
        self.spec = spec
        self.dep = dep
        self.terms: LPUTerms | None = (
            lpu_terms(dep.cost) if isinstance(dep, LPUDeployment) else None
        )
        self.gpu: GPUTerms | None = (
            gpu_terms(dep.cost) if isinstance(dep, GPUDeployment) else None
        )
        self.loads: dict[tuple[int, int, float], _GPULoadTerms] = {}
        self.last_lpu: tuple[int, int, float, float] = (-1, -1, 0.0, 0.0)


_ENTRIES: dict[int, _Entry] = {}


def _entry(spec: DeploymentSpec) -> _Entry:
    e = _ENTRIES.get(id(spec))
    if e is None or e.spec is not spec:
        if len(_ENTRIES) > 1024:
            _ENTRIES.clear()
        e = _ENTRIES[id(spec)] = _Entry(spec, resolve(spec))
    return e


def _estimate_gpu(
    entry: _Entry, load: EngineLoad, prompt: int, output: int
) -> LatencyEstimate:
    dep, gpu = entry.dep, entry.gpu
    assert isinstance(dep, GPUDeployment)
    assert gpu is not None
    key = (load.running, load.queued, load.kv_used_fraction)
    lt = entry.loads.get(key)
    if lt is None:
        if len(entry.loads) >= _MAX_LOADS:
            entry.loads.clear()
        lt = entry.loads[key] = _GPULoadTerms(dep, load)
    last = lt.last
    if last[0] == prompt and last[1] == output and last[2] == load.queued_prompt_tokens:
        assert last[3] is not None
        return last[3]
    running, kv_ctx = lt.running, lt.kv_ctx
    decode = gpu.iteration_s(lt.decode_seqs, kv_ctx + prompt + output / 2.0)
    if prompt <= dep.max_batched_tokens:  # one chunk: _prefill_s's single iteration
        ttft = gpu.iteration_s(lt.running_seqs, kv_ctx, prompt, prompt * (prompt / 2.0), 0)
    else:
        ttft = _prefill_s(gpu, dep.max_batched_tokens, lt.running_seqs, kv_ctx, prompt)
    stall = lt.stall_num / max(output, 1) if running >= 1 else 0.0
    tpot = decode + stall
    queue = 0.0
    full = lt.full_seqs or lt.free_tokens < 1.02 * prompt
    if lt.queued > 0 or full:
        # Requests ahead must start (prefill) and, when full, wait for slots to free:
        # one frees every `output × tpot / running` seconds.
        queue = load.queued_prompt_tokens / dep.instances * (ttft / max(prompt, 1))
        if full:
            queue += (lt.queued + 1.0) * output * tpot / max(running, 1.0)
    est = LatencyEstimate(queue_s=queue, ttft_s=ttft, tpot_s=tpot)
    lt.last = (prompt, output, load.queued_prompt_tokens, est)
    return est


def _prefill_s(gpu: GPUTerms, chunk: int, running: int, kv_ctx: float, prompt: int) -> float:
    """Time of the iterations that prefill `prompt` beside `running` decodes, in chunks
    of at most `chunk` tokens."""
    total, done = 0.0, 0
    while done < prompt:
        c = min(chunk, prompt - done)
        total += gpu.iteration_s(running, kv_ctx, c, c * (done + c / 2.0), done)
        done += c
    return total


def _estimate_lpu(
    entry: _Entry, terms: LPUTerms, load: EngineLoad, prompt: int, output: int
) -> LatencyEstimate:
    # The router scores every LPU site of one spec for the same request in a row (and
    # the simulator's regret again): the load-free part is kept for the last request.
    last = entry.last_lpu
    if last[0] == prompt and last[1] == output:
        ttft, tpot = last[2], last[3]
    else:
        tpot = terms.token_s(prompt + output / 2.0)
        ttft = terms.prefill_s(prompt)
        entry.last_lpu = (prompt, output, ttft, tpot)
    queue = 0.0
    free = load.max_running - load.running
    if load.queued + 1 > free:
        service = ttft + max(output - 1, 0) * tpot
        queue = (load.queued + 1 - max(free, 0)) * service / max(load.max_running, 1)
    return LatencyEstimate(queue_s=queue, ttft_s=ttft, tpot_s=tpot)


def estimate_latency(
    spec: DeploymentSpec, load: EngineLoad, prompt_tokens: int, output_tokens: int
) -> LatencyEstimate:
    """Forecast queue wait, TTFT and TPOT for a request arriving at `load`."""
    entry = _entry(spec)
    if entry.terms is not None:
        return _estimate_lpu(entry, entry.terms, load, prompt_tokens, output_tokens)
    return _estimate_gpu(entry, load, prompt_tokens, output_tokens)
