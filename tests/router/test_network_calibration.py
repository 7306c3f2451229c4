"""Calibration: the fit helper recovers known parameters, and (when the published
Azure tables are present next to the repo) the shipped model meets the issue's
MAPE bounds. The tables are read by path, never copied into the repo."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from router.geo import resolve_place
from router.network import NetworkModel, NetworkParams
from router.network.azure import Observation
from router.network.fit import fit, nelder_mead, predict_p50

DATA_DIR = Path(
    os.environ.get(
        "GEOROUTE_CALIBRATION_DIR",
        Path(__file__).resolve().parents[3] / "shared" / "calibration" / "network",
    )
)
PAIRS = DATA_DIR / "rtt_pairs_azure.csv"
P50 = DATA_DIR / "azure_rtt_p50_matrix_2026-07-30.csv"
P95 = DATA_DIR / "azure_rtt_p95_matrix_2026-07-30.csv"
needs_data = pytest.mark.skipif(
    not (PAIRS.is_file() and P50.is_file() and P95.is_file()),
    reason=f"Azure calibration tables not found in {DATA_DIR}",
)


def test_nelder_mead_finds_a_quadratic_minimum():
    x = nelder_mead(lambda v: float((v[0] - 3) ** 2 + (v[1] + 1) ** 2), [0.0, 0.0], [1.0, 1.0])
    assert x == pytest.approx([3.0, -1.0], abs=1e-3)


def _synthetic(params: NetworkParams) -> list[Observation]:
    names = [
        "Paris",
        "London",
        "Warsaw",
        "Singapore",
        "Mumbai",
        "Tokyo",
        "Dublin",
        "Riyadh",
        "Ashburn",
        "Doha",
        "Dubai",
        "Madrid",
        "Seoul",
        "Chennai",
    ]
    places = [resolve_place(n) for n in names]
    pairs = [(a, b) for i, a in enumerate(places) for b in places[i + 1 :]]
    obs = [
        Observation(
            source="synthetic",
            a=a.name,
            b=b.name,
            lat_a=a.lat,
            lon_a=a.lon,
            lat_b=b.lat,
            lon_b=b.lon,
            group_a="x",
            group_b="y",
            p50_ms=0.0,
            p95_ms=None,
        )
        for a, b in pairs
    ]
    med = predict_p50(params, obs)
    p95 = med * (1 + params.tail_fraction) + params.tail_ms
    return [
        dataclasses.replace(o, p50_ms=float(m), p95_ms=float(q))
        for o, m, q in zip(obs, med, p95, strict=False)
    ]


def test_fit_recovers_parameters_from_synthetic_observations():
    truth = NetworkParams(
        land_stretch=1.9,
        sea_stretch=1.3,
        path_overhead_ms=5.0,
        hub_ms=3.0,
        tail_fraction=0.12,
        tail_ms=1.5,
    )
    got = fit(_synthetic(truth), start=NetworkParams())
    for field in ("land_stretch", "sea_stretch", "path_overhead_ms", "hub_ms"):
        assert getattr(got, field) == pytest.approx(getattr(truth, field), rel=0.05), field
    assert got.tail_fraction == pytest.approx(truth.tail_fraction, abs=0.01)


@needs_data
def test_shipped_model_meets_the_issue_bounds_on_the_azure_tables():
    from router.network.validate import load_scope, score, summarise

    matrix_obs, pair_obs = load_scope(PAIRS, P50, P95)
    assert len(matrix_obs) > 1000
    assert len(pair_obs) > 60
    model = NetworkModel()
    for rows in (score(model, matrix_obs), score(model, pair_obs)):
        stat = summarise(rows, "overall")
        assert stat.p50_mape <= 0.12
        assert stat.p95_mape <= 0.15


@needs_data
def test_shipped_parameters_are_the_fitted_ones():
    from router.network.validate import load_scope

    matrix_obs, pair_obs = load_scope(PAIRS, P50, P95)
    got = fit([*matrix_obs, *pair_obs])
    shipped = NetworkParams()
    for field in dataclasses.fields(shipped):
        assert getattr(got, field.name) == pytest.approx(
            getattr(shipped, field.name), rel=0.05, abs=0.3
        ), field.name


def test_validation_table_formats_corridors_and_overall(tmp_path):
    from router.network.validate import format_table, score, table

    obs = _synthetic(NetworkParams())
    text = format_table("synthetic", table(score(NetworkModel(), obs)))
    assert "overall" in text
    assert "MAPE p50" in text
    assert "0.0%" in text  # the model reproduces its own numbers exactly
    assert np.isfinite([r.model_p50_ms for r in score(NetworkModel(), obs)]).all()
