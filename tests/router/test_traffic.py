"""Traffic generator: rates, burstiness, local-time peaks, ramps, weights, lengths."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from router.traffic import (
    AZURE_CONV_PROMPT,
    ClientRequest,
    DiurnalArrivals,
    FixedLength,
    GammaArrivals,
    LognormalLength,
    PairedLengths,
    PoissonArrivals,
    Population,
    RampArrivals,
    TrafficConfig,
    UniformLength,
    expected_count,
    fit_lognormal,
    generate,
    generate_blocks,
)


def _pop() -> Population:
    return Population.from_places([("Paris", 3.0, "europe"), ("Singapore", 1.0, "asia")])


def _times(traffic: TrafficConfig, duration_s: float, seed: int = 1, pop=None) -> np.ndarray:
    blocks = list(generate_blocks(traffic, pop or _pop(), np.random.default_rng(seed), duration_s))
    return np.concatenate([b.at_s for b in blocks])


def _cv(times: np.ndarray) -> float:
    gaps = np.diff(times)
    return float(gaps.std() / gaps.mean())


def test_poisson_rate_and_cv():
    times = _times(TrafficConfig(arrivals=PoissonArrivals(rate_rps=200.0)), 500.0)
    expected = 200.0 * 500.0
    assert abs(times.size - expected) < 4 * math.sqrt(expected)
    assert np.all(np.diff(times) >= 0)
    assert times[-1] < 500.0
    assert _cv(times) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("cv", [0.5, 3.0])
def test_gamma_cv_matches_request(cv):
    times = _times(TrafficConfig(arrivals=GammaArrivals(rate_rps=100.0, cv=cv)), 2000.0)
    assert times.size / 2000.0 == pytest.approx(100.0, rel=0.05)
    assert _cv(times) == pytest.approx(cv, rel=0.08)


def test_groups_follow_weights_and_carry_labels():
    reqs = list(
        generate(
            TrafficConfig(arrivals=PoissonArrivals(rate_rps=100.0)),
            _pop(),
            np.random.default_rng(3),
            200.0,
        )
    )
    paris = sum(r.place.name == "Paris" for r in reqs)
    assert paris / len(reqs) == pytest.approx(0.75, abs=0.02)
    assert {r.region for r in reqs} == {"europe", "asia"}
    assert all(isinstance(r, ClientRequest) for r in reqs[:5])
    assert [r.request_id for r in reqs[:2]] == ["r000000000", "r000000001"]
    assert all(a.at_s <= b.at_s for a, b in itertools.pairwise(reqs))


def test_same_seed_same_requests_and_streams_are_independent():
    base = TrafficConfig(arrivals=PoissonArrivals(rate_rps=50.0))
    a = list(generate(base, _pop(), np.random.default_rng(9), 30.0))
    b = list(generate(base, _pop(), np.random.default_rng(9), 30.0))
    assert a == b
    c = list(generate(base, _pop(), np.random.default_rng(10), 30.0))
    assert [r.at_s for r in a] != [r.at_s for r in c]
    # Other lengths: the same arrival times and places (lengths draw from their own stream).
    fixed = TrafficConfig(
        arrivals=base.arrivals,
        lengths=PairedLengths(prompt=FixedLength(tokens=10), output=FixedLength(tokens=5)),
    )
    d = list(generate(fixed, _pop(), np.random.default_rng(9), 30.0))
    assert [(r.at_s, r.place.name) for r in d] == [(r.at_s, r.place.name) for r in a]
    assert {(r.prompt_tokens, r.output_tokens) for r in d} == {(10, 5)}


def test_diurnal_peaks_at_the_profile_peak_in_each_citys_local_time():
    # June: Paris is UTC+2, Tokyo UTC+9. One compressed day of 2,400 s.
    pop = Population.from_places([("Paris", 1.0, "europe"), ("Tokyo", 1.0, "asia")])
    profile = tuple(3.0 if h == 14 else 1.0 for h in range(24))
    arrivals = DiurnalArrivals(rate_rps=40.0, profile=profile, start_utc="2026-06-15T00:00:00")
    blocks = list(
        generate_blocks(TrafficConfig(arrivals=arrivals), pop, np.random.default_rng(5), 2400.0)
    )
    times = np.concatenate([b.at_s for b in blocks])
    groups = np.concatenate([b.group for b in blocks])
    assert times.size == pytest.approx(expected_count(arrivals, 2400.0), rel=0.05)
    utc_hour = times / 100.0  # 2,400 s per 24 h
    for g, offset in ((0, 2), (1, 9)):
        local = (utc_hour[groups == g] + offset) % 24
        counts = np.bincount(local.astype(int), minlength=24)
        assert int(np.argmax(counts)) in (13, 14)  # linear interpolation between centres
        assert counts[14] > 2 * counts[2]


def test_diurnal_day_shorter_than_the_run_repeats():
    arrivals = DiurnalArrivals(rate_rps=30.0, day_s=100.0)
    times = _times(TrafficConfig(arrivals=arrivals), 1000.0)
    # Ten whole days: the mean rate is the configured one.
    assert times.size / 1000.0 == pytest.approx(30.0, rel=0.05)


def test_ramp_follows_the_rate_segments():
    arrivals = RampArrivals(points=((0.0, 10.0), (100.0, 110.0)))
    times = _times(TrafficConfig(arrivals=arrivals), 200.0)
    assert times.size == pytest.approx(expected_count(arrivals, 200.0), rel=0.05)
    first = np.count_nonzero(times < 50.0)  # mean rate 35/s
    last = np.count_nonzero(times >= 150.0)  # flat at 110/s
    assert first / 50.0 == pytest.approx(35.0, rel=0.12)
    assert last / 50.0 == pytest.approx(110.0, rel=0.06)


def test_lognormal_fit_matches_the_median_and_brackets_the_tail():
    mu, sigma = fit_lognormal(AZURE_CONV_PROMPT)
    assert math.exp(mu) == pytest.approx(1020.0)
    fitted = LognormalLength(mu=mu, sigma=sigma)
    for q, value in AZURE_CONV_PROMPT[1:]:
        assert fitted.quantile(q) == pytest.approx(value, rel=0.2)


def test_lognormal_samples_have_the_fitted_percentiles():
    dist = LognormalLength.fit(AZURE_CONV_PROMPT)
    sample = dist.sample(np.random.default_rng(2), 200_000)
    for q in (0.5, 0.9, 0.99):
        assert np.quantile(sample, q) == pytest.approx(dist.quantile(q), rel=0.03)


def test_lognormal_fit_without_median_uses_least_squares():
    mu, sigma = fit_lognormal([(0.25, math.exp(1.0 - 0.6745)), (0.75, math.exp(1.0 + 0.6745))])
    assert mu == pytest.approx(1.0, abs=1e-3)
    assert sigma == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    "bad",
    [[], [(1.5, 10.0)], [(0.5, -1.0)], [(0.9, 10.0)], [(0.5, 100.0), (0.9, 10.0)]],
)
def test_lognormal_fit_rejects_bad_percentiles(bad):
    with pytest.raises(ValueError):
        fit_lognormal(bad)


def test_uniform_and_clip_bounds():
    rng = np.random.default_rng(0)
    u = UniformLength(min_tokens=2000, max_tokens=8000).sample(rng, 50_000)
    assert u.min() >= 2000
    assert u.max() <= 8000
    assert u.mean() == pytest.approx(5000, rel=0.02)
    clipped = LognormalLength(mu=8.0, sigma=2.0, min_tokens=5, max_tokens=100).sample(rng, 1000)
    assert clipped.min() >= 5
    assert clipped.max() <= 100
