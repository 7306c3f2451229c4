"""The engines' allocation-free simulator path (`submit_raw`, `advance_raw`) gives
the same outcomes as `submit(EngineRequest)` + `advance(record_tokens=False)`, field
for field, however the time is chopped, with cancels in between."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sites.engine_api import DeploymentSpec, EngineCapacityError, EngineRequest
from sites.engines import build_engine


@pytest.mark.parametrize("replicas", [1, 3])
def test_raw_path_equals_the_engine_api(replicas):
    spec = DeploymentSpec(hardware="groq-lpu", model="llama-3.1-8b", precision="fp8",
                          replicas=replicas)
    a, b = build_engine(spec), build_engine(spec)
    rng = np.random.default_rng(2)
    t = 0.0
    got, want = [], []
    for k in range(3000):
        t += float(rng.exponential(0.004))
        if rng.random() < 0.7:  # drivers call advance at arbitrary times
            got += a.advance_raw(t)
            want += b.advance(t, record_tokens=False).finished
        prompt, output = int(rng.integers(1, 3000)), int(rng.integers(1, 600))
        a.submit_raw(f"r{k}", prompt, output, t)
        b.submit(EngineRequest(request_id=f"r{k}", prompt_tokens=prompt,
                               output_tokens=output, arrived_at=t))
        if k % 97 == 5:  # a cancel in flight or in the queue
            assert a.cancel(f"r{k - 3}", t) == b.cancel(f"r{k - 3}", t)
    got += a.advance_raw(t + 1e4)
    want += b.advance(t + 1e4, record_tokens=False).finished
    assert len(want) > 2900
    assert got == [
        (r.request_id, r.output_tokens, r.first_token_at, r.finished_at, r.queue_s, r.ttft_s,
         r.tpot_s, r.energy_j, r.cost_usd)
        for r in want
    ]
    assert a.load() == b.load()


def test_raw_submit_checks_like_submit():
    engine = build_engine(DeploymentSpec(hardware="groq-lpu", model="llama-3.1-8b",
                                         precision="fp8"))
    engine.submit_raw("a", 10, 10, 0.0)
    with pytest.raises(ValueError, match="duplicate"):
        engine.submit_raw("a", 10, 10, 0.0)
    with pytest.raises(EngineCapacityError):
        engine.submit_raw("b", 0, 10, 0.0)
    with pytest.raises(EngineCapacityError):
        engine.submit_raw("c", 10_000_000, 10, 0.0)


def test_gpu_raw_advance_and_idle_equal_the_engine_api():
    """GPUEngine.advance_raw gives `advance(...).finished` as tuples; `is_idle` holds
    exactly when nothing runs or waits, and then `load()` does not change but for `at`."""
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8",
                          devices=2, tp=1)
    a, b = build_engine(spec), build_engine(spec)
    assert a.is_idle()
    idle = a.load()
    rng = np.random.default_rng(4)
    t = 0.0
    got, want = [], []
    for k in range(400):
        t += float(rng.exponential(0.02))
        got += a.advance_raw(t)
        want += b.advance(t, record_tokens=False).finished
        req = EngineRequest(request_id=f"r{k}", prompt_tokens=int(rng.integers(1, 2000)),
                            output_tokens=int(rng.integers(1, 200)), arrived_at=t)
        a.submit(req)
        b.submit(req)
        assert not a.is_idle()
    got += a.advance_raw(t + 1e4)
    want += b.advance(t + 1e4, record_tokens=False).finished
    assert len(want) == 400
    assert got == [
        (r.request_id, r.output_tokens, r.first_token_at, r.finished_at, r.queue_s, r.ttft_s,
         r.tpot_s, r.energy_j, r.cost_usd)
        for r in want
    ]
    assert a.is_idle()
    after = a.load()
    assert after.at > idle.at
    assert dataclasses.replace(after, at=idle.at) == idle
