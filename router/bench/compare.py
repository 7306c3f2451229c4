"""Two reports side by side: for each slice (overall, each client region, each site)
and each headline metric, the value in run A, in run B, and B - A (absolute and %).

This is how the residency question is answered (the same traffic with and without the
EU constraint: what Europe pays), and how two policies or an outage are compared.
Pure: works on `Report` values, not on the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router.bench.report import GroupStats, Report

# (label, getter) pairs: what a comparison shows for every slice.
_METRICS: tuple[tuple[str, str, str], ...] = (
    ("TTFT p50 ms", "ttft_ms", "p50"),
    ("TTFT p99 ms", "ttft_ms", "p99"),
    ("TPOT p50 ms", "tpot_ms", "p50"),
    ("E2E p50 ms", "e2e_ms", "p50"),
    ("E2E p90 ms", "e2e_ms", "p90"),
    ("E2E p99 ms", "e2e_ms", "p99"),
    ("goodput", "goodput_fraction", ""),
    ("J/token", "j_per_token", ""),
    ("$/Mtok", "usd_per_mtok", ""),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delta:
    slice: str  # "all", "region:Europe", "site:riyadh-1"
    metric: str
    a: float | None
    b: float | None
    delta: float | None  # b - a
    delta_pct: float | None  # (b - a) / a * 100


def _value(stats: GroupStats, attr: str, pct: str) -> float | None:
    value: Any = getattr(stats, attr)
    if pct:
        value = getattr(value, pct)
    return None if value is None else float(value)


def _delta(slice_name: str, metric: str, a: float | None, b: float | None) -> Delta:
    if a is None or b is None:
        return Delta(slice=slice_name, metric=metric, a=a, b=b, delta=None, delta_pct=None)
    d = b - a
    pct = round(d / a * 100.0, 2) if a != 0 else None
    return Delta(slice=slice_name, metric=metric, a=a, b=b, delta=round(d, 4), delta_pct=pct)


def _slices(report: Report) -> dict[str, GroupStats]:
    out = {"all": report.overall}
    out.update({f"region:{g.name}": g for g in report.regions})
    out.update({f"site:{g.name}": g for g in report.sites})
    out.update({f"city:{g.name}": g for g in report.cities})
    return out


def compare_reports(a: Report, b: Report) -> list[Delta]:
    """Every metric of every slice present in either report (missing side: None)."""
    sa, sb = _slices(a), _slices(b)
    names = list(sa) + [n for n in sb if n not in sa]
    deltas: list[Delta] = []
    for name in names:
        ga, gb = sa.get(name), sb.get(name)
        for label, attr, pct in _METRICS:
            va = _value(ga, attr, pct) if ga is not None else None
            vb = _value(gb, attr, pct) if gb is not None else None
            deltas.append(_delta(name, label, va, vb))
        shares = sorted(set(ga.share if ga else {}) | set(gb.share if gb else {}))
        for site in shares:
            va = ga.share.get(site, 0.0) if ga else None
            vb = gb.share.get(site, 0.0) if gb else None
            deltas.append(_delta(name, f"share {site}", va, vb))
    return deltas
