"""estimate_latency: the fast forecast used by the router's `fastest` policy."""

import pytest

from sites.engine_api import DeploymentSpec, EngineLoad, EngineRequest
from sites.engines import build_engine, estimate_latency, resolve_deployment

GPU = DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b", precision="fp8", devices=2)
LPU = DeploymentSpec(hardware="groq-lpu", model="llama-3.3-70b", precision="fp8")


def load(running, queued=0, max_running=256, kv=0.1):
    return EngineLoad(at=0.0, queued=queued, running=running, max_running=max_running,
                      queued_prompt_tokens=queued * 1000, kv_used_fraction=kv,
                      tokens_per_s=0.0)


def test_gpu_estimate_grows_with_load():
    idle = estimate_latency(GPU, load(0), 1000, 200)
    busy = estimate_latency(GPU, load(100, kv=0.6), 1000, 200)
    full = estimate_latency(GPU, load(256, queued=20, kv=0.99), 1000, 200)
    assert idle.queue_s == 0.0
    assert idle.tpot_s < busy.tpot_s
    assert full.queue_s > busy.queue_s
    assert full.e2e_s(200) > busy.e2e_s(200) > idle.e2e_s(200)


def test_gpu_estimate_matches_the_engine_for_a_lone_request():
    est = estimate_latency(GPU, load(0), 2000, 100)
    engine = build_engine(GPU)
    engine.submit(EngineRequest(request_id="a", prompt_tokens=2000, output_tokens=100,
                                arrived_at=0.0))
    (r,) = engine.advance(1e6).finished
    assert est.ttft_s == pytest.approx(r.ttft_s, rel=0.1)
    assert est.tpot_s == pytest.approx(r.tpot_s, rel=0.1)


def test_lpu_estimate_is_flat_until_capacity_then_queues():
    cap = resolve_deployment(LPU).max_num_seqs
    a = estimate_latency(LPU, load(0, max_running=cap), 1000, 200)
    b = estimate_latency(LPU, load(cap - 1, max_running=cap), 1000, 200)
    c = estimate_latency(LPU, load(cap, queued=5, max_running=cap), 1000, 200)
    assert a.tpot_s == b.tpot_s == c.tpot_s
    assert a.queue_s == b.queue_s == 0.0
    assert c.queue_s > 0


def test_resolve_fills_in_the_deployment():
    r = resolve_deployment(GPU)
    assert (r.devices, r.tp) == (2, 2)
    assert r.max_num_seqs
    assert r.max_batched_tokens
    auto = resolve_deployment(DeploymentSpec(hardware="h200", model="llama-3.3-70b"))
    assert auto.devices == 1
    lpu = resolve_deployment(LPU)
    assert lpu.devices
    assert lpu.devices > 300


def test_gpu_estimate_tracks_the_engine_under_steady_load():
    """Forecasts taken at arrival, compared with what those requests then experienced
    (includes the stalls from other requests' prefills)."""
    import numpy as np

    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8")
    engine = build_engine(spec)
    rng = np.random.default_rng(0)
    t, forecasts, results = 0.0, {}, {}
    for i in range(400):
        t += rng.exponential(1 / 3.0)
        results.update({r.request_id: r for r in engine.advance(t).finished})
        prompt, output = int(rng.integers(200, 3000)), int(rng.integers(50, 500))
        if i >= 100:
            forecasts[f"r{i}"] = (estimate_latency(spec, engine.load(), prompt, output), output)
        engine.submit(EngineRequest(request_id=f"r{i}", prompt_tokens=prompt,
                                    output_tokens=output, arrived_at=t))
    results.update({r.request_id: r for r in engine.advance(1e9).finished})
    ratios = [est.e2e_s(out) / (results[rid].finished_at - results[rid].arrived_at)
              for rid, (est, out) in forecasts.items()]
    assert 0.85 < float(np.median(ratios)) < 1.15


def test_tensor_parallel_size_must_split_devices_and_heads():
    from sites.engine_api import DeploymentError

    three = resolve_deployment(DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b",
                                              devices=3))
    assert (three.devices, three.tp) == (3, 1)  # 32 heads: three data-parallel copies
    with pytest.raises(DeploymentError, match="--tp 3"):
        resolve_deployment(DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b",
                                          devices=3, tp=3))
    with pytest.raises(DeploymentError, match="--devices 4 is not a multiple of --tp 8"):
        resolve_deployment(DeploymentSpec(hardware="h100-sxm", model="llama-3.1-70b",
                                          devices=4, tp=8))
