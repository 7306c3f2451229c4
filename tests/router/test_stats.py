"""RollingStats: the RouterStats shape, windowing, per-site and per-region figures."""

from __future__ import annotations

import pytest

from router.stats import RollingStats, SiteState, percentiles
from router.stats_schema import RouterStats


def row(
    site: str,
    at: float,
    e2e_ms: float,
    *,
    city="Paris",
    region="Europe",
    status="ok",
    out=100,
    energy_j=10.0,
    cost_usd=0.001,
) -> dict:
    return {
        "arrived_at": at,
        "site": site,
        "client_place": city,
        "client_region": region,
        "client_lat": 48.86,
        "client_lon": 2.35,
        "status": status,
        "e2e_ms": e2e_ms,
        "ttft_ms": e2e_ms / 4,
        "tpot_ms": 5.0,
        "queue_ms": 3.0,
        "prefill_ms": 7.0,
        "net_up_ms": 20.0,
        "net_down_ms": 25.0,
        "output_tokens": out,
        "energy_j": energy_j,
        "cost_usd": cost_usd,
    }


SITES = [
    SiteState(
        name="riyadh-1",
        kind="lpu",
        hardware="groq-lpu",
        model="llama-3.3-70b",
        place="Riyadh",
        lat=24.7,
        lon=46.7,
        url="http://a",
        health="healthy",
        in_flight=2,
        queued=1,
        running=3,
        max_running=4,
    ),
    SiteState(
        name="ireland",
        kind="gpu",
        hardware="h100-sxm",
        model="llama-3.3-70b",
        place="Dublin",
        lat=53.3,
        lon=-6.3,
        url="http://b",
        health="failed",
    ),
]


def snap(stats: RollingStats, now: float, **kw):
    return stats.snapshot(
        now=now, sites=SITES, policy="fastest", policies=["fastest"], uptime_s=10.0, **kw
    )


def test_snapshot_has_exactly_the_schema_keys():
    stats = RollingStats(window_s=60)
    stats.add(row("riyadh-1", 100.0, 500))
    snapshot = snap(stats, 101.0)
    assert set(snapshot) == set(RouterStats.__annotations__)
    assert set(snapshot["sites"][0]) == set(SITES[0].__slots__) - {"max_running"} | {
        "utilisation",
        "requests",
        "share",
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "tokens_per_s",
        "j_per_token",
        "usd_per_mtok",
    }


def test_site_figures():
    stats = RollingStats(window_s=10)
    for i in range(3):
        stats.add(row("riyadh-1", 100.0 + i, 100.0 * (i + 1)))
    stats.add(row("ireland", 101.0, 1000.0))
    stats.add(row("ireland", 101.5, 50.0, status="failed"))
    s = snap(stats, 105.0, in_flight=2)
    riyadh, ireland = s["sites"]
    assert riyadh["requests"] == 3
    assert riyadh["share"] == pytest.approx(0.75)
    assert riyadh["e2e_ms"]["p50"] == pytest.approx(200.0)
    assert riyadh["ttft_ms"]["p50"] == pytest.approx(10.0)  # queue + prefill, site-side
    assert riyadh["tokens_per_s"] == pytest.approx(300 / 10)
    assert riyadh["j_per_token"] == pytest.approx(0.1)
    assert riyadh["usd_per_mtok"] == pytest.approx(10.0)
    assert riyadh["utilisation"] == pytest.approx(0.75)
    assert ireland["requests"] == 1  # the failed one is not "served"
    assert ireland["health"] == "failed"
    assert s["requests"] == {"total": 7, "ok": 4, "failed": 1, "rejected": 0, "in_flight": 2}


def test_window_evicts_old_rows_but_totals_remain():
    stats = RollingStats(window_s=5)
    stats.add(row("riyadh-1", 0.0, 100))
    stats.add(row("riyadh-1", 10.0, 100))
    s = snap(stats, 12.0)
    assert s["sites"][0]["requests"] == 1
    assert s["requests"]["ok"] == 2


def test_regions_and_cities():
    stats = RollingStats(window_s=60)
    stats.add(row("riyadh-1", 1.0, 100, city="Paris"))
    stats.add(row("ireland", 1.0, 300, city="Paris"))
    stats.add(row("riyadh-1", 1.0, 200, city="Tokyo", region="Asia"))
    s = snap(stats, 5.0)
    asia, europe = s["regions"]
    assert (asia["region"], europe["region"]) == ("Asia", "Europe")
    assert europe["share"] == {"ireland": 0.5, "riyadh-1": 0.5}
    assert europe["rtt_ms"] == pytest.approx(45.0)
    assert europe["cities"][0]["name"] == "Paris"
    assert asia["cities"][0]["share"] == {"riyadh-1": 1.0}
    assert europe["e2e_ms"]["p50"] == pytest.approx(200.0)


def test_empty_window_percentiles_are_none_and_events_capped():
    stats = RollingStats()
    events = [{"at": float(i), "kind": "info", "site": None, "message": str(i)} for i in range(80)]
    s = snap(stats, 1.0, events=events)
    assert s["sites"][0]["e2e_ms"] == {"p50": None, "p95": None, "p99": None}
    assert len(s["events"]) == 50
    assert s["events"][-1]["message"] == "79"
    assert percentiles([1.0, 2.0, 3.0])["p50"] == 2.0
