"""The benchmark report, computed from request rows (pure: no I/O, no shell libraries).

A report answers "how fast, where, why, at what cost" for one run: per client region
and per site, TTFT / TPOT / E2E percentiles, goodput against the scenario's SLOs, the
share of each region's traffic per site, the mean latency breakdown (network legs,
connection set-up, router, queue, prefill, decode), energy per output token and cost
per million output tokens; plus a timeline (windows of arrival time) so ramps, peaks
and outages show where the SLO breaks, optional named phases (before / during / after
an outage) and the simulator's regret per region when the run has one.

Rows are dicts with `router.store.REQUEST_COLUMNS` keys. Latency statistics cover the
requests that finished (`status == "ok"`); goodput counts every request, so a failed
or rejected request is a request that missed its SLO. Everything here is a function
of the rows and the arguments, so the same rows always give the same report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from router.bench.columns import BREAKDOWN_KEYS, Columns

PERCENTILES: tuple[int, ...] = (50, 90, 99)
DEFAULT_WINDOWS = 12  # timeline windows: two hours each of a compressed day


@dataclass(frozen=True, slots=True, kw_only=True)
class Slo:
    """Per-request service-level objectives; None means "no objective on this metric"."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, row: Mapping[str, Any]) -> bool:
        if row.get("status") != "ok":
            return False
        for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
            limit = getattr(self, key)
            if limit is not None and _num(row.get(key)) > limit:
                return False
        return True

    @property
    def empty(self) -> bool:
        return self.ttft_ms is None and self.tpot_ms is None and self.e2e_ms is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Phase:
    """A named span of arrival time (seconds since the run started), e.g. an outage."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Pcts:
    """p50 / p90 / p99 in ms (None without data)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStats:
    """Statistics of one slice of the rows (everything, one region, one site, a phase)."""

    name: str
    requests: int
    ok: int
    failed: int
    ttft_ms: Pcts
    tpot_ms: Pcts
    e2e_ms: Pcts
    slo_met: int
    goodput_fraction: float | None  # requests meeting every SLO / all requests
    goodput_rps: float | None  # requests meeting every SLO per second of the run
    share: dict[str, float]  # site -> fraction of this slice's requests (all statuses)
    breakdown_ms: dict[str, float]  # mean over ok requests, BREAKDOWN_KEYS
    output_tokens: int
    j_per_token: float | None  # energy per output token
    usd_per_mtok: float | None  # cost per million output tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """One slice of the timeline: requests that arrived in [start_s, end_s)."""

    start_s: float
    end_s: float
    rate_rps: float
    requests: int
    e2e_ms: Pcts
    ttft_ms: Pcts
    goodput_fraction: float | None
    region_e2e_p50_ms: dict[str, float | None]  # client region -> E2E p50 in this window
    region_rate_rps: dict[str, float]  # client region -> arrivals per second in this window
    share: dict[str, float]  # site -> fraction of this window's requests


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    run: dict[str, Any]  # run id, scenario, policy, mode, seed (from the runs table)
    slo: Slo
    span_s: float
    overall: GroupStats
    regions: list[GroupStats]
    cities: list[GroupStats]  # by client place, named "place (region)"
    sites: list[GroupStats]
    phases: list[dict[str, Any]]  # {"phase": name, "regions": [GroupStats...]}
    timeline: list[Window]
    slo_capacity_rps: float | None  # highest window rate before goodput first fell below 99%
    slo_limit_reached: bool  # some window's goodput fell below 99% (else the load never hit it)
    slo_first_miss_s: float | None  # start of the first window with goodput below 99%
    regret: dict[str, Any] = field(default_factory=dict)  # per-region summary (sim)

    def to_dict(self, *, include_run_id: bool = True) -> dict[str, Any]:
        """A JSON-ready dict. `include_run_id=False` drops the only field that differs
        between two runs of the same scenario and seed."""
        out = asdict(self)
        if not include_run_id:
            out["run"] = {k: v for k, v in out["run"].items() if k not in ("id", "run_id")}
        return out


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def percentiles(values: Sequence[float] | np.ndarray) -> Pcts:
    """Linear-interpolated p50/p90/p99 of the finite values, rounded to 0.01 ms."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return Pcts()
    p50, p90, p99 = (round(float(v), 2) for v in np.percentile(arr, PERCENTILES))
    return Pcts(p50=p50, p90=p90, p99=p99)


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


class _Frame:
    """Columns under one SLO: the masks every slice of the report starts from."""

    def __init__(self, cols: Columns, slo: Slo) -> None:
        self.cols = cols
        self.f = cols.f
        self.n = cols.n
        self.slo = slo
        self.ok = cols.label_is("status", "ok")
        met = self.ok.copy()
        with np.errstate(invalid="ignore"):
            for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
                limit = getattr(slo, key)
                if limit is not None:
                    met &= self.f[key] <= limit  # NaN (missing) compares False: a miss
        self.met = met

    def groups(self, key: str, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Label -> mask, sorted by label (within `mask` when given)."""
        codes = self.cols.codes[key]
        names = self.cols.names[key]
        present = np.unique(codes if mask is None else codes[mask])
        out: dict[str, np.ndarray] = {}
        for code in sorted(present.tolist(), key=lambda c: names[c]):
            m = codes == code
            out[names[code]] = m if mask is None else m & mask
        return out

    def first_label(self, key: str, mask: np.ndarray) -> str:
        return self.cols.names[key][int(self.cols.codes[key][mask][0])]

    def stats(self, name: str, mask: np.ndarray, span_s: float) -> GroupStats:
        n = int(mask.sum())
        okm = mask & self.ok
        f = self.f
        met = int((mask & self.met).sum())
        out_tokens = int(self.cols.out_tokens[okm].sum())
        energy = float(np.nansum(f["energy_j"][okm]))
        cost = float(np.nansum(f["cost_usd"][okm]))
        breakdown: dict[str, float] = {}
        for key in BREAKDOWN_KEYS:
            vals = f[key][okm]
            vals = vals[np.isfinite(vals)]
            breakdown[key] = round(float(vals.mean()), 2) if vals.size else 0.0
        tpot = f["tpot_ms"][okm]
        empty = self.slo.empty
        return GroupStats(
            name=name,
            requests=n,
            ok=int(okm.sum()),
            failed=n - int(okm.sum()),
            ttft_ms=percentiles(f["ttft_ms"][okm]),
            # single-token outputs have no inter-token gap: leave them out of TPOT
            tpot_ms=percentiles(tpot[tpot > 0]),
            e2e_ms=percentiles(f["e2e_ms"][okm]),
            slo_met=met,
            goodput_fraction=_round(met / n) if n and not empty else None,
            goodput_rps=_round(met / span_s) if span_s > 0 and not empty else None,
            share=self.share(mask),
            breakdown_ms=breakdown,
            output_tokens=out_tokens,
            j_per_token=_round(energy / out_tokens) if out_tokens else None,
            usd_per_mtok=_round(cost / out_tokens * 1e6) if out_tokens else None,
        )

    def share(self, mask: np.ndarray) -> dict[str, float]:
        n = int(mask.sum())
        if not n:
            return {}
        names = self.cols.names["site"]
        counts = np.bincount(self.cols.codes["site"][mask], minlength=len(names))
        return {
            names[c]: round(int(counts[c]) / n, 4)
            for c in sorted(np.flatnonzero(counts).tolist(), key=lambda c: names[c])
        }


