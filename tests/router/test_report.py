"""The benchmark report from constructed rows: percentiles, goodput, share, breakdown,
energy and cost, timeline, phases, comparison, rendering and plotting."""

import json
import math

import numpy as np
import pytest
from bench_rows import row
from rich.console import Console

from router.bench.columns import Columns
from router.bench.compare import compare_reports
from router.bench.render import compare_renderable, report_renderable, side_by_side
from router.bench.report import Phase, Slo, build_report, group_stats, percentiles


def test_percentiles_match_numpy_and_ignore_missing():
    vals = [float(v) for v in range(1, 101)]
    p = percentiles([*vals, math.nan])
    assert p.p50 == pytest.approx(np.percentile(vals, 50), abs=0.01)
    assert p.p90 == pytest.approx(np.percentile(vals, 90), abs=0.01)
    assert p.p99 == pytest.approx(np.percentile(vals, 99), abs=0.01)
    assert percentiles([]).p50 is None


def test_goodput_counts_failures_as_misses_and_checks_every_slo():
    rows = [
        row(0, e2e=900, ttft=100),  # meets all
        row(1, e2e=1500, ttft=100),  # E2E too slow
        row(2, e2e=900, ttft=400),  # TTFT too slow
        row(3, e2e=900, ttft=100, tpot=80),  # TPOT too slow
        row(4, status="failed"),
    ]
    g = group_stats("all", rows, Slo(ttft_ms=300, tpot_ms=50, e2e_ms=1000), span_s=10.0)
    assert g.requests == 5
    assert g.ok == 4
    assert g.failed == 1
    assert g.slo_met == 1
    assert g.goodput_fraction == pytest.approx(0.2)
    assert g.goodput_rps == pytest.approx(0.1)
    # no SLO: goodput is undefined rather than 100%
    assert group_stats("all", rows, Slo(), 10.0).goodput_fraction is None


def test_share_energy_cost_and_breakdown():
    rows = [
        row(i, site="riyadh-1" if i < 3 else "ireland", out=200, energy=100.0, cost=0.01)
        for i in range(4)
    ]
    g = group_stats("Europe", rows, Slo(), span_s=4.0)
    assert g.share == {"ireland": 0.25, "riyadh-1": 0.75}
    assert g.output_tokens == 800
    assert g.j_per_token == pytest.approx(400 / 800)
    assert g.usd_per_mtok == pytest.approx(0.04 / 800 * 1e6)
    assert g.breakdown_ms["net_up_ms"] == 20.0
    assert g.breakdown_ms["queue_ms"] == 5.0
    assert sum(g.breakdown_ms.values()) == pytest.approx(1000.0)


def test_report_slices_by_region_and_site():
    rows = [row(i, region="Europe", site="ireland", e2e=1000 + i) for i in range(10)]
    rows += [row(10 + i, region="Asia", site="riyadh-1", e2e=3000 + i) for i in range(5)]
    rep = build_report(rows, run={"id": "abc", "policy": "fastest"}, slo=Slo(e2e_ms=2000))
    assert [g.name for g in rep.regions] == ["Asia", "Europe"]
    assert [g.name for g in rep.sites] == ["ireland", "riyadh-1"]
    asia = rep.regions[0]
    assert asia.requests == 5
    assert asia.e2e_ms.p50 == pytest.approx(3002.0)
    assert asia.goodput_fraction == 0.0
    assert rep.regions[1].goodput_fraction == 1.0
    assert rep.overall.requests == 15
    assert rep.span_s == pytest.approx(14.0)


def test_timeline_shows_where_the_slo_breaks():
    # a ramp: the second half of the run is slow
    rows = [row(i, at=float(i), e2e=500.0 if i < 50 else 5000.0) for i in range(100)]
    rep = build_report(rows, slo=Slo(e2e_ms=1000), windows=4, span_s=100.0)
    assert [w.requests for w in rep.timeline] == [25, 25, 25, 25]
    assert [w.goodput_fraction for w in rep.timeline] == [1.0, 1.0, 0.0, 0.0]
    assert rep.timeline[0].rate_rps == pytest.approx(1.0)


def test_phases_split_by_arrival_relative_to_start():
    rows = [row(i, at=100.0 + i, e2e=3000.0 if 10 <= i < 20 else 800.0) for i in range(30)]
    phases = [
        Phase(name="before", start_s=0, end_s=10),
        Phase(name="outage", start_s=10, end_s=20),
        Phase(name="after", start_s=20, end_s=30),
    ]
    rep = build_report(rows, phases=phases, start_s=100.0, span_s=30.0)
    by = {p["phase"]: p["regions"][0] for p in rep.phases}
    assert by["before"].requests == by["outage"].requests == by["after"].requests == 10
    assert by["outage"].e2e_ms.p50 == 3000.0
    assert by["before"].e2e_ms.p50 == 800.0


