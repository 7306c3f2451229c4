"""`estimate_latency` as it was before its constants were cached: the reference
`test_estimate_equivalence.py` pins the cached forecasts to (bit for bit)."""
from __future__ import annotations

from sites.engine_api import DeploymentSpec, EngineLoad, LatencyEstimate
from sites.engines.deploy import GPUDeployment, LPUDeployment, resolve
from sites.physics import constants as consts


def _estimate_gpu(
    dep: GPUDeployment, load: EngineLoad, prompt: int, output: int
) -> LatencyEstimate:
    cm = dep.cost
    n_inst = dep.instances
    running = load.running / n_inst
    queued = load.queued / n_inst
    capacity_tokens = dep.kv_blocks * consts.KV_BLOCK_TOKENS
    kv_ctx = load.kv_used_fraction * capacity_tokens
    batch = min(running + 1.0, float(dep.max_num_seqs))
    decode = cm.iteration_s(decode_seqs=max(round(batch), 1),
                            decode_context_tokens=kv_ctx + prompt + output / 2.0)
    ttft = _prefill_s(dep, round(running), kv_ctx, prompt)
    # Continuous batching: while this request decodes its `output` tokens, about
    # `running` others finish and are replaced, and each newcomer's prefill stalls one
    # iteration. Their prompts are unknown; the running mean context stands in.
    stall = 0.0
    if running >= 1:
        other_prompt = max(round(kv_ctx / running), 1)
        base = cm.iteration_s(decode_seqs=round(running), decode_context_tokens=kv_ctx)
        extra = _prefill_s(dep, round(running), kv_ctx, other_prompt) - base
        stall = running * max(extra, 0.0) / max(output, 1)
    tpot = decode + stall
    queue = 0.0
    free_tokens = capacity_tokens - kv_ctx
    full = running >= dep.max_num_seqs or free_tokens < 1.02 * prompt
    if queued > 0 or full:
        # Requests ahead must start (prefill) and, when full, wait for slots to free:
        # one frees every `output × tpot / running` seconds.
        queue = load.queued_prompt_tokens / n_inst * (ttft / max(prompt, 1))
        if full:
            queue += (queued + 1.0) * output * tpot / max(running, 1.0)
    return LatencyEstimate(queue_s=queue, ttft_s=ttft, tpot_s=tpot)


def _prefill_s(dep: GPUDeployment, running: int, kv_ctx: float, prompt: int) -> float:
    """Time of the iterations that prefill `prompt` beside `running` decodes."""
    total, done, chunk = 0.0, 0, dep.max_batched_tokens
    while done < prompt:
        c = min(chunk, prompt - done)
        total += dep.cost.iteration_s(
            decode_seqs=running, decode_context_tokens=kv_ctx, prefill_tokens=c,
            prefill_attention_pairs=c * (done + c / 2.0), prefill_context_tokens=done,
        )
        done += c
    return total


def _estimate_lpu(
    dep: LPUDeployment, load: EngineLoad, prompt: int, output: int
) -> LatencyEstimate:
    cm = dep.cost
    tpot = cm.token_s(prompt + output / 2.0)
    ttft = cm.prefill_s(prompt)
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
    dep = resolve(spec)
    if isinstance(dep, LPUDeployment):
        return _estimate_lpu(dep, load, prompt_tokens, output_tokens)
    return _estimate_gpu(dep, load, prompt_tokens, output_tokens)
