"""`estimate_latency(...).e2e_s(output)` for many requests at one load, at once.

The simulator scores every site for every request; between two changes of a site's
load (a stats refresh, a request entering or leaving) the forecast is a function of
the request's lengths alone, so a window of requests is scored in one numpy pass.

Bit-identical to the scalar forecast: numpy's +, -, *, / round exactly as Python's
floats do, and the elementwise operations are applied in the scalar code's order.
numpy's `power` does not match libm's `pow` to the last bit on every input (it
squares and takes square roots exactly; glibc's pow may be half an ulp off), so the
roofline's p-norm is evaluated per element with Python's `**`. Prompts longer than
one prefill chunk, and models the folded GPU terms do not cover, go to the scalar
code element by element.
"""

from __future__ import annotations

import numpy as np

from sites.engine_api import DeploymentSpec, EngineLoad
from sites.engines.deploy import GPUDeployment
from sites.engines.estimate import _Entry, _entry, _estimate_gpu, _GPULoadTerms, _prefill_s
from sites.engines.fastcost import GPUTerms, LPUTerms

IntArray = np.ndarray
FloatArray = np.ndarray


def lpu_request_terms(
    terms: LPUTerms, prompts: IntArray, outputs: IntArray
) -> tuple[FloatArray, FloatArray]:
    """(ttft_s, tpot_s) per request: `LPUTerms.prefill_s(p)`, `token_s(p + o / 2)`."""
    ctx = prompts + outputs / 2.0
    tpot = terms.pipeline_s + terms._layers * (terms._attn_k * ctx) / terms._stage_rate
    per_token = terms._pf_a + terms._pf_b * (prompts / 2.0)
    ttft = terms.pipeline_s + prompts * per_token / terms._layers / terms._stage_rate
    return np.asarray(ttft), np.asarray(tpot)


def lpu_service(ttft: FloatArray, tpot: FloatArray, outputs: IntArray) -> FloatArray:
    """ttft + max(o - 1, 0) * tpot: a request's time in a slot, and its E2E forecast
    when it does not queue."""
    return np.asarray(ttft + np.maximum(outputs - 1, 0) * tpot)


def _lpu_e2e(terms: LPUTerms, load: EngineLoad, prompts: IntArray,
             outputs: IntArray) -> FloatArray:
    ttft, tpot = lpu_request_terms(terms, prompts, outputs)
    service = lpu_service(ttft, tpot, outputs)
    free = load.max_running - load.running
    if not load.queued + 1 > free:
        return service  # 0.0 + ttft + m * tpot == ttft + m * tpot
    queue = (load.queued + 1 - max(free, 0)) * service / max(load.max_running, 1)
    return np.asarray(queue + ttft + np.maximum(outputs - 1, 0) * tpot)


def _pnorm(gpu: GPUTerms, t_mem: FloatArray | float, t_cmp: FloatArray) -> FloatArray:
    """(t_mem**p + t_cmp**p) ** (1/p) per element, with Python's pow (see module doc)."""
    p, inv_p = gpu._p, gpu._inv_p
    if isinstance(t_mem, float):
        mem_p = t_mem**p
        return np.array([(mem_p + c**p) ** inv_p for c in t_cmp.tolist()])
    return np.array(
        [(m**p + c**p) ** inv_p for m, c in zip(t_mem.tolist(), t_cmp.tolist(), strict=True)]
    )


def _decode_s(gpu: GPUTerms, decode_seqs: int, ctx: FloatArray) -> FloatArray:
    """`GPUTerms.iteration_s(decode_seqs, ctx)` per element (decode_seqs >= 1)."""
    tokens = decode_seqs
    kv_bytes = (ctx + 0.0 + tokens) * gpu._kvb
    t_mem = (gpu._dense + kv_bytes) / gpu._mem_bw
    flops = tokens * gpu._lin + tokens * gpu._logits + (ctx + 0.0) * gpu._attn
    t = _pnorm(gpu, t_mem, flops / gpu._flops_s)
    t_comm = 0.0
    if gpu._comm is not None:
        layers2, bytes_per_token, link_bw = gpu._comm
        t_comm = layers2 * tokens * bytes_per_token / link_bw
    return t + t_comm + gpu._fixed


