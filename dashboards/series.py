"""Time-series buffers and text sparklines for the E2E p50/p95 history (pure).

A `SeriesBuffer` keeps the last `capacity` samples of several named series on one
shared time axis, at most one sample per `min_interval_s` of snapshot time, so that
a fast SSE stream and a sped-up replay draw the same time scale.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

BLOCKS = " ▁▂▃▄▅▆▇█"


class SeriesBuffer:
    """Fixed-capacity history of named series sampled together."""

    def __init__(self, capacity: int = 240, *, min_interval_s: float = 1.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.min_interval_s = min_interval_s
        self._times: deque[float] = deque(maxlen=capacity)
        self._series: dict[str, deque[float | None]] = {}

    def add(self, at: float, values: Mapping[str, float | None]) -> bool:
        """Record one sample of every series; returns False when too soon after the last.

        A series first seen now is back-filled with None; one missing now gets None.
        Time going backwards (a replay seek) clears the history instead of mixing runs.
        """
        if self._times:
            last = self._times[-1]
            if at < last:
                self.clear()
            elif at - last < self.min_interval_s:
                return False
        n = len(self._times)
        for key in values:
            if key not in self._series:
                self._series[key] = deque([None] * n, maxlen=self.capacity)
        self._times.append(at)
        for key, series in self._series.items():
            series.append(values.get(key))
        return True

    def clear(self) -> None:
        self._times.clear()
        self._series.clear()

    def __len__(self) -> int:
        return len(self._times)

    def keys(self) -> list[str]:
        return list(self._series)

    def times(self) -> list[float]:
        return list(self._times)

    def values(self, key: str) -> list[float | None]:
        return list(self._series.get(key, ()))

    def last(self, key: str) -> float | None:
        """The most recent non-None value of a series."""
        for value in reversed(self._series.get(key, ())):
            if value is not None:
                return value
        return None


def value_range(series: Iterable[Sequence[float | None]]) -> tuple[float, float]:
    """A shared (0, max) scale for several series, so p50 and p95 read against each other."""
    top = 0.0
    for values in series:
        for v in values:
            if v is not None and not math.isnan(v):
                top = max(top, v)
    return 0.0, top if top > 0 else 1.0


def chart_rows(
    values: Sequence[float | None], width: int, height: int, lo: float, hi: float
) -> list[str]:
    """A bar chart `height` rows tall from block characters, newest sample at the right.

    Only the last `width` samples are drawn, right-aligned; None draws as a gap.
    Row 0 is the top row. Each column is scaled to `height * 8` eighth-steps.
    """
    if width <= 0 or height <= 0:
        return [""] * max(height, 0)
    tail = list(values)[-width:]
    pad = width - len(tail)
    span = hi - lo if hi > lo else 1.0
    steps = height * 8
    levels: list[int | None] = [None] * pad
    for v in tail:
        if v is None or math.isnan(v):
            levels.append(None)
        else:
            frac = min(max((v - lo) / span, 0.0), 1.0)
            levels.append(max(1, round(frac * steps)) if v > lo else 0)
    rows: list[str] = []
    for row in range(height):
        floor = (height - 1 - row) * 8  # eighth-steps below this row
        chars = []
        for level in levels:
            if level is None:
                chars.append(" ")
            else:
                chars.append(BLOCKS[min(max(level - floor, 0), 8)])
        rows.append("".join(chars))
    return rows


def sparkline(values: Sequence[float | None], width: int, lo: float, hi: float) -> str:
    """One row of `chart_rows`."""
    return chart_rows(values, width, 1, lo, hi)[0]


def band_rows(
    p50: Sequence[float | None],
    p95: Sequence[float | None],
    width: int,
    height: int,
    lo: float,
    hi: float,
) -> list[list[tuple[str, str]]]:
    """p50 bars drawn over p95 bars: rows of (char, style) runs, newest at the right.

    Styles: `p50` (the median bar), `p95` (the tail above it), `p50-on-p95` (a partial
    median block whose cell the tail fills: drawn with the tail as its background).
    """
    lower = chart_rows(p50, width, height, lo, hi)
    upper = chart_rows(p95, width, height, lo, hi)
    out: list[list[tuple[str, str]]] = []
    for row_lo, row_hi in zip(lower, upper, strict=True):
        runs: list[tuple[str, str]] = []
        for c_lo, c_hi in zip(row_lo, row_hi, strict=True):
            if c_lo == " ":
                ch, style = c_hi, ("p95" if c_hi != " " else "")
            elif c_lo == "█":
                ch, style = c_lo, "p50"
            else:
                ch, style = c_lo, ("p50-on-p95" if c_hi == "█" else "p50")
            if runs and runs[-1][1] == style:
                runs[-1] = (runs[-1][0] + ch, style)
            else:
                runs.append((ch, style))
        out.append(runs)
    return out
