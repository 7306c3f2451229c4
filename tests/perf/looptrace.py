"""Where a site's late chunk writes come from (`bench_site_timing.py --trace`).

Installed in the server process before the sites start, it wraps the few callables
that hold a site's event loop for long (the pacer's burst of writes, the engine's
advance and dispatch, request intake, garbage collections) and records each one's
start and end on `time.monotonic()`, plus every chunk write with its scheduled
time. `summary()` then takes the writes that left the server more than a threshold
after their time and asks, for each, what the loop was doing between the chunk's
release time and its write: the share of that delay spent in each kind of event
(the rest is what the tracer cannot see: aiohttp's own request parsing, socket reads,
other callbacks). A diagnostic, not a test; it costs a few microseconds per event.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections import defaultdict
from typing import Any

import numpy as np

_spans: list[tuple[float, float, str]] = []  # (start, end, kind)
# (written at, scheduled at, site, position in its burst, that burst's start)
_writes: list[tuple[float, float, str, int, float]] = []
_fire_pos = [0]
_fire_t0 = [0.0]
_fire_sizes: list[int] = []  # writes per pacer timer
_last_read: dict[int, float] = {}  # id(protocol) -> its last read (RequestHandler has slots)
_handler_waits: list[float] = []  # ms from a request's last read to its handler's start
_gc_start = [0.0]


def _timed(kind: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            _spans.append((t0, time.monotonic(), kind))

    return wrapper


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    now = time.monotonic()
    if phase == "start":
        _gc_start[0] = now
    else:
        _spans.append((_gc_start[0], now, f"gc{info['generation']}"))


def install() -> None:
    from sites.engines.gpu import GPUEngine
    from sites.engines.lpu import LPUEngine
    from sites.server import handlers, openai_api
    from sites.server.driver import SiteDriver
    from sites.server.pacer import Pacer

    fire = Pacer._fire

    def traced_fire(self: Pacer) -> None:
        _fire_pos[0] = 0
        t0 = _fire_t0[0] = time.monotonic()
        try:
            fire(self)
        finally:
            _spans.append((t0, time.monotonic(), "fire"))
            _fire_sizes.append(_fire_pos[0])

    Pacer._fire = traced_fire  # type: ignore[method-assign]
    write = handlers.SSESink.write

    def traced_write(self: Any, stream: Any, chunk: Any) -> bool:
        ok = write(self, stream, chunk)
        _writes.append(
            (
                time.monotonic(),
                self.rt.monotonic(chunk.last_at),
                self.rt.site.name,
                _fire_pos[0],
                _fire_t0[0],
            )
        )
        _fire_pos[0] += 1
        return ok

    handlers.SSESink.write = traced_write  # type: ignore[method-assign]
    GPUEngine.advance = _timed("advance", GPUEngine.advance)  # type: ignore[method-assign]
    LPUEngine.advance = _timed("advance", LPUEngine.advance)  # type: ignore[method-assign]
    SiteDriver._dispatch = _timed("dispatch", SiteDriver._dispatch)  # type: ignore[method-assign]
    SiteDriver.submit = _timed("submit", SiteDriver.submit)  # type: ignore[method-assign]
    handlers.parse_request = _timed("parse", openai_api.parse_request)
    gc.callbacks.append(_gc_callback)

    from aiohttp import web_protocol

    received = web_protocol.RequestHandler.data_received

    def traced_received(self: Any, data: bytes) -> None:
        t0 = time.monotonic()
        _last_read[id(self)] = t0  # the last read: a request's body ends with it
        received(self, data)
        _spans.append((t0, time.monotonic(), "read"))

    web_protocol.RequestHandler.data_received = traced_received  # type: ignore[method-assign]
    complete = handlers._complete

    async def traced_complete(request: Any, kind: Any) -> Any:
        rx = _last_read.get(id(request.protocol))
        if rx is not None:
            _handler_waits.append((time.monotonic() - rx) * 1000)
        return await complete(request, kind)

    handlers._complete = traced_complete


def summary(threshold_ms: float = 2.0) -> str:
    """What overlapped the late writes, by kind of event."""
    if not _writes:
        return "looptrace: no writes recorded"
    spans = sorted(_spans)
    starts = [s[0] for s in spans]
    late = [x for x in _writes if (x[0] - x[1]) * 1000 > threshold_ms]
    lines = [
        f"looptrace: {len(_writes)} writes, {len(late)} more than {threshold_ms:g} ms after "
        f"their time ({100 * len(late) / len(_writes):.2f}%)"
    ]
    by_site: dict[str, list[float]] = defaultdict(list)
    for w, s, site, *_ in _writes:
        by_site[site].append((w - s) * 1000)
    for site, lag in sorted(by_site.items()):
        a = np.array(lag)
        lines.append(
            f"  {site}: write - schedule ms p50 {np.percentile(a, 50):.2f} p99 "
            f"{np.percentile(a, 99):.2f} max {a.max():.2f}"
        )
    totals: dict[str, float] = defaultdict(float)
    window_total = 0.0
    in_burst = [(w - t0) * 1000 for w, _, _, _, t0 in late]
    start_late = [(t0 - s) * 1000 for _, s, _, _, t0 in late]
    if late:
        lines.append(
            f"  late writes: burst started after the schedule by p50 "
            f"{np.percentile(start_late, 50):.2f} ms (p90 {np.percentile(start_late, 90):.2f}); "
            f"written after the burst's start by p50 {np.percentile(in_burst, 50):.2f} ms "
            f"(p90 {np.percentile(in_burst, 90):.2f})"
        )
    for _, s, _, _, t0 in late:
        lo, w = s, t0  # what held the loop before the burst that wrote it began
        if w <= lo:
            continue  # that burst began in time: the write was late inside it
        window_total += w - lo
        i = bisect.bisect_left(starts, lo - 0.05)  # no event lasts 50 ms
        while i < len(spans) and spans[i][0] < w:
            a, b, kind = spans[i]
            overlap = min(b, w) - max(a, lo)
            if overlap > 0:
                totals[kind] += overlap
            i += 1
    if window_total > 0:
        lines.append("  share of the late bursts' start delay (schedule -> burst start) spent in:")
        for kind, t in sorted(totals.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {kind:9s} {100 * t / window_total:6.1f}%")
    per_kind: dict[str, list[float]] = defaultdict(list)
    for a, b, kind in spans:
        per_kind[kind].append((b - a) * 1000)
    lines.append("  event durations ms (count, p50, p99, max):")
    for kind, d in sorted(per_kind.items()):
        arr = np.array(d)
        lines.append(
            f"    {kind:9s} {len(arr):7d} {np.percentile(arr, 50):7.3f} "
            f"{np.percentile(arr, 99):7.3f} {arr.max():7.3f}"
        )
    if _handler_waits:
        hw = np.array(_handler_waits)
        lines.append(
            f"  intake inside the site: last read of a request -> its handler starts, ms: "
            f"p50 {np.percentile(hw, 50):.2f} p99 {np.percentile(hw, 99):.2f} max {hw.max():.2f}"
        )
    sizes = np.array(_fire_sizes or [0])
    fires = [b - a for a, b, k in spans if k == "fire"]
    per_write = 1000 * sum(fires) / max(1, int(sizes.sum()))
    lines.append(
        f"  writes per pacer timer: p50 {np.percentile(sizes, 50):.0f} p99 "
        f"{np.percentile(sizes, 99):.0f} max {sizes.max()}; {per_write * 1000:.1f} us of "
        "timer callback per write"
    )
    pos = np.array([x[3] for x in late]) if late else np.array([0])
    lines.append(f"  late writes' position in their burst: p50 {np.percentile(pos, 50):.0f}")
    return "\n".join(lines)
