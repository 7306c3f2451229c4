"""The cached `estimate_latency` (identity-keyed deployments, folded LPU constants,
per-load GPU terms) gives bit-identical forecasts to the uncached reference."""

from __future__ import annotations

import numpy as np
import pytest
from estimate_reference import estimate_latency as reference_estimate

from sites.engine_api import DeploymentSpec, EngineLoad
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
