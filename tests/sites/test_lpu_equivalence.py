"""The optimised LPU engine (heaps, segment tree, sweep-line sharing, incremental load)
gives what the engine gave before (`lpu_reference`: sort per admission, numpy per
finish) on random workloads: several replicas, SRAM-bound admissions, requests that
arrive in the engine's past, cancels, and any pattern of `advance` calls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lpu_reference import LPUEngine as ReferenceLPUEngine

from sites.engine_api import DeploymentSpec, EngineRequest
from sites.engines import LPUEngine
from sites.engines.deploy import resolve
from sites.engines.fastcost import lpu_terms


def _spec(replicas: int, seqs: int) -> DeploymentSpec:
    # llama-3.1-8b on its minimum chips: ~134k tokens of SRAM KV per replica, so a few
    # long requests fill the SRAM before the slots.
    return DeploymentSpec(hardware="groq-lpu", model="llama-3.1-8b", precision="fp8",
                          max_num_seqs=seqs, replicas=replicas)


def _same_result(a, b):
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    for key in ("energy_j", "cost_usd"):
        assert da.pop(key) == pytest.approx(db.pop(key), rel=1e-9, abs=1e-12)
    assert da == db


def _same_load(a, b):
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    assert da.pop("tokens_per_s") == pytest.approx(db.pop("tokens_per_s"), rel=1e-9, abs=1e-9)
    assert da == db


ops = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.floats(0.0, 20.0), st.integers(1, 90_000),
                  st.integers(1, 3000), st.floats(0.0, 3.0)),
        st.tuples(st.just("advance"), st.floats(0.0, 25.0)),
        st.tuples(st.just("cancel"), st.floats(0.0, 25.0), st.integers(0, 12)),
    ),
    min_size=1, max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, replicas=st.integers(1, 3), seqs=st.integers(1, 4))
def test_optimised_lpu_engine_matches_the_reference(ops, replicas, seqs):
    _check(ops, replicas, seqs)


@pytest.mark.parametrize("seed", range(12))
def test_busy_random_runs_match_the_reference(seed):
    """Denser than hypothesis finds on its own: hundreds of requests, SRAM-bound
    admissions, late submits and cancels on up to 5 replicas."""
    rng = np.random.default_rng(seed)
    ops = []
    for _ in range(400):
        t = float(rng.uniform(0.0, 30.0))
        kind = rng.choice(["submit", "submit", "submit", "advance", "cancel"])
        if kind == "submit":
            prompt = int(rng.integers(1, 90_000)) if rng.random() < 0.3 else int(
                rng.integers(1, 3000))
            ops.append(("submit", t, prompt, int(rng.integers(1, 2000)),
                        float(rng.exponential(1.0))))
        elif kind == "advance":
            ops.append(("advance", t))
        else:
            ops.append(("cancel", t + float(rng.uniform(-2.0, 1.0)), int(rng.integers(0, 300))))
    _check(ops, int(rng.integers(1, 6)), int(rng.integers(1, 6)))


def _check(ops, replicas, seqs):
    dep = resolve(_spec(replicas, seqs))
    new, ref = LPUEngine(dep), ReferenceLPUEngine(dep)
    now, n = 0.0, 0
    for op in sorted(ops, key=lambda o: o[1]):
        if op[0] == "submit":
            _, at, prompt, output, lag = op
            # Some requests are stamped before the engine's time (a driver's late submit).
            r = EngineRequest(request_id=f"q{n}", prompt_tokens=prompt, output_tokens=output,
                              arrived_at=max(0.0, at - lag))
            n += 1
            new.submit(r)
            ref.submit(r)
        elif op[0] == "advance":
            now = max(now, op[1])
            a, b = new.advance(now, record_tokens=True), ref.advance(now, record_tokens=True)
            assert a.now == b.now
            assert a.tokens == b.tokens
            assert len(a.finished) == len(b.finished)
            for x, y in zip(a.finished, b.finished, strict=True):
                _same_result(x, y)
        else:
            rid = f"q{op[2]}"
            x, y = new.cancel(rid, op[1]), ref.cancel(rid, op[1])
            assert (x is None) == (y is None)
            if x is not None:
                _same_result(x, y)
        _same_load(new.load(), ref.load())
        assert new.next_event_at() == ref.next_event_at()
    a, b = new.advance(1e6), ref.advance(1e6)
    assert len(a.finished) == len(b.finished)
    for x, y in zip(a.finished, b.finished, strict=True):
        _same_result(x, y)


@pytest.mark.parametrize("model", ["llama-2-7b", "llama-3.3-70b", "llama-3.1-8b"])
def test_folded_lpu_terms_are_bit_identical_to_the_cost_model(model):
    cm = resolve(DeploymentSpec(hardware="groq-lpu", model=model, precision="fp8")).cost
    terms = lpu_terms(cm)
    for tokens in (1, 7, 64, 129, 1000, 4095, 30_000):
        assert terms.prefill_s(tokens) == cm.prefill_s(tokens)
        assert terms.token_s(tokens + 0.5) == cm.token_s(tokens + 0.5)


def test_a_queue_head_cancelled_after_a_look_ahead_does_not_free_slots_early():
    """Looking ahead for a head that arrives later (next_event_at) must not forget
    sequences that a request stamped earlier, behind it, still has to wait for."""
    dep = resolve(_spec(1, 1))
    engines = [LPUEngine(dep), ReferenceLPUEngine(dep)]
    got = []
    for e in engines:
        e.submit(EngineRequest(request_id="f", prompt_tokens=100, output_tokens=500,
                               arrived_at=0.0))
        e.advance(0.01)
        e.submit(EngineRequest(request_id="a", prompt_tokens=100, output_tokens=10,
                               arrived_at=50.0))
        e.next_event_at()
        e.advance(0.02)
        e.cancel("a", 0.03)
        e.submit(EngineRequest(request_id="b", prompt_tokens=100, output_tokens=10,
                               arrived_at=0.04))
        got.append({r.request_id: r for r in e.advance(100.0).finished})
    new, ref = got
    assert new["b"].first_scheduled_at == ref["b"].first_scheduled_at == new["f"].finished_at
    _same_result(new["b"], ref["b"])
