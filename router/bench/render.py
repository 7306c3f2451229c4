"""Rich tables for reports and comparisons (the terminal form; `--json` is the other)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from router.bench.columns import BREAKDOWN_KEYS
from router.bench.compare import Delta
from router.bench.report import GroupStats, Pcts, Report


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _pcts(p: Pcts) -> str:
    return f"{_ms(p.p50)} / {_ms(p.p90)} / {_ms(p.p99)}"


def _secs(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, fmt: str = "{:,.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def _share(share: dict[str, float]) -> str:
    parts = sorted(share.items(), key=lambda kv: (-kv[1], kv[0]))
    return "  ".join(f"{site} {_frac(frac)}" for site, frac in parts)


def _frac(frac: float) -> str:
    """A share as a whole percentage; a share too small to round up shows as <1%."""
    return f"{frac * 100:.0f}%" if frac >= 0.005 or frac == 0 else "<1%"


def _slo_text(report: Report) -> str:
    s = report.slo
    parts = [
        f"{k} <= {_ms(getattr(s, k))} ms"
        for k in ("ttft_ms", "tpot_ms", "e2e_ms")
        if getattr(s, k) is not None
    ]
    return ", ".join(parts) if parts else "none"


def _latency_table(title: str, groups: Sequence[GroupStats], first: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(first)
    t.add_column("req", justify="right")
    t.add_column("fail", justify="right")
    t.add_column("TTFT ms p50/p90/p99", justify="right")
    t.add_column("TPOT ms p50/p90/p99", justify="right")
    t.add_column("E2E ms p50/p90/p99", justify="right")
    t.add_column("goodput", justify="right")
    t.add_column("J/tok", justify="right")
    t.add_column("$/Mtok", justify="right")
    t.add_column("share per site")
    for g in groups:
        t.add_row(
            g.name,
            str(g.requests),
            str(g.failed),
            _pcts(g.ttft_ms),
            _pcts(g.tpot_ms),
            _pcts(g.e2e_ms),
            _pct(g.goodput_fraction),
            _num(g.j_per_token, "{:,.2f}"),
            _num(g.usd_per_mtok, "{:,.2f}"),
            _share(g.share),
        )
    return t


def _city_table(cities: Sequence[GroupStats]) -> Table:
    t = Table(title="Per client city", title_justify="left")
    for col in ("city", "req", "TTFT p50", "E2E p50", "E2E p99", "goodput", "share per site"):
        t.add_column(col, justify="left" if col in ("city", "share per site") else "right")
    for g in cities:
        t.add_row(
            g.name,
            str(g.requests),
            _ms(g.ttft_ms.p50),
            _ms(g.e2e_ms.p50),
            _ms(g.e2e_ms.p99),
            _pct(g.goodput_fraction),
            _share(g.share),
        )
    return t


def _breakdown_table(report: Report) -> Table:
    t = Table(title="Where the time goes (mean ms over ok requests)", title_justify="left")
    t.add_column("slice")
    for key in BREAKDOWN_KEYS:
        t.add_column(key.removesuffix("_ms").replace("_", " "), justify="right")
    t.add_column("E2E p50", justify="right")
    for prefix, groups in (("region", report.regions), ("site", report.sites)):
        for g in groups:
            if not g.ok:
                continue  # nothing finished here: no time to break down
            t.add_row(
                f"{prefix} {g.name}",
                *(_ms(g.breakdown_ms[k]) for k in BREAKDOWN_KEYS),
                _ms(g.e2e_ms.p50),
            )
    return t


def _phase_table(report: Report) -> Table:
    t = Table(title="Per phase and client region", title_justify="left")
    for col in (
        "phase",
        "region",
        "req",
        "fail",
        "E2E ms p50/p90/p99",
        "goodput",
        "share per site",
    ):
        t.add_column(col, justify="right" if col in ("req", "fail", "goodput") else "left")
    for ph in report.phases:
        for g in ph["regions"]:
            t.add_row(
                ph["phase"],
                g.name,
                str(g.requests),
                str(g.failed),
                _pcts(g.e2e_ms),
                _pct(g.goodput_fraction),
                _share(g.share),
            )
    return t


def _timeline_table(report: Report) -> Table:
    t = Table(title="Timeline (by arrival time)", title_justify="left")
    regions = sorted({k for w in report.timeline for k in w.region_e2e_p50_ms})
    cols = ["from s", "to s", "rate rps", "req", "TTFT p50/p99", "E2E p50/p99"]
    cols += [f"{r} rps / E2E p50" for r in regions] + ["goodput", "share per site"]
    for col in cols:
        t.add_column(col, justify="left" if col == "share per site" else "right")
    for w in report.timeline:
        t.add_row(
            _secs(w.start_s),
            _secs(w.end_s),
            _num(w.rate_rps, "{:,.2f}"),
            str(w.requests),
            f"{_ms(w.ttft_ms.p50)} / {_ms(w.ttft_ms.p99)}",
            f"{_ms(w.e2e_ms.p50)} / {_ms(w.e2e_ms.p99)}",
            *(
                f"{w.region_rate_rps.get(r, 0.0):,.1f} / {_ms(w.region_e2e_p50_ms.get(r))}"
                for r in regions
            ),
            _pct(w.goodput_fraction),
            _share(w.share),
        )
    if report.slo_capacity_rps is not None and report.slo_limit_reached:
        t.caption = (
            f"Goodput first fell below 99% in the window from {_secs(report.slo_first_miss_s or 0)}"
            f" s; before it, up to {report.slo_capacity_rps:,.1f} rps were carried within the SLO"
        )
    elif report.slo_capacity_rps is not None:
        t.caption = (
            "Goodput stayed >= 99% in every window (busiest window "
            f"{report.slo_capacity_rps:,.1f} rps): the load never reached the SLO limit"
        )
    return t


def _regret_table(regret: dict[str, Any]) -> Table:
    t = Table(
        title="Regret: time lost against the best site in hindsight, per client region",
        title_justify="left",
    )
    for col in (
        "region",
        "req",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "sent to the best",
        "best site in hindsight",
    ):
        t.add_column(
            col, justify="left" if col in ("region", "best site in hindsight") else "right"
        )
    for region, r in sorted(regret.items()):
        if not isinstance(r, dict):
            continue
        t.add_row(
            region,
            _cell(r.get("requests")),
            *(
                _cell(r.get(k))
                for k in (
                    "mean_regret_ms",
                    "p50_regret_ms",
                    "p90_regret_ms",
                    "p99_regret_ms",
                    "max_regret_ms",
                )
            ),
            _pct(r.get("best_share")),
            _share(r.get("best_sites") or {}),
        )
    return t


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _ms(value)
    if isinstance(value, dict):
        return _share(value) if all(isinstance(v, float) for v in value.values()) else str(value)
    return "-" if value is None else str(value)


def report_renderable(report: Report) -> RenderableType:
    run = report.run
    head = Text.assemble(
        ("run ", "bold"),
        str(run.get("id", "-")),
        "  scenario ",
        (str(run.get("scenario", "-")), "bold"),
        "  policy ",
        (str(run.get("policy", "-")), "bold"),
        f"  mode {run.get('mode', '-')}",
        f"  seed {run.get('seed', '-')}\n",
        f"{report.overall.requests} requests ({report.overall.failed} not ok) over "
        f"{report.span_s:,.1f} s; SLO: {_slo_text(report)}",
    )
    parts: list[RenderableType] = [
        head,
        _latency_table("Per client region", [report.overall, *report.regions], "region"),
        _city_table(report.cities),
        _latency_table("Per site", report.sites, "site"),
        _breakdown_table(report),
    ]
    if report.phases:
        parts.append(_phase_table(report))
    if report.timeline:
        parts.append(_timeline_table(report))
    if report.regret:
        parts.append(_regret_table(report.regret))
    return Group(*parts)


def side_by_side(reports: Sequence[Report]) -> Table:
    """One row per policy and client region: the headline figures of several runs."""
    t = Table(title="Policies side by side (same traffic)", title_justify="left")
    for col in (
        "policy",
        "run",
        "region",
        "req",
        "TTFT p50",
        "E2E p50",
        "E2E p99",
        "goodput",
        "$/Mtok",
        "share per site",
    ):
        t.add_column(
            col, justify="left" if col in ("policy", "run", "region", "share per site") else "right"
        )
    for r in reports:
        for g in [r.overall, *r.regions]:
            t.add_row(
                str(r.run.get("policy", "-")),
                str(r.run.get("id", "-")),
                g.name,
                str(g.requests),
                _ms(g.ttft_ms.p50),
                _ms(g.e2e_ms.p50),
                _ms(g.e2e_ms.p99),
                _pct(g.goodput_fraction),
                _num(g.usd_per_mtok, "{:,.2f}"),
                _share(g.share),
            )
    return t


def compare_renderable(a: Report, b: Report, deltas: Sequence[Delta]) -> RenderableType:
    t = Table(
        title=f"B - A: A = {a.run.get('id')} ({a.run.get('scenario')}, {a.run.get('policy')}), "
        f"B = {b.run.get('id')} ({b.run.get('scenario')}, {b.run.get('policy')})",
        title_justify="left",
    )
    for col in ("slice", "metric", "A", "B", "B - A", "%"):
        t.add_column(col, justify="left" if col in ("slice", "metric") else "right")
    for d in deltas:
        share = d.metric.startswith(("share", "goodput"))
        fmt = _pct if share else _ms
        pct = "-" if d.delta_pct is None else f"{d.delta_pct:+.1f}%"
        delta = (
            "-"
            if d.delta is None
            else (f"{d.delta * 100:+.1f} pt" if share else f"{d.delta:+,.1f}")
        )
        t.add_row(d.slice, d.metric, fmt(d.a), fmt(d.b), delta, pct)
    return t


def print_renderable(renderable: RenderableType, console: Console | None = None) -> None:
    (console or Console(width=200)).print(renderable)
