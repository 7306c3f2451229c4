"""Failover semantics on constant-latency stub engines (exact, fast): a site failing
refuses new requests, fails the streams it had started and hands back the requests
still waiting for their first token; the router retries those on its next choice."""

from __future__ import annotations

import pytest
from sim_stubs import stub_deps

from router.scenarios import parse_scenario
from router.sim import Simulation

TOML = {
    "duration_s": 20.0,
    "seed": 4,
    "sites": [
        {
            "name": "near",
            "place": "Frankfurt",
            "hardware": "h100-sxm",
            "model": "llama-3.3-70b",
            "devices": 2,
        },
        {
            "name": "far",
            "place": "Ashburn",
            "hardware": "h100-sxm",
            "model": "llama-3.3-70b",
            "devices": 2,
        },
    ],
    "clients": [{"place": "Paris", "region": "europe"}],
    "arrivals": {"process": "poisson", "rate_rps": 20.0},
    "lengths": {
        "prompt": {"dist": "fixed", "tokens": 100},
        "output": {"dist": "fixed", "tokens": 101},
    },
    "routing": {"policy": "lowest-rtt", "stats_interval_s": 1.0},
    "events": [
        {"at_s": 5.0, "site": "near", "action": "fail"},
        {"at_s": 12.0, "site": "near", "action": "restore"},
    ],
}


def _run(**changes):
    data = {**TOML, **changes}
    scn = parse_scenario(data, file="<test>")
    # TTFT 2 s then 1 s of decode: at the failure, some requests wait for their first
    # token and some are streaming.
    sim = Simulation(scn, policy="lowest-rtt", seed=4, deps=stub_deps(ttft_s=2.0, tpot_s=0.01))
    return sim.run()


def test_failure_splits_requests_by_first_token():
    result = _run()
    rows = result.rows
    assert len(rows) == result.requests
    streaming = [r for r in rows if r["status"] == "failed"]
    retried = [r for r in rows if r["retries"] > 0]
    assert streaming
    assert retried
    for r in streaming:
        # Started at near, first token out before 5 s: the stream breaks.
        assert r["site"] == "near"
        assert r["error"] == "near failed mid-stream"
        assert r["ttft_ms"] is not None
        assert r["arrived_at"] < 5.0
    for r in retried:
        assert r["status"] == "ok"
        assert r["site"] == "far"
        assert "near" in r["error"]
        # Client-side TTFT includes the lost attempt: more than the far site alone.
        assert r["ttft_ms"] > 2000.0 + r["net_up_ms"] + r["net_down_ms"]
    waiting = [r for r in retried if "before the first byte" in r["error"]]
    refused = [r for r in retried if "connection refused" in r["error"]]
    assert waiting
    assert all(2.9 <= r["arrived_at"] < 5.0 for r in waiting)  # reached near < 2 s before
    assert all(r["arrived_at"] >= 4.9 for r in refused)  # in transit or sent to a stale view
    assert result.retried == len(retried)


def test_router_avoids_the_failed_site_until_it_is_restored():
    rows = _run().rows
    # Passive detection on the first refused request, active at the next stats poll.
    during = [r for r in rows if 6.5 <= r["arrived_at"] < 12.0]
    assert during
    assert {r["site"] for r in during} == {"far"}
    assert all(r["retries"] == 0 for r in during)
    after = [r for r in rows if r["arrived_at"] >= 13.5]
    assert {r["site"] for r in after} == {"near"}


def test_single_attempt_fails_instead_of_retrying():
    result = _run(routing={"policy": "lowest-rtt", "max_attempts": 1})
    assert result.retried == 0
    lost = [r for r in result.rows if r["status"] == "failed"]
    assert any("before the first byte" in r["error"] for r in lost)


def test_drain_stops_new_requests_but_lets_streams_finish():
    result = _run(
        events=[
            {"at_s": 5.0, "site": "near", "action": "drain"},
            {"at_s": 12.0, "site": "near", "action": "undrain"},
        ]
    )
    rows = result.rows
    assert all(r["status"] == "ok" for r in rows)
    assert {r["site"] for r in rows if 5.0 <= r["arrived_at"] < 12.0} == {"far"}
    assert any(r["site"] == "near" and r["arrived_at"] >= 12.0 for r in rows)
    # Regret: while near is drained only far is a candidate, so nothing is lost then.
    assert result.regret["europe"].best_share == pytest.approx(1.0)
