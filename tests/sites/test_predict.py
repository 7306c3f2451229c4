"""Closed-loop predictions: the NIM sweep's shape, steady-state windows, bad numbers."""

import pytest

from sites.engine_api import DeploymentError, DeploymentSpec
from sites.predict import default_requests, predict, run_closed_loop

NIM = DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b", precision="fp8", devices=2,
                     framework="trtllm")


def test_tpot_rises_with_concurrency_and_throughput_saturates():
    p = {c: predict(NIM, input_tokens=5000, output_tokens=500, concurrency=c)
         for c in (1, 25, 100, 250)}
    assert p[1].tpot_ms < p[25].tpot_ms < p[100].tpot_ms
    assert p[1].total_tok_s < p[25].total_tok_s < p[100].total_tok_s
    # Saturated: 2.5x the clients buy < 10% more throughput, only queueing (TTFT).
    assert p[250].total_tok_s == pytest.approx(p[100].total_tok_s, rel=0.1)
    assert p[250].ttft_ms > 5 * p[100].ttft_ms > 5 * p[25].ttft_ms


def test_per_user_speed_is_the_inverse_of_tpot_and_e2e_adds_up():
    p = predict(NIM, input_tokens=500, output_tokens=200, concurrency=4)
    assert p.per_user_tok_s == pytest.approx(1000 / p.tpot_ms)
    assert p.e2e_ms == pytest.approx(p.ttft_ms + 199 * p.tpot_ms, rel=0.02)
    assert set(p.as_dict()) == {"ttft_ms", "tpot_ms", "per_user_tok_s", "total_tok_s", "e2e_ms"}


def test_steady_window_drops_warm_up_and_cool_down():
    run = run_closed_loop(NIM, input_tokens=1000, output_tokens=100, concurrency=10,
                          requests=100)
    assert len(run.results) == 100
    assert all(r.request_id.startswith("r") for r in run.results)  # measured ones only
    start, end = run.window_s
    assert 0 < start < end < max(r.finished_at for r in run.results)
    # chosen by arrival alone: those that arrived in the window, however long they took
    assert run.steady == [r for r in run.results if start <= r.arrived_at <= end]
    assert any(r.finished_at > end for r in run.steady)
    assert 0 < len(run.steady) < 100


def test_each_request_is_sent_one_client_turnaround_after_a_completion():
    run = run_closed_loop(NIM, input_tokens=1000, output_tokens=20, concurrency=4,
                          requests=40, client_turnaround_ms=2.0, seed=7)
    triggers = [0.0] + [r.finished_at for r in run.results]
    for r in run.results:
        assert any(0.001 <= r.arrived_at - t <= 0.003 for t in triggers), r
    again = run_closed_loop(NIM, input_tokens=1000, output_tokens=20, concurrency=4,
                            requests=40, client_turnaround_ms=2.0, seed=7)
    assert again.prediction == run.prediction  # seeded


def test_zero_turnaround_is_the_lock_step_loop():
    run = run_closed_loop(NIM, input_tokens=1000, output_tokens=20, concurrency=4,
                          requests=40, client_turnaround_ms=0.0)
    finishes = {r.finished_at for r in run.results} | {0.0}
    assert all(r.arrived_at in finishes for r in run.results)


def test_a_request_sent_after_a_token_misses_the_next_iteration():
    """Continuous batching fixes iteration k+1 before iteration k's tokens reach a
    client, so any turnaround (not zero) gives one schedule: the prediction does not
    depend on how long it is, as long as it is shorter than an iteration."""
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b", precision="fp8")
    kw = {"input_tokens": 1000, "output_tokens": 100, "concurrency": 64}
    p = {t: predict(spec, client_turnaround_ms=t, **kw) for t in (0.0, 0.3, 1.0, 3.0)}
    for t in (0.3, 3.0):
        assert p[t].ttft_ms == pytest.approx(p[1.0].ttft_ms, rel=0.01)
        assert p[t].tpot_ms == pytest.approx(p[1.0].tpot_ms, rel=0.01)
    # lock-step: each wave of 64 joins the iteration right after its last tokens
    assert p[0.0].ttft_ms < 0.8 * p[1.0].ttft_ms


def test_window_by_arrival_is_not_biased_by_the_cut():
    """An LPU with 80 slots for 128 clients: waits are nothing or a whole service
    time, in FCFS order; a short run's mean TTFT agrees with a long run's (choosing by
    finish time: -15%; by arrival but cutting bursts: -3%)."""
    spec = DeploymentSpec(hardware="groq-lpu", model="llama-3.3-70b", precision="fp8")
    kw = {"input_tokens": 1000, "output_tokens": 100, "concurrency": 128}
    short = predict(spec, **kw)
    long = predict(spec, requests=40 * 128, **kw)
    assert short.ttft_ms == pytest.approx(long.ttft_ms, rel=0.01)


def test_default_request_count():
    assert default_requests(1) == 200
    assert default_requests(250) == 1000


def test_auto_sized_deployment_is_used_when_devices_are_omitted():
    spec = DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b", precision="fp8")
    p = predict(spec, input_tokens=1000, output_tokens=100, concurrency=2)
    assert p.tpot_ms > 0


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "concurrency"])
def test_non_positive_numbers_name_the_field(field):
    kwargs = {"input_tokens": 10, "output_tokens": 10, "concurrency": 1, field: 0}
    with pytest.raises(DeploymentError, match=field):
        predict(NIM, **kwargs)


def test_negative_turnaround_is_refused():
    with pytest.raises(DeploymentError, match="client_turnaround_ms"):
        predict(NIM, input_tokens=10, output_tokens=10, concurrency=1,
                client_turnaround_ms=-1.0)


def test_throughput_obeys_littles_law_in_the_steady_state():
    """Closed loop, no think time: throughput = clients x tokens / latency."""
    p = predict(NIM, input_tokens=2000, output_tokens=300, concurrency=32, requests=300)
    assert p.total_tok_s == pytest.approx(32 * 300 / (p.e2e_ms / 1000), rel=0.05)


def test_tokens_between_counts_evenly_spaced_tokens():
    from sites.engine_api import RequestResult
    from sites.predict import tokens_between

    r = RequestResult(request_id="x", prompt_tokens=1, output_tokens=11, arrived_at=0.0,
                      first_scheduled_at=0.0, first_token_at=1.0, finished_at=2.0,
                      queue_s=0.0, ttft_s=1.0, tpot_s=0.1, energy_j=0.0, cost_usd=0.0)
    assert tokens_between(r, 0.0, 5.0) == 11
    assert tokens_between(r, 1.0, 2.0) == 10  # (1.0, 2.0]: tokens at 1.1 ... 2.0
    assert tokens_between(r, 1.25, 1.55) == 3  # 1.3, 1.4, 1.5
    assert tokens_between(r, 2.5, 3.0) == 0


def test_steady_window_never_splits_a_burst_of_arrivals():
    from sites.predict import steady_window

    # bursts of five arrivals 1 ms apart, one burst a second
    arrivals = [k + i * 0.001 for k in range(10) for i in range(5)]
    start, end = steady_window(arrivals, warm_at=2.002, cool_down_at=7.003, cycle_s=1.5)
    assert 2.004 < start < 3.0  # the rest of the burst at 2 s is warm-up
    assert 6.004 < end < 7.0  # the burst at 7 s is cut whole, not after its first four
    inside = [a for a in arrivals if start <= a <= end]
    assert len(inside) == 4 * 5
