"""The pacer: one timer that writes every open stream's chunks at their times.

A handler task per stream, woken by its own timer for every chunk, costs a future, a
timer handle and a task switch per chunk; when a GPU batch emits 200 tokens at the
same instant that serial work spreads the 200 writes over ~8 ms on a busy core. The
pacer instead keeps one heap of (release time, stream) for all streams of a site and,
when its single timer fires, writes every due chunk synchronously through each
stream's `ChunkSink` (a few microseconds each: format, frame, `transport.write`).
The handler only awaits its stream's `finished` future.

It follows the driver's coalescing rules exactly (it uses the stream's own `_plan`,
`_last_due` and `_take`), and it never writes a final chunk before the engine's
result for that request is in hand (the `georoute` object needs it).

What keeps a burst short (tests/perf/bench_site_timing.py measures it):
- a fired timer writes every due chunk back to back, then plans each stream's next
  chunk (the plan is made once, when tokens arrive, and rides in the heap entry);
- no instant gets more writes planned than `SiteDriver.burst_cap` (max_burst_s at
  the measured cost per write): a stream that would land on a full instant ends its
  chunk at a later token (stream.py, rule 2);
- the engine loop flushes releasable chunks before its CPU-heavy step (`flush_due`);
- the timer aims `TIMER_SLACK_S` after the earliest release, for uvloop's
  millisecond timers;
- within a burst, first tokens are written first (TTFT is what a client notices).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from sites.server.stream import Chunk, StreamDroppedError, TokenStream

if TYPE_CHECKING:
    from sites.server.driver import SiteDriver


class ChunkSink(Protocol):
    """Writes one chunk of one stream now; False when the client is gone."""

    def write(self, stream: TokenStream, chunk: Chunk) -> bool: ...


# uvloop's timers count whole milliseconds from a truncated clock, so one can fire up
# to 1.5 ms early; re-arming for the rest then spins through zero-delay timers (20 per
# chunk, 1.2 s of CPU in a 20 s run). So the timer aims `slack` after the earliest
# allowed release (never more than the margin itself) and, when it fires, every chunk
# whose earliest release has passed goes: writes land within +-slack of the aim, never
# earlier than `release_early_s` before their time, with no spinning.
TIMER_SLACK_S = 0.0005


_PACERS: weakref.WeakSet[Pacer] = weakref.WeakSet()


def flush_all_due() -> None:
    """`Pacer.flush_due` for every site in this process: called between pieces of other
    CPU work on the loop (request intake, a big dispatch), so that chunks falling due
    meanwhile wait for one piece, not for a whole run of them (a closed-loop client
    population sends dozens of requests at once when a round of streams ends)."""
    for pacer in list(_PACERS):
        pacer.flush_due()


class ClientGoneError(ConnectionResetError):
    """The sink could not write: the connection is closed."""


class Pacer:
    """Writes the chunks of every attached stream at their scheduled times."""

    def __init__(self, driver: SiteDriver) -> None:
        self._driver = driver
        _PACERS.add(self)  # so sites in one process can keep clear of each other's bursts
        # (aimed release time, 0 for a first token else 1, tie-break, stream version,
        # stream, planned last token index): within a burst first tokens go first
        self._heap: list[tuple[float, int, int, int, TokenStream, int]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._batching = 0  # inside _fire or a dispatch: arm once at the end, not per stream
        self._knobs: tuple[float, float, int] | None = None  # (gap, early, cap) in a batch
        self._load: dict[float, int] = {}  # planned writes per clock instant (burst cap)
        self._slack_s = min(TIMER_SLACK_S, driver.early_s)  # never beyond the fixed margin

    def attach(self, stream: TokenStream, sink: ChunkSink) -> asyncio.Future[None]:
        """Hand `stream` to the pacer; the future resolves when its final chunk is
        written, or fails (StreamDroppedError, ClientGoneError)."""
        stream.sink = sink
        stream.finished = asyncio.get_running_loop().create_future()
        self.schedule(stream)
        return stream.finished

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._load.clear()

    def burst_before(self, until: float, writes: int) -> float | None:
        """The earliest instant up to clock time `until` with at least `writes` planned."""
        best = None
        for at, n in self._load.items():
            if n >= writes and at <= until and (best is None or at < best):
                best = at
        return best

    def others_burst_before(self, until: float, writes: int) -> float | None:
        """`burst_before` over the other pacers of this process (other sites)."""
        found = [
            at
            for p in list(_PACERS)
            if p is not self and (at := p.burst_before(until, writes)) is not None
        ]
        return min(found, default=None)

    def busiest_before(self, until: float) -> int:
        """The most writes planned for one instant up to clock time `until` (0 if none):
        a garbage collection started now should not land on a big burst."""
        return max((n for at, n in self._load.items() if at <= until), default=0)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Schedule many streams at once (a dispatch of engine tokens): the coalescing
        gap and release margin are computed once, and the timer armed once."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self._knobs = None
                self._arm()

    def _gap_early_cap(self) -> tuple[float, float, int]:
        knobs = self._knobs
        if knobs is None:
            driver = self._driver
            knobs = (driver.min_gap_s(), driver.release_early_s(), driver.burst_cap())
            if self._batching:
                self._knobs = knobs
        return knobs

    def _unload(self, at: float) -> None:
        left = self._load.get(at, 0) - 1  # (nothing there after `stop`)
        if left > 0:
            self._load[at] = left
        else:
            self._load.pop(at, None)

    def schedule(self, stream: TokenStream) -> None:
        """(Re)plan a stream's next chunk; called whenever something about it changed
        (its result, a drop, a change of the time map) or, via `TokenStream._push`,
        when new tokens arrive for a stream that has no chunk planned (tokens that
        arrive later than a planned chunk's last token cannot change that plan)."""
        fut = stream.finished
        stream.pace_version += 1  # any entry already in the heap is stale now
        if stream.queued:
            stream.queued = False
            self._unload(stream.planned_at)
        if fut is None or fut.done():
            return
        if stream.dropped is not None:
            fut.set_exception(StreamDroppedError(stream.dropped))
            return
        gap, early, cap = self._gap_early_cap()
        load = self._load
        plan = stream._plan(gap, lambda at: load.get(at, 0) >= cap)
        if plan is None:
            return
        index, at = plan
        if not math.isfinite(at):  # hung: nothing until the time map moves again
            return
        if index >= stream.output_tokens - 1 and stream.result is None:
            return  # the final chunk waits for the engine's result (_finish reschedules)
        aim = at - early + self._slack_s  # see TIMER_SLACK_S
        entry = (aim, 1 if index else 0, next(self._seq), stream.pace_version, stream, index)
        heapq.heappush(self._heap, entry)
        stream.queued = True
        stream.planned_at = at
        load[at] = load.get(at, 0) + 1
        if not self._batching:
            self._arm()

    def _arm(self) -> None:
        if not self._heap or self._batching:
            return
        first = self._heap[0][0]
        if self._timer is not None and self._timer_at <= first:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, first - self._driver.clock.now()), self._fire)
        self._timer_at = first

    def flush_due(self) -> None:
        """Write now whatever may be released now (before the engine loop's CPU-heavy
        step), rather than when the timer gets its turn."""
        if self._heap and self._heap[0][0] - self._slack_s <= self._driver.clock.now():
            if self._timer is not None:
                self._timer.cancel()
            self._fire()

    def _fire(self) -> None:
        """Write every due chunk, then do the bookkeeping: the writes due at one
        instant (a GPU batch) go out back to back, each costing little more than its
        `transport.write`, and the next chunk of each stream is planned afterwards."""
        self._timer = None
        self._timer_at = math.inf
        driver = self._driver
        now = driver.clock.now()
        heap = self._heap
        slack = self._slack_s
        self._batching += 1
        started = time.perf_counter()
        written: list[tuple[TokenStream, Chunk | None]] = []
        try:
            while heap and heap[0][0] - slack <= now:
                _, _, _, version, stream, index = heapq.heappop(heap)
                if version != stream.pace_version:
                    continue  # stale: its slot was given back when it was replanned
                stream.queued = False
                self._unload(stream.planned_at)
                fut = stream.finished
                if fut is None or fut.done():
                    continue
                try:
                    written.append((stream, self._write_due(stream, index, now)))
                except Exception as exc:  # one broken stream must not stop the others
                    if not fut.done():
                        fut.set_exception(exc)
            elapsed = time.perf_counter() - started
            for stream, chunk in written:
                fut = stream.finished
                assert fut is not None
                if fut.done():
                    continue
                if chunk is not None and chunk.final:
                    fut.set_result(None)
                else:
                    self.schedule(stream)
        finally:
            self._batching -= 1
            self._knobs = None
            self._arm()
        if len(written) >= 4:  # a burst: measure what one write costs on this machine
            driver.observe_write_cost(elapsed / len(written))

    def _write_due(self, stream: TokenStream, index: int, now: float) -> Chunk | None:
        """Write the stream's due chunk (its planned last token `index`, or later ones
        already due); None if nothing was written (the stream is replanned)."""
        index = max(index, stream._last_due(now, self._gap_early_cap()[1]))
        if index >= stream.output_tokens - 1 and stream.result is None:
            index = stream.output_tokens - 2  # everything but the final token
            if index < stream.next_index:
                return None
        chunk = stream._take(index)
        sink = stream.sink
        assert sink is not None
        if not sink.write(stream, chunk):
            assert stream.finished is not None
            stream.finished.set_exception(ClientGoneError("the client closed the connection"))
        return chunk
