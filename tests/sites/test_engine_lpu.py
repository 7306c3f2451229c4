"""LPUEngine: flat per-user speed until pipeline capacity, then queueing."""

import pytest

from sites.engine_api import DeploymentSpec, EngineRequest
from sites.engines import LPUEngine, build_engine
from sites.predict import run_closed_loop

SPEC = DeploymentSpec(hardware="groq-lpu", model="llama-2-7b", precision="fp8")


def req(rid, prompt, output, at):
    return EngineRequest(request_id=rid, prompt_tokens=prompt, output_tokens=output,
                         arrived_at=at)


def test_per_user_speed_is_flat_until_capacity_then_requests_queue():
    engine = build_engine(SPEC)
    assert isinstance(engine, LPUEngine)
    cap = engine.spec.max_num_seqs
    assert cap == 32  # one sequence per layer stage
    runs = {c: run_closed_loop(SPEC, input_tokens=500, output_tokens=300, concurrency=c,
                               requests=4 * c).prediction for c in (1, cap // 2, cap, 2 * cap)}
    tpots = {c: p.tpot_ms for c, p in runs.items()}
    assert max(tpots.values()) == pytest.approx(min(tpots.values()), rel=1e-9)
    assert runs[cap].ttft_ms == pytest.approx(runs[1].ttft_ms, rel=1e-6)
    assert runs[2 * cap].ttft_ms > 10 * runs[cap].ttft_ms  # queueing for a slot
    assert runs[cap].total_tok_s == pytest.approx(cap * runs[1].total_tok_s, rel=0.05)
    assert runs[2 * cap].total_tok_s == pytest.approx(runs[cap].total_tok_s, rel=0.05)


def test_replicas_multiply_capacity():
    two = DeploymentSpec(hardware="groq-lpu", model="llama-2-7b", precision="fp8", replicas=2)
    cap = build_engine(SPEC).spec.max_num_seqs
    one_run = run_closed_loop(SPEC, input_tokens=100, output_tokens=100,
                              concurrency=2 * cap, requests=8 * cap).prediction
    two_run = run_closed_loop(two, input_tokens=100, output_tokens=100,
                              concurrency=2 * cap, requests=8 * cap).prediction
    assert two_run.total_tok_s == pytest.approx(2 * one_run.total_tok_s, rel=0.05)
    assert two_run.ttft_ms < one_run.ttft_ms / 10


def test_incremental_advances_report_each_token_once_at_the_same_times():
    def tokens_of(step):
        engine = build_engine(SPEC)
        engine.submit(req("a", 200, 400, 0.0))
        engine.submit(req("b", 50, 100, 0.1))
        runs, t = [], 0.0
        while t < 5.0:
            t += step
            runs.extend(engine.advance(t).tokens)
        times = {}
        for r in runs:
            for i in range(r.count):
                key = (r.request_id, r.first_index + i)
                assert key not in times
                times[key] = r.at(i)
        return times

    coarse, fine = tokens_of(5.0), tokens_of(0.0007)
    assert coarse.keys() == fine.keys()
    assert len(coarse) == 500
    for key, t in coarse.items():
        assert fine[key] == pytest.approx(t, abs=1e-12)


def test_advance_reports_only_tokens_whose_iteration_started():
    engine = build_engine(SPEC)
    engine.submit(req("a", 10, 1000, 0.0))
    rep = engine.advance(0.02)
    (run,) = rep.tokens
    assert run.first_index == 0
    assert run.last_at - run.interval_s < 0.02  # its iteration started before `until`
    assert run.last_at >= 0.02  # the next token's iteration would start at/after it
    assert engine.advance(0.02).tokens == []


def test_cancel_frees_a_pipeline_slot():
    one_slot = DeploymentSpec(hardware="groq-lpu", model="llama-2-7b", precision="fp8",
                              max_num_seqs=1)
    engine = build_engine(one_slot)
    engine.submit(req("a", 10, 3000, 0.0))
    engine.submit(req("b", 10, 10, 0.0))
    engine.advance(1.0)
    assert engine.load().queued == 1
    done = engine.cancel("a", 1.0)
    assert done is not None
    assert done.cancelled
    assert 0 < done.output_tokens < 3000
    rep = engine.advance(1.5)
    (b,) = rep.finished
    assert b.request_id == "b"
    assert b.first_scheduled_at == pytest.approx(1.0)


def test_energy_and_cost_are_shared_by_sequences_in_flight():
    alone = run_closed_loop(SPEC, input_tokens=100, output_tokens=200, concurrency=1,
                            requests=5)
    full = run_closed_loop(SPEC, input_tokens=100, output_tokens=200, concurrency=32,
                           requests=96)
    assert full.energy_j_per_token < alone.energy_j_per_token / 5
    assert full.cost_usd_per_mtok < alone.cost_usd_per_mtok / 5


@pytest.mark.parametrize("hardware", ["groq-lpu", "h100-sxm"])
def test_duplicate_ids_and_impossible_requests_are_rejected(hardware):
    from sites.engine_api import EngineCapacityError

    engine = build_engine(DeploymentSpec(hardware=hardware, model="llama-2-7b",
                                         precision="fp8"))
    engine.submit(req("a", 10, 10, 0.0))
    with pytest.raises(ValueError, match="duplicate"):
        engine.submit(req("a", 10, 10, 0.0))
    with pytest.raises(EngineCapacityError, match="tokens of context"):
        engine.submit(req("b", 4000, 200, 0.0))  # Llama-2-7B holds 4,096 tokens
    engine.advance(100.0)
    engine.submit(req("a", 10, 10, 100.0))  # a finished id may be reused


@pytest.mark.parametrize("hardware", ["groq-lpu", "h100-sxm"])
def test_energy_and_cost_add_up_to_the_deployment_total(hardware):
    """The shares of all requests sum to what the devices drew and cost while busy."""
    spec = DeploymentSpec(hardware=hardware, model="llama-2-7b", precision="fp8")
    engine = build_engine(spec)
    run = run_closed_loop(spec, input_tokens=300, output_tokens=200, concurrency=10,
                          requests=60)
    hw = engine.deployment.hardware
    devices = engine.spec.devices
    makespan = max(r.finished_at for r in run.results)  # busy from t=0 to the end
    total_cost = sum(r.cost_usd for r in run.results)
    assert total_cost == pytest.approx(hw.price_usd_per_hour * devices * makespan / 3600,
                                       rel=1e-3)
    total_energy = sum(r.energy_j for r in run.results)
    assert hw.idle_power_w * devices * makespan < total_energy
    assert total_energy < hw.power_w * devices * makespan


# --- randomised: capacity is never exceeded and advance patterns do not matter ---------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SMALL = DeploymentSpec(hardware="groq-lpu", model="llama-2-7b", precision="fp8",
                       max_num_seqs=3, replicas=2)


def _run(items, untils):
    engine = build_engine(SMALL)
    runs, results = [], []
    cuts = sorted(untils)
    for i, (p, o, a) in enumerate(sorted(items, key=lambda x: x[2])):
        while cuts and cuts[0] < a:
            rep = engine.advance(cuts.pop(0))
            runs += rep.tokens
            results += rep.finished
        rep = engine.advance(a)
        runs += rep.tokens
        results += rep.finished
        engine.submit(req(f"q{i}", p, o, a))
    for u in [*cuts, 1e6]:
        rep = engine.advance(u)
        runs += rep.tokens
        results += rep.finished
    times = {}
    for r in runs:
        for k in range(r.count):
            times[(r.request_id, r.first_index + k)] = r.at(k)
    return times, {r.request_id: r for r in results}


@settings(max_examples=25, deadline=None)
@given(items=st.lists(st.tuples(st.integers(1, 2000), st.integers(1, 1500),
                                st.floats(0.0, 2.0)), min_size=1, max_size=15),
       untils=st.lists(st.floats(0.0, 10.0), max_size=20))
def test_lpu_random_workloads(items, untils):
    ref_times, ref = _run(items, [])
    times, results = _run(items, untils)
    assert times.keys() == ref_times.keys()
    for key, t in times.items():
        assert t == pytest.approx(ref_times[key], abs=1e-9)
    assert len(results) == len(items)
    spans = sorted((r.first_scheduled_at, r.finished_at) for r in results.values())
    for start, _ in spans:  # never more sequences in flight than 2 replicas x 3 slots
        assert sum(1 for s, f in spans if s <= start < f) <= 6
    for r in results.values():
        assert r.energy_j == pytest.approx(ref[r.request_id].energy_j, rel=1e-9)
