"""Pure formatting of dashboard numbers: short, fixed-meaning strings for narrow cells.

No Textual here: the widgets call these, and the tests check them table-driven.
"None" (a window with no data yet) always prints as an en dash, never as 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

MISSING = "–"


def _bad(value: float | None) -> bool:
    return value is None or math.isnan(value)


def fmt_ms(value: float | None) -> str:
    """Milliseconds in at most 5 characters: 3.2, 412, 4120, 12.3s, 123s."""
    if value is None or _bad(value):
        return MISSING
    if value < 0:
        return MISSING
    if value < 10:
        return f"{value:.1f}"
    if value < 10_000:
        return f"{value:.0f}"
    if value < 100_000:
        return f"{value / 1000:.1f}s"
    return f"{value / 1000:.0f}s"


def fmt_pair(a: float | None, b: float | None) -> str:
    """Two percentiles of one quantity as `p50/p95`."""
    return f"{fmt_ms(a)}/{fmt_ms(b)}"


def fmt_pct(fraction: float | None) -> str:
    """A 0..1 fraction as a whole percentage."""
    if fraction is None or _bad(fraction):
        return MISSING
    return f"{fraction * 100:.0f}%"


def fmt_count(value: float | None) -> str:
    """Counts and rates in at most 5 characters: 7, 950, 12.3k, 123k, 1.2M."""
    if value is None or _bad(value):
        return MISSING
    v = abs(value)
    sign = "-" if value < 0 else ""
    if v < 10 and v != int(v):
        return f"{sign}{v:.1f}"
    if v < 1000:
        return f"{sign}{v:.0f}"
    if v < 100_000:
        return f"{sign}{v / 1000:.1f}k"
    if v < 1_000_000:
        return f"{sign}{v / 1000:.0f}k"
    return f"{sign}{v / 1_000_000:.1f}M"


def fmt_usd(value: float | None) -> str:
    """Dollars per million tokens: $0.59, $12.4, $1234."""
    if value is None or _bad(value):
        return MISSING
    if value < 10:
        return f"${value:.2f}"
    if value < 100:
        return f"${value:.1f}"
    return f"${value:.0f}"


def fmt_joules(value: float | None) -> str:
    """Joules per token, 2 significant-ish digits."""
    if value is None or _bad(value):
        return MISSING
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.0f}"


def fmt_rate_rps(value: float | None) -> str:
    """A traffic rate in requests per second."""
    if value is None or _bad(value):
        return MISSING
    return f"{value:.1f}/s" if value < 100 else f"{value:.0f}/s"


def fmt_duration(seconds: float | None) -> str:
    """An elapsed time: 42s, 3m05s, 2h07m."""
    if seconds is None or _bad(seconds) or seconds < 0:
        return MISSING
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def fmt_clock(at: float) -> str:
    """Unix seconds as UTC `HH:MM:SS` (UTC so that every operator reads the same log)."""
    return time.strftime("%H:%M:%S", time.gmtime(at))


def short_site(name: str, width: int = 6) -> str:
    """A site name that fits a narrow column header, keeping its trailing number.

    `riyadh-1` -> `riyad1` at width 6; names that fit are returned unchanged.
    """
    if len(name) <= width:
        return name
    head, _, tail = name.rpartition("-")
    if head and tail.isalnum() and len(tail) < width:
        return head[: width - len(tail)] + tail
    return name[:width]


def top_shares(share: Mapping[str, float], limit: int = 2, *, width: int = 6) -> str:
    """The largest shares of a site map as `riyad1 80% virgi1 20%` (for narrow tables)."""
    ranked = sorted(share.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{short_site(n, width)} {fmt_pct(f)}" for n, f in ranked[:limit] if f > 0]
    return " ".join(parts) if parts else MISSING
