"""GPUEngine behaviour: jump-ahead equivalence, advance semantics, batching, KV."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sites.engine_api import DeploymentSpec, EngineCapacityError, EngineRequest
from sites.engines import GPUEngine, build_engine
from sites.predict import run_poisson

SPEC = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8",
                      max_num_seqs=8, max_batched_tokens=2048)

# (id, prompt, output, arrival): staggered arrivals, chunked prompts, queueing beyond 8.
WORKLOAD = [(f"r{i}", p, o, a) for i, (p, o, a) in enumerate([
    (100, 50, 0.0), (3000, 20, 0.0), (10, 200, 0.01), (500, 1, 0.02), (700, 90, 0.05),
    (64, 300, 0.05), (2500, 40, 0.2), (90, 120, 0.21), (1200, 60, 0.3), (30, 500, 0.3),
    (45, 45, 0.31), (4000, 10, 0.5), (16, 16, 1.0), (900, 250, 1.2),
])]


def req(rid, prompt, output, at):
    return EngineRequest(request_id=rid, prompt_tokens=prompt, output_tokens=output,
                         arrived_at=at)


def drive(engine, step):
    """Submit WORKLOAD at its arrival times. step=None: one `advance` to each arrival;
    step="iteration": one iteration per `advance` call (until = now + 1 ns)."""
    tokens, results = [], []
    now = 0.0

    def collect(rep):
        nonlocal now
        tokens.extend(rep.tokens)
        results.extend(rep.finished)
        now = rep.now

    def run_until(t):
        if step is None:
            collect(engine.advance(t))
            return
        while now < t:
            nxt = engine.next_event_at()
            if nxt is None:
                collect(engine.advance(t))
                return
            before = now
            collect(engine.advance(min(t, now + 1e-9)))
            if now - before <= 2e-9:  # idle: nothing started, skip to the next event
                collect(engine.advance(min(t, nxt)))

    for rid, p, o, a in WORKLOAD:
        run_until(a)
        engine.submit(req(rid, p, o, a))
    run_until(1e6)
    return tokens, {r.request_id: r for r in results}


def token_times(tokens):
    out = {}
    for run in tokens:
        times = out.setdefault(run.request_id, {})
        for i in range(run.count):
            assert run.first_index + i not in times, "token reported twice"
            times[run.first_index + i] = run.at(i)
    return {rid: [t[i] for i in sorted(t)] for rid, t in out.items()}


def test_jump_ahead_matches_stepping_one_iteration_at_a_time():
    jump_tokens, jump_results = drive(build_engine(SPEC), None)
    step_tokens, step_results = drive(build_engine(SPEC), "iteration")
    # Stepping really ran one iteration per call: one-token runs only.
    assert all(r.count == 1 for r in step_tokens)
    assert max(r.count for r in jump_tokens) > 50
    jt, st = token_times(jump_tokens), token_times(step_tokens)
    assert jt.keys() == st.keys() == {w[0] for w in WORKLOAD}
    for rid, _, output, _ in WORKLOAD:
        assert len(jt[rid]) == output
        np.testing.assert_allclose(jt[rid], st[rid], rtol=0, atol=1e-9)
    for rid, r in jump_results.items():
        s = step_results[rid]
        assert r.finished_at == pytest.approx(s.finished_at, abs=1e-9)
        assert r.ttft_s == pytest.approx(s.ttft_s, abs=1e-9)
        assert r.energy_j == pytest.approx(s.energy_j, rel=1e-9)


def test_token_timestamps_match_results_and_increase():
    tokens, results = drive(build_engine(SPEC), None)
    times = token_times(tokens)
    for rid, r in results.items():
        t = times[rid]
        assert all(b > a for a, b in itertools.pairwise(t))
        assert r.first_token_at == pytest.approx(t[0])
        assert r.finished_at == pytest.approx(t[-1])
        if r.output_tokens > 1:
            assert r.tpot_s == pytest.approx((t[-1] - t[0]) / (r.output_tokens - 1))
        assert r.queue_s >= 0
        assert r.ttft_s >= r.queue_s
        assert r.energy_j > 0
        assert r.cost_usd > 0


def test_advance_runs_only_iterations_that_start_before_until():
    engine = build_engine(SPEC)
    engine.submit(req("a", 100, 1000, 0.0))
    engine.advance(0.05)  # prefill + a few decode steps
    rep = engine.advance(0.1)
    first = min(r.first_at for r in rep.tokens)
    last = max(r.last_at for r in rep.tokens)
    interval = rep.tokens[-1].interval_s
    assert first - interval < 0.1 + 1e-12  # started before `until`...
    assert last - interval < 0.1  # ...every one of them
    assert last >= 0.1  # and the last one finishes past it
    assert rep.now == pytest.approx(last)
    assert rep.now <= 0.1 + interval + 1e-12
    assert engine.advance(0.1).tokens == []  # nothing starts before 0.1 any more


def test_late_submission_joins_the_next_iteration():
    engine = build_engine(SPEC)
    engine.submit(req("a", 100, 1000, 0.0))
    rep = engine.advance(0.5)
    engine.submit(req("b", 100, 10, 0.5))  # the engine is mid-iteration at 0.5
    rep2 = engine.advance(rep.now + 1e-9)
    first_b = [r for r in rep2.tokens if r.request_id == "b"]
    assert first_b
    assert first_b[0].first_index == 0
    assert first_b[0].first_at > rep.now


def test_cancel_frees_the_batch_slot_and_kv():
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8",
                          max_num_seqs=2)
    engine = build_engine(spec)
    for rid in ("a", "b", "c"):
        engine.submit(req(rid, 2000, 5000, 0.0))
    engine.advance(0.2)
    load = engine.load()
    assert (load.running, load.queued) == (2, 1)
    kv_before = load.kv_used_fraction
    cancelled = engine.cancel("a", 0.2)
    assert cancelled is not None
    assert cancelled.cancelled
    assert 0 < cancelled.output_tokens < 5000
    assert engine.load().kv_used_fraction < kv_before
    rep = engine.advance(0.3)
    assert any(r.request_id == "c" and r.first_index == 0 for r in rep.tokens)
    assert engine.cancel("nope", 0.3) is None


def test_preemption_when_the_kv_cache_runs_out():
    # 70B FP8 on one H100 leaves ~1.6 GB (~10k tokens) of KV cache.
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-70b", precision="fp8",
                          devices=1)
    engine = build_engine(spec)
    for i in range(4):
        engine.submit(req(f"r{i}", 1000, 2500, 0.0))
    results = []
    while len(results) < 4:
        results.extend(engine.advance(1e6, record_tokens=False).finished)
    assert sum(r.preemptions for r in results) > 0
    assert all(r.output_tokens == 2500 for r in results)


def test_requests_that_can_never_fit_are_rejected():
    engine = build_engine(SPEC)
    with pytest.raises(EngineCapacityError):
        engine.submit(req("big", 200_000, 10, 0.0))  # beyond the 128k context
    with pytest.raises(EngineCapacityError):
        engine.submit(req("zero", 10, 0, 0.0))


def test_ttft_grows_without_bound_past_saturation():
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8")
    lengths = [(1000, 200)] * 1500
    res = run_poisson(spec, rate_rps=150.0, lengths=lengths, rng=np.random.default_rng(1))
    res.sort(key=lambda r: r.arrived_at)
    quarters = [np.mean([r.ttft_s for r in res[i * 375:(i + 1) * 375]]) for i in range(4)]
    assert quarters[0] < quarters[1] < quarters[2] < quarters[3]
    assert quarters[3] > 5 * quarters[0]


def test_multi_instance_deployment_spreads_requests():
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8",
                          devices=4, tp=1)
    engine = build_engine(spec)
    assert isinstance(engine, GPUEngine)
    for i in range(8):
        engine.submit(req(f"r{i}", 100, 100, 0.0))
    engine.advance(0.01)
    assert engine.load().running == 8
    assert engine.load().max_running == 4 * 256


def test_segments_track_the_growing_kv_cache_within_tolerance():
    """Jump-ahead holds the iteration time for a segment; the decode time must still
    match summing the physics one step at a time (context grows by one per step)."""
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-8b", precision="fp8")
    engine = build_engine(spec)
    engine.submit(req("long", 2000, 20000, 0.0))
    (result,) = engine.advance(1e6, record_tokens=False).finished
    cm = engine.deployment.cost
    exact = sum(cm.iteration_s(decode_seqs=1, decode_context_tokens=2000 + k)
                for k in range(1, 20000))
    simulated = result.finished_at - result.first_token_at
    assert simulated == pytest.approx(exact, rel=0.01)


# --- randomised: any workload, any way of calling advance, same answer ------------------

TIGHT = DeploymentSpec(hardware="h100-sxm", model="llama-3.1-70b", precision="fp8",
                       devices=1, max_num_seqs=6, max_batched_tokens=1024)  # ~10k KV tokens

workloads = st.lists(
    st.tuples(st.integers(1, 3000), st.integers(1, 1500), st.floats(0.0, 3.0)),
    min_size=1, max_size=12,
)


def run_workload(spec, items, untils):
    engine = build_engine(spec)
    items = sorted(items, key=lambda x: x[2])
    tokens, results = [], []
    cuts = sorted(untils)
    for i, (p, o, a) in enumerate(items):
        while cuts and cuts[0] < a:
            rep = engine.advance(cuts.pop(0))
            tokens += rep.tokens
            results += rep.finished
        rep = engine.advance(a)
        tokens += rep.tokens
        results += rep.finished
        engine.submit(req(f"q{i}", p, o, a))
    for u in [*cuts, 1e7]:
        rep = engine.advance(u)
        tokens += rep.tokens
        results += rep.finished
    return token_times(tokens), {r.request_id: r for r in results}, items


@settings(max_examples=25, deadline=None)
@given(items=workloads, untils=st.lists(st.floats(0.0, 60.0), max_size=30))
def test_any_advance_pattern_gives_the_same_tokens_and_every_request_finishes(items, untils):
    ref_times, ref_results, items = run_workload(TIGHT, items, [])
    times, results, _ = run_workload(TIGHT, items, untils)
    assert len(results) == len(items)
    for i, (_, o, a) in enumerate(items):
        rid = f"q{i}"
        r = results[rid]
        assert r.output_tokens == o
        assert len(times[rid]) == o
        assert times[rid][0] > a
        assert all(y > x for x, y in itertools.pairwise(times[rid]))
        np.testing.assert_allclose(times[rid], ref_times[rid], rtol=0, atol=1e-9)
        assert r.preemptions == ref_results[rid].preemptions
        assert r.energy_j == pytest.approx(ref_results[rid].energy_j, rel=1e-9)
        assert r.cost_usd == pytest.approx(ref_results[rid].cost_usd, rel=1e-9)


def test_cancelled_request_reports_the_tokens_it_got():
    engine = build_engine(SPEC)
    engine.submit(req("a", 100, 10_000, 0.0))
    tokens = engine.advance(0.5).tokens
    last = max(r.last_at for r in tokens)
    first = min(r.first_at for r in tokens)
    n = sum(r.count for r in tokens)
    res = engine.cancel("a", 0.5)
    assert res.output_tokens == n
    assert res.tpot_s == pytest.approx((last - first) / (n - 1))
    assert res.finished_at == pytest.approx(0.5)