def test_same_rows_give_identical_json_and_it_serialises():
    rows = [row(i, e2e=1000 + 7 * i % 13) for i in range(50)]
    a = build_report(rows, run={"id": "a", "seed": 1}, slo=Slo(e2e_ms=1005)).to_dict(
        include_run_id=False
    )
    b = build_report(list(rows), run={"id": "b", "seed": 1}, slo=Slo(e2e_ms=1005)).to_dict(
        include_run_id=False
    )
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert "id" not in a["run"]


def test_compare_gives_b_minus_a_per_slice():
    a = build_report([row(i, e2e=1000.0) for i in range(10)], run={"id": "a"})
    b = build_report([row(i, e2e=1200.0, site="riyadh-1") for i in range(10)], run={"id": "b"})
    deltas = {(d.slice, d.metric): d for d in compare_reports(a, b)}
    d = deltas[("region:Europe", "E2E p50 ms")]
    assert (d.a, d.b, d.delta, d.delta_pct) == (1000.0, 1200.0, 200.0, 20.0)
    assert deltas[("region:Europe", "share riyadh-1")].delta == 1.0
    # a site only one run used still appears, with the other side missing
    assert deltas[("site:riyadh-1", "E2E p50 ms")].a is None


def test_rendering_shows_the_numbers():
    rows = [row(i, e2e=1234.0, site="riyadh-1") for i in range(10)]
    rows += [row(10 + i, region="Asia", e2e=2222.0) for i in range(10)]
    rep = build_report(
        rows,
        run={"id": "run1", "scenario": "eu-asia-baseline", "policy": "fastest"},
        slo=Slo(e2e_ms=2000),
        regret={
            "Europe": {
                "mean_regret_ms": 12.5,
                "requests": 3,
                "best_share": 0.5,
                "best_sites": {"ireland": 1.0},
            }
        },
    )
    console = Console(width=220, record=True)
    console.print(report_renderable(rep))
    console.print(side_by_side([rep]))
    console.print(compare_renderable(rep, rep, compare_reports(rep, rep)))
    text = console.export_text()
    assert "1,234" in text
    assert "2,222" in text
    assert "riyadh-1 100%" in text
    assert "Regret" in text
    assert "12.5" in text
    assert "eu-asia-baseline" in text


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from router.bench.plot import plot_runs

    rows = [row(i, e2e=1000.0 + i) for i in range(20)] + [
        row(20 + i, region="Asia") for i in range(5)
    ]
    rep = build_report(rows, run={"id": "a", "policy": "fastest"})
    out = plot_runs([(rep, Columns.from_rows(rows))], tmp_path / "r.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_slo_capacity_is_the_busiest_window_before_goodput_drops():
    # a ramp: window k (10 s wide) has 10*(k+1) requests; from window 3 on they are slow
    rows, n = [], 0
    for k in range(5):
        for j in range(10 * (k + 1)):
            slow = k >= 3
            site = "riyadh-1" if j % 2 else "ireland"
            rows.append(
                row(
                    n,
                    at=10.0 * k + j / (k + 1),
                    e2e=5000.0 if slow else 500.0,
                    site=site,
                    region="asia" if j % 4 == 0 else "europe",
                )
            )
            n += 1
    rep = build_report(rows, slo=Slo(e2e_ms=1000), windows=5, start_s=0.0, span_s=50.0)
    assert [w.rate_rps for w in rep.timeline] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert rep.slo_capacity_rps == 3.0
    assert rep.slo_limit_reached
    assert rep.slo_first_miss_s == 30.0
    assert rep.timeline[0].share == {"ireland": 0.5, "riyadh-1": 0.5}
    assert rep.timeline[4].region_e2e_p50_ms == {"asia": 5000.0, "europe": 5000.0}
    assert rep.timeline[0].region_rate_rps == {"asia": 0.3, "europe": 0.7}
    # without an SLO there is no capacity to speak of
    assert build_report(rows, windows=5).slo_capacity_rps is None
    fast = [r for r in rows if r["e2e_ms"] < 1000]
    steady = build_report(fast, slo=Slo(e2e_ms=1000), windows=3, start_s=0.0, span_s=30.0)
    assert steady.slo_capacity_rps == 3.0
    assert not steady.slo_limit_reached


def test_requests_no_site_took_are_labelled_none():
    rows = [row(0), row(1, site=None, status="rejected", e2e_ms=None, ttft_ms=None)]
    rep = build_report(rows)
    assert rep.overall.share == {"(none)": 0.5, "ireland": 0.5}
    assert [g.name for g in rep.sites] == ["(none)", "ireland"]
    assert rep.sites[0].ok == 0
