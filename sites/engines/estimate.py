"""Closed-form latency forecast for one new request at a given load (no simulation).

Used per request by the router's `fastest` policy, so it must be cheap: it reuses the
cached deployment and evaluates the same physics as the engines for a representative
batch (the current one plus this request).
"""

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
    kv_ctx = load.kv_used_fraction * dep.kv_blocks * consts.KV_BLOCK_TOKENS
    batch = min(running + 1.0, float(dep.max_num_seqs))
    ctx = prompt + output / 2.0
    dec_ctx = kv_ctx + ctx
    tpot = cm.iteration_s(decode_seqs=max(round(batch), 1), decode_context_tokens=dec_ctx)
    chunk = dep.max_batched_tokens
    ttft = 0.0
    done = 0
    while done < prompt:
        c = min(chunk, prompt - done)
        ttft += cm.iteration_s(
            decode_seqs=int(running), decode_context_tokens=kv_ctx,
            prefill_tokens=c, prefill_attention_pairs=c * (done + c / 2.0),
            prefill_context_tokens=done,
        )
        done += c
    queue = 0.0
    full = running >= dep.max_num_seqs or load.kv_used_fraction > 0.97
    if queued > 0 or full:
        per_token = tpot / max(batch, 1.0)
        # Requests ahead must start (prefill) and, when full, free slots by finishing.
        ahead_prefill = load.queued_prompt_tokens / n_inst
        queue = ahead_prefill * (ttft / max(prompt, 1))
        if full:
            queue += (queued + 1.0) * output * per_token
    return LatencyEstimate(queue_s=queue, ttft_s=ttft, tpot_s=tpot)


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