def group_stats(
    name: str, rows: Sequence[Mapping[str, Any]], slo: Slo, span_s: float
) -> GroupStats:
    """The statistics of one slice of rows; `span_s` turns counts into rates."""
    frame = _Frame(Columns.from_rows(rows), slo)
    return frame.stats(name, np.ones(frame.n, dtype=bool), span_s)


def timeline(cols: _Frame, *, start_s: float, span_s: float, windows: int) -> list[Window]:
    """Split the run into `windows` equal spans of arrival time."""
    if not cols.n or span_s <= 0 or windows <= 0:
        return []
    width = span_s / windows
    with np.errstate(invalid="ignore"):
        index = np.clip(((cols.f["arrived_at"] - start_s) / width), 0, windows - 1)
    index = np.nan_to_num(index).astype(np.int64)
    region_masks = cols.groups("client_region")
    out = []
    for i in range(windows):
        bucket = index == i
        n = int(bucket.sum())
        okm = bucket & cols.ok
        met = int((bucket & cols.met).sum())
        out.append(
            Window(
                start_s=round(i * width, 3),
                end_s=round((i + 1) * width, 3),
                rate_rps=round(n / width, 3),
                requests=n,
                e2e_ms=percentiles(cols.f["e2e_ms"][okm]),
                ttft_ms=percentiles(cols.f["ttft_ms"][okm]),
                goodput_fraction=_round(met / n) if n and not cols.slo.empty else None,
                region_e2e_p50_ms={
                    reg: percentiles(cols.f["e2e_ms"][okm & m]).p50
                    for reg, m in region_masks.items()
                },
                region_rate_rps={
                    reg: round(int((bucket & m).sum()) / width, 3)
                    for reg, m in region_masks.items()
                },
                share=cols.share(bucket),
            )
        )
    return out


