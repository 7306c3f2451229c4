"""`estimate_e2e_many` (one load, many requests, numpy) equals the scalar forecast's
E2E bit for bit, on every kind of deployment and load, including queueing, full
batches and prompts longer than one prefill chunk."""

from __future__ import annotations

import numpy as np
import pytest

from sites.engine_api import DeploymentError, DeploymentSpec, EngineLoad
from sites.engines import estimate_latency
from sites.engines.estimate_many import estimate_e2e_many

SPECS = [
    DeploymentSpec(hardware="groq-lpu", model="llama-3.3-70b", precision="fp8"),
    DeploymentSpec(hardware="groq-lpu", model="llama-3.1-8b", precision="fp8", replicas=3),
    DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b", precision="fp8", devices=2, tp=2),
    DeploymentSpec(hardware="h200", model="llama-3.3-70b", precision="fp8", devices=2, tp=2),
    DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8", devices=4, tp=1),
    DeploymentSpec(hardware="h200", model="mixtral-8x7b", precision="fp8", devices=2, tp=2),
    DeploymentSpec(hardware="h200", model="gpt-oss-20b", precision="fp8", devices=1, tp=1),
]


def _loads(rng: np.random.Generator, max_running: int) -> list[EngineLoad]:
    loads = [EngineLoad(at=0.0, queued=0, running=0, max_running=max_running,
                        queued_prompt_tokens=0, kv_used_fraction=0.0, tokens_per_s=0.0)]
    for _ in range(10):
        running = int(rng.integers(0, max_running + 1))
        queued = int(rng.integers(0, 30)) if rng.random() < 0.5 else 0
        loads.append(EngineLoad(
            at=0.0, queued=queued, running=running, max_running=max_running,
            queued_prompt_tokens=int(rng.integers(0, 60_000)) if queued else 0,
            kv_used_fraction=float(rng.uniform(0, 1)) if rng.random() < 0.8 else 0.97,
            tokens_per_s=0.0))
    return loads


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.hardware}-{s.model}-{s.devices}")
def test_many_equals_the_scalar_forecast_bit_for_bit(spec):
    try:
        estimate_latency(spec, _loads(np.random.default_rng(0), 1)[0], 10, 10)
    except DeploymentError:
        pytest.skip(f"{spec.model} does not fit")
    rng = np.random.default_rng(11)
    for max_running in (1, 80, 256):
        for load in _loads(rng, max_running):
            n = 300
            prompts = rng.integers(1, 20_000, n)
            prompts[: n // 3] = rng.integers(1, 400, n // 3)  # short ones too
            outputs = rng.integers(1, 4000, n)
            outputs[:5] = 1
            got = estimate_e2e_many(spec, load, prompts, outputs).tolist()
            want = [
                estimate_latency(spec, load, p, o).e2e_s(o)
                for p, o in zip(prompts.tolist(), outputs.tolist(), strict=True)
            ]
            assert got == want
