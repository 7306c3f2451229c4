"""The cached `estimate_latency` (identity-keyed deployments, folded LPU constants,
per-load GPU terms) gives bit-identical forecasts to the uncached reference."""

from __future__ import annotations

import numpy as np
import pytest
from estimate_reference import estimate_latency as reference_estimate

from sites.engine_api import DeploymentError, DeploymentSpec, EngineLoad
from sites.engines import estimate_latency

SPECS = [
    DeploymentSpec(hardware="groq-lpu", model="llama-3.3-70b", precision="fp8"),
    DeploymentSpec(hardware="groq-lpu", model="llama-3.1-8b", precision="fp8", replicas=3),
    DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b", precision="fp8", devices=2, tp=2),
    DeploymentSpec(hardware="h200", model="llama-3.3-70b", precision="fp8", devices=2, tp=2),
    DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", devices=4, tp=1),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.hardware}-{s.model}-{s.devices}")
def test_cached_forecasts_are_bit_identical(spec):
    rng = np.random.default_rng(7)
    # A few loads recur (the cache hits) among many prompts and outputs.
    loads = [
        EngineLoad(at=0.0, queued=int(q), running=int(r), max_running=256,
                   queued_prompt_tokens=int(qp), kv_used_fraction=float(kv), tokens_per_s=0.0)
        for q, r, qp, kv in zip(rng.integers(0, 40, 12), rng.integers(0, 300, 12),
                                rng.integers(0, 90_000, 12), rng.uniform(0, 1, 12), strict=True)
    ]
    loads.append(EngineLoad(at=0.0, queued=0, running=0, max_running=1,
                            queued_prompt_tokens=0, kv_used_fraction=0.0, tokens_per_s=0.0))
    for _ in range(400):
        load = loads[int(rng.integers(len(loads)))]
        prompt, output = int(rng.integers(1, 20_000)), int(rng.integers(1, 4000))
        assert estimate_latency(spec, load, prompt, output) == reference_estimate(
            spec, load, prompt, output)


@pytest.mark.parametrize("model", ["llama-3.3-70b", "llama-3.1-8b", "gpt-oss-20b",
                                   "mistral-7b", "mixtral-8x7b"])
@pytest.mark.parametrize("tp", [1, 2])
def test_folded_gpu_iteration_is_bit_identical_to_the_cost_model(model, tp):
    from sites.engines.deploy import resolve
    from sites.engines.fastcost import gpu_terms

    try:
        dep = resolve(DeploymentSpec(hardware="h200", model=model, precision="fp8",
                                     devices=tp, tp=tp))
    except DeploymentError:  # a model too large for this group: nothing to compare
        pytest.skip(f"{model} does not fit {tp} h200")
    cm, terms = dep.cost, gpu_terms(dep.cost)
    rng = np.random.default_rng(3)
    for _ in range(300):
        dec, ctx = int(rng.integers(0, 300)), float(rng.uniform(0, 2e6))
        pf = int(rng.integers(0, 8192)) if rng.random() < 0.5 else 0
        pairs, pctx = float(rng.uniform(0, 1e7)), float(rng.integers(0, 30_000))
        want = cm.iteration_parts(decode_seqs=dec, decode_context_tokens=ctx, prefill_tokens=pf,
                                  prefill_attention_pairs=pairs,
                                  prefill_context_tokens=pctx)[0]
        assert terms.iteration_s(dec, ctx, pf, pairs, pctx) == want