def _one_chunk_prefill_s(gpu: GPUTerms, running_seqs: int, kv_ctx: float,
                         prompts: IntArray) -> FloatArray:
    """`GPUTerms.iteration_s(running_seqs, kv_ctx, p, p * (p / 2), 0)` per element."""
    tokens = running_seqs + prompts
    logits_tokens = running_seqs + 1
    kv_bytes = (kv_ctx + 0 + tokens) * gpu._kvb
    t_mem = (gpu._dense + kv_bytes) / gpu._mem_bw
    pairs = prompts * (prompts / 2.0)
    flops = tokens * gpu._lin + logits_tokens * gpu._logits + (kv_ctx + pairs) * gpu._attn
    t = _pnorm(gpu, t_mem, flops / gpu._flops_s)
    t_comm: FloatArray | float = 0.0
    if gpu._comm is not None:
        layers2, bytes_per_token, link_bw = gpu._comm
        t_comm = layers2 * tokens * bytes_per_token / link_bw
    return t + t_comm + gpu._fixed + gpu._prefill_over


def _gpu_e2e(entry: _Entry, load: EngineLoad, prompts: IntArray,
             outputs: IntArray) -> FloatArray:
    dep, gpu = entry.dep, entry.gpu
    assert isinstance(dep, GPUDeployment)
    assert gpu is not None
    key = (load.running, load.queued, load.kv_used_fraction)
    lt = entry.loads.get(key)
    if lt is None:
        lt = _GPULoadTerms(dep, load)
    running, kv_ctx = lt.running, lt.kv_ctx
    decode = _decode_s(gpu, lt.decode_seqs, kv_ctx + prompts + outputs / 2.0)
    ttft = _one_chunk_prefill_s(gpu, lt.running_seqs, kv_ctx, prompts)
    long = np.flatnonzero(prompts > dep.max_batched_tokens)
    for i in long.tolist():
        ttft[i] = _prefill_s(gpu, dep.max_batched_tokens, lt.running_seqs, kv_ctx,
                             int(prompts[i]))
    stall = lt.stall_num / np.maximum(outputs, 1) if running >= 1 else 0.0
    tpot = decode + stall
    m = np.maximum(outputs - 1, 0)
    full = lt.free_tokens < 1.02 * prompts
    if lt.full_seqs:
        full[:] = True
    if not (lt.queued > 0 or full.any()):
        return np.asarray(ttft + m * tpot)
    queue = load.queued_prompt_tokens / dep.instances * (ttft / np.maximum(prompts, 1))
    waiting = (lt.queued + 1.0) * outputs * tpot / max(running, 1.0)
    queue = np.where(full, queue + waiting, queue)
    if not lt.queued > 0:
        queue = np.where(full, queue, 0.0)
    return np.asarray(queue + ttft + m * tpot)


def estimate_e2e_many(
    spec: DeploymentSpec, load: EngineLoad, prompts: IntArray, outputs: IntArray
) -> FloatArray:
    """E2E forecasts (s) of requests arriving at `load`, element i equal to
    `estimate_latency(spec, load, prompts[i], outputs[i]).e2e_s(outputs[i])` bit for bit.
    `prompts` and `outputs` are int64 arrays of positive lengths."""
    entry = _entry(spec)
    if entry.terms is not None:
        return _lpu_e2e(entry.terms, load, prompts, outputs)
    gpu = entry.gpu
    assert gpu is not None
    if not gpu._fast:  # models outside the folded terms: the scalar path per element
        out = []
        for p, o in zip(prompts.tolist(), outputs.tolist(), strict=True):
            est = _estimate_gpu(entry, load, p, o)
            out.append(est.queue_s + est.ttft_s + max(o - 1, 0) * est.tpot_s)
        return np.array(out, dtype=float)
    return _gpu_e2e(entry, load, prompts, outputs)
