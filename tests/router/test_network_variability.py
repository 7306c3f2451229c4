"""Seeded one-way delay sampling, access legs and handshakes."""

from __future__ import annotations

import numpy as np
import pytest

from router.geo import resolve_place
from router.network import NetworkModel, ShiftedLogNormal, access_rtt_ms, handshake_ms

MODEL = NetworkModel()
PAIRS = [("Paris", "Riyadh"), ("Singapore", "Dublin"), ("Mumbai", "Dubai"), ("London", "Dublin")]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_samples_match_the_median_and_p95_tables(a, b):
    pa, pb = resolve_place(a), resolve_place(b)
    one_way = MODEL.sample_one_way_ms(pa, pb, np.random.default_rng(7), size=200_000)
    assert isinstance(one_way, np.ndarray)
    assert 2 * np.median(one_way) == pytest.approx(MODEL.rtt_ms(pa, pb), rel=0.01)
    assert 2 * np.percentile(one_way, 95) == pytest.approx(MODEL.rtt_p95_ms(pa, pb), rel=0.01)
    assert one_way.min() >= MODEL.fiber_min_rtt_ms(pa, pb) / 2


def test_sampling_is_seeded_and_scalar_without_size():
    a, b = resolve_place("Paris"), resolve_place("Riyadh")
    x = MODEL.sample_one_way_ms(a, b, np.random.default_rng(3))
    y = MODEL.sample_one_way_ms(a, b, np.random.default_rng(3))
    assert isinstance(x, float)
    assert x == y
    z = MODEL.sample_one_way_ms(a, b, np.random.default_rng(4))
    assert z != x


def test_distribution_is_the_same_both_ways():
    a, b = resolve_place("Tokyo"), resolve_place("Doha")
    assert MODEL.one_way_distribution(a, b) == MODEL.one_way_distribution(b, a)


def test_shifted_lognormal_quantiles_round_trip():
    d = ShiftedLogNormal.from_quantiles(floor_ms=20.0, median_ms=40.0, p95_ms=55.0)
    assert d.quantile(0.5) == pytest.approx(40.0)
    assert d.quantile(0.95) == pytest.approx(55.0)
    flat = ShiftedLogNormal.from_quantiles(floor_ms=1.0, median_ms=5.0, p95_ms=5.0)
    assert flat.sigma == 0.0


@pytest.mark.parametrize(("floor", "med", "p95"), [(10, 10, 12), (5, 10, 9), (12, 10, 15)])
def test_shifted_lognormal_rejects_inconsistent_quantiles(floor, med, p95):
    with pytest.raises(ValueError, match="floor < median <= p95"):
        ShiftedLogNormal.from_quantiles(floor_ms=floor, median_ms=med, p95_ms=p95)


@pytest.mark.parametrize(("kind", "expected"), [("fixed", 12.0), ("mobile", 35.0), ("cloud", 1.0)])
def test_access_defaults(kind, expected):
    assert access_rtt_ms(kind) == expected
    assert MODEL.access_rtt_ms(kind) == expected


def test_access_orders_and_rejects_unknown():
    assert access_rtt_ms("cloud") < access_rtt_ms("fixed") < access_rtt_ms("mobile")
    with pytest.raises(ValueError, match="satellite"):
        access_rtt_ms("satellite")


@pytest.mark.parametrize(
    ("rtt", "tls", "expected"), [(80.0, True, 160.0), (80.0, False, 80.0), (0.0, True, 0.0)]
)
def test_handshake_is_tcp_plus_tls13_round_trips(rtt, tls, expected):
    assert handshake_ms(rtt, tls=tls) == expected
    assert MODEL.handshake_ms(rtt, tls=tls) == expected


def test_handshake_rejects_negative_rtt():
    with pytest.raises(ValueError, match="rtt_ms"):
        handshake_ms(-1.0)
