"""The simulator's batched `fastest` path (router.sim.fastest) equals the scalar one:
`FastestPolicy.decide` on the sites' views plus `Hindsight.score`, per request, on
random site states; and whole runs give the same rows either way."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from router.scenarios import SiteEvent, load_scenario
from router.sim import Simulation, default_deps
from router.sim.state import SimRequest
from sites.engine_api import EngineLoad


def _sim(name: str = "eu-asia-baseline", **kw) -> Simulation:
    scn = load_scenario(name)
    return Simulation(scn, policy="fastest", seed=1, deps=default_deps(), **kw)


def _random_state(sim: Simulation, rng: np.random.Generator) -> None:
    """Each site: health, drain, a stale snapshot, the router's in-flight count and the
    engine's true occupancy, drawn so that queueing, full batches and exclusions occur."""
    for s in sim.sites:
        cap = int(rng.choice([1, 80, 256]))
        busy = int(rng.integers(0, 2 * cap + 2))
        running = min(busy, cap)
        s.set_snapshot(EngineLoad(
            at=0.0, queued=busy - running, running=running, max_running=cap,
            queued_prompt_tokens=int(rng.integers(0, 50_000)) if busy > running else 0,
            kv_used_fraction=float(rng.choice([0.0, rng.uniform(0, 1), 0.98])),
            tokens_per_s=0.0,
        ))
        s.set_true_load(
            dataclasses.replace(s.snapshot, max_running=int(rng.choice([1, 80, 256])))
        )
        s.true_views.clear()
        s.in_flight = int(rng.integers(0, 3 * cap + 2))
        s.inflight = {f"x{k}": None for k in range(int(rng.integers(0, 3 * cap + 2)))}  # type: ignore[misc]
        health = str(rng.choice(["healthy", "healthy", "healthy", "draining", "failed"]))
        s.down = bool(rng.random() < 0.15)
        s.drained = bool(rng.random() < 0.1)
        s.max_in_flight = None if rng.random() < 0.7 else int(rng.integers(1, 300))
        s.set_view_health(health)  # type: ignore[arg-type]  # (after max_in_flight)


@pytest.mark.parametrize("name", ["eu-asia-baseline", "sovereign-eu"])
def test_batched_ranking_and_regret_equal_the_policy_and_hindsight(name):
    sim = _sim(name)
    fast = sim.fast
    assert fast is not None
    rng = np.random.default_rng(5)
    n = 600
    prompts = rng.integers(1, 12_000, n)
    prompts[::3] = rng.integers(1, 300, (n + 2) // 3)
    outputs = rng.integers(1, 3000, n)
    fast.set_block(prompts, outputs)
    decided = 0
    for j in range(n):
        if j % 7 == 0:  # loads recur for a while, then change (columns get built)
            _random_state(sim, rng)
        g = int(rng.integers(len(sim.groups)))
        args = (f"r{j}", g, 1.0, int(prompts[j]), int(outputs[j]),
                float(rng.standard_normal()), float(rng.standard_normal()),
                bool(rng.random() < 0.5))
        a, b = SimRequest(*args), SimRequest(*args)
        got = fast.rank(a, j, True)
        from router.policies import RouteRequest

        route = RouteRequest(client=sim.groups[g].place, prompt_tokens=b.prompt,
                             max_output_tokens=b.output, new_connection=b.new_conn)
        decision = sim.policy.decide(route, tuple(s.view() for s in sim.sites), sim.ctx)
        want = tuple(sim.site_index[x] for x in decision.ranked[: sim.max_attempts])
        assert got == want
        if want:
            decided += 1
            sim.hindsight.score(b, want[0])
            assert (a.best_site, a.best_pred_ms, a.chosen_pred_ms) == (
                b.best_site, b.best_pred_ms, b.chosen_pred_ms)
    assert decided > n // 3  # most requests had somewhere to go


def _rows(name: str, fast: bool, **replace) -> tuple[list[dict], object]:
    scn = dataclasses.replace(load_scenario(name), **replace)
    r = Simulation(scn, policy="fastest", seed=4, deps=default_deps(), max_requests=2500,
                   fast=fast).run()
    return r.rows, (r.requests, r.ok, r.failed, r.rejected, r.retried, r.regret)


@pytest.mark.parametrize("name", ["eu-asia-baseline", "sovereign-eu", "riyadh-outage"])
def test_runs_are_identical_with_and_without_the_batched_path(name):
    replace = {}
    if name == "riyadh-outage":  # the outage and the recovery inside the short run
        scn = load_scenario(name)
        replace = {"events": (SiteEvent(at_s=3.0, site=scn.sites[0].name, action="fail"),
                              SiteEvent(at_s=9.0, site=scn.sites[0].name, action="restore"))}
    fast_rows, fast_sum = _rows(name, True, **replace)
    slow_rows, slow_sum = _rows(name, False, **replace)
    assert fast_sum == slow_sum
    assert fast_rows == slow_rows


def test_other_policies_and_stub_estimates_keep_the_scalar_path():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from sim_stubs import stub_deps

    scn = load_scenario("eu-asia-baseline")
    assert Simulation(scn, policy="nearest", seed=1, deps=default_deps()).fast is None
    assert Simulation(scn, policy="fastest", seed=1, deps=stub_deps()).fast is None
    assert Simulation(scn, policy="fastest", seed=1, deps=default_deps()).fast is not None


def test_gpu_token_floor_is_below_every_forecast():
    """The floor the ranker skips a GPU site's regret score by: m x floor <= the
    forecast's E2E (ms) at any load, and LPU sites get none (0)."""
    from sites.engines import estimate_latency

    sim = _sim()
    fast = sim.fast
    assert fast is not None
    rng = np.random.default_rng(11)
    gpus = [s for s in sim.sites if not fast.lpu_key[s.idx]]
    assert gpus
    assert all(fast._token_floor_ms(s) == 0.0 for s in sim.sites if fast.lpu_key[s.idx])
    for _ in range(300):
        _random_state(sim, rng)
        p, o = int(rng.integers(1, 12_000)), int(rng.integers(1, 3000))
        for s in gpus:
            floor = fast._token_floor_ms(s)
            assert floor > 0.0
            for load in (s.snapshot, s.true_load):
                est = estimate_latency(s.spec, load, p, o)
                e2e_ms = (est.queue_s + est.ttft_s + (o - 1) * est.tpot_s) * 1000.0
                assert (o - 1) * floor <= e2e_ms
                assert est.tpot_s * 1000.0 >= floor