def slo_capacity_rps(windows: Sequence[Window], threshold: float = 0.99) -> float | None:
    """The highest arrival rate carried within the SLO: the busiest window before the
    first one whose goodput falls below `threshold` (for ramps such as million-lpu)."""
    best: float | None = None
    for w in windows:
        if w.goodput_fraction is None:
            return None
        if w.requests and w.goodput_fraction < threshold:
            break
        best = w.rate_rps if best is None else max(best, w.rate_rps)
    return best


def build_report(
    rows: Sequence[Mapping[str, Any]] | Columns,
    *,
    run: Mapping[str, Any] | None = None,
    slo: Slo | None = None,
    phases: Sequence[Phase] = (),
    regret: Mapping[str, Any] | None = None,
    windows: int = DEFAULT_WINDOWS,
    start_s: float | None = None,
    span_s: float | None = None,
) -> Report:
    """The report of one run. Times in `phases` are relative to `start_s` (default: the
    first arrival); `span_s` (default: first to last arrival) sets the rates."""
    slo = slo or Slo()
    cols = _Frame(rows if isinstance(rows, Columns) else Columns.from_rows(rows), slo)
    arrivals = cols.f["arrived_at"]
    finite = arrivals[np.isfinite(arrivals)]
    first = float(finite.min()) if finite.size else 0.0
    start = first if start_s is None else start_s
    if span_s is None:
        span_s = (float(finite.max()) - start) if finite.size else 0.0
    everything = np.ones(cols.n, dtype=bool)
    phase_stats = []
    for ph in phases:
        with np.errstate(invalid="ignore"):
            sel = (arrivals - start >= ph.start_s) & (arrivals - start < ph.end_s)
        width = max(min(ph.end_s, span_s) - ph.start_s, 0.0)
        phase_stats.append(
            {
                "phase": ph.name,
                "start_s": ph.start_s,
                "end_s": ph.end_s,
                "regions": [
                    cols.stats(k, m, width) for k, m in cols.groups("client_region", sel).items()
                ],
            }
        )
    windows_list = timeline(cols, start_s=start, span_s=span_s, windows=windows)
    first_miss = next(
        (
            w.start_s
            for w in windows_list
            if w.requests and w.goodput_fraction is not None and w.goodput_fraction < 0.99
        ),
        None,
    )
    places = cols.groups("client_place")
    return Report(
        run=dict(run or {}),
        slo=slo,
        span_s=round(span_s, 3),
        overall=cols.stats("all", everything, span_s),
        regions=[cols.stats(k, m, span_s) for k, m in cols.groups("client_region").items()],
        cities=[
            cols.stats(f"{k} ({cols.first_label('client_region', m)})", m, span_s)
            for k, m in places.items()
        ],
        sites=[cols.stats(k, m, span_s) for k, m in cols.groups("site").items()],
        phases=phase_stats,
        timeline=windows_list,
        slo_capacity_rps=slo_capacity_rps(windows_list),
        slo_limit_reached=first_miss is not None,
        slo_first_miss_s=first_miss,
        regret=dict(regret or {}),
    )
