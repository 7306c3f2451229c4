"""`--plot FILE.png`: E2E CDFs per client region and policy, and the latency breakdown
as stacked bars. matplotlib is the optional extra `plot` (pip install 'georoute[plot]');
without it `PlotUnavailableError` says how to get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from router.bench.columns import BREAKDOWN_KEYS, Columns
from router.bench.report import Report


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise PlotUnavailableError(
            "--plot needs matplotlib: pip install 'georoute[plot]' (or pip install matplotlib)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(report: Report) -> str:
    return f"{report.run.get('policy', '?')} ({report.run.get('id', '?')})"


def plot_runs(runs: Sequence[tuple[Report, Columns]], path: str | Path) -> Path:
    """Write one PNG: a row of E2E CDFs (one panel per client region, one line per run)
    above stacked breakdown bars (one bar per region and run)."""
    plt = _pyplot()
    regions = sorted({g.name for report, _ in runs for g in report.regions})
    if not regions:
        raise ValueError("nothing to plot: the runs have no requests")
    fig = plt.figure(figsize=(max(6.0, 4.5 * len(regions)), 9.0), layout="constrained")
    grid = fig.add_gridspec(2, len(regions))
    for i, region in enumerate(regions):
        ax = fig.add_subplot(grid[0, i])
        for report, cols in runs:
            e2e = np.sort(cols.ok_e2e_ms(region))
            if e2e.size:
                ax.plot(e2e / 1000.0, np.arange(1, e2e.size + 1) / e2e.size, label=_label(report))
        xs = [x for line in ax.lines for x in line.get_xdata()]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 50:
            ax.set_xscale("log")  # a long tail (queueing) would squash the body of the CDF
        ax.set_title(f"E2E CDF, clients in {region}")
        ax.set_xlabel("client-side E2E (s)")
        ax.set_ylabel("fraction of requests")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    ax = fig.add_subplot(grid[1, :])
    labels: list[str] = []
    bottoms: list[float] = []
    bars: dict[str, list[float]] = {k: [] for k in BREAKDOWN_KEYS}
    for report, _ in runs:
        for g in report.regions:
            labels.append(f"{g.name}\n{report.run.get('policy', '?')}")
            for key in BREAKDOWN_KEYS:
                bars[key].append(g.breakdown_ms[key] / 1000.0)
    x = np.arange(len(labels))
    bottoms = [0.0] * len(labels)
    for key in BREAKDOWN_KEYS:
        ax.bar(x, bars[key], bottom=bottoms, label=key.removesuffix("_ms").replace("_", " "))
        bottoms = [b + v for b, v in zip(bottoms, bars[key], strict=True)]
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylabel("mean time (s)")
    ax.set_title("Where the time goes: mean latency breakdown per client region and policy")
    ax.legend(ncols=len(BREAKDOWN_KEYS), fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
