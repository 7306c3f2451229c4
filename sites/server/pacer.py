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
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from typing import TYPE_CHECKING, Protocol

from sites.server.stream import Chunk, StreamDroppedError, TokenStream

if TYPE_CHECKING:
    from sites.server.driver import SiteDriver


class ChunkSink(Protocol):
    """Writes one chunk of one stream now; False when the client is gone."""

    def write(self, stream: TokenStream, chunk: Chunk) -> bool: ...


class ClientGoneError(ConnectionResetError):
    """The sink could not write: the connection is closed."""


class Pacer:
    """Writes the chunks of every attached stream at their scheduled times."""

    def __init__(self, driver: SiteDriver) -> None:
        self._driver = driver
        self._heap: list[tuple[float, int, int, TokenStream]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._firing = False  # inside _fire: arm once at the end, not per stream

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

    def schedule(self, stream: TokenStream) -> None:
        """(Re)plan a stream's next chunk; called whenever something about it changed
        (new tokens, its result, a drop, a change of the time map)."""
        fut = stream.finished
        if fut is None or fut.done():
            return
        if stream.dropped is not None:
            fut.set_exception(StreamDroppedError(stream.dropped))
            return
        plan = stream._plan(self._driver.min_gap_s())
        if plan is None:
            return
        index, at = plan
        if not math.isfinite(at):  # hung: nothing until the time map moves again
            return
        if index >= stream.output_tokens - 1 and stream.result is None:
            return  # the final chunk waits for the engine's result (_finish reschedules)
        stream.pace_version += 1
        release = at - self._driver.release_early_s()
        heapq.heappush(self._heap, (release, next(self._seq), stream.pace_version, stream))
        self._arm()

    def _arm(self) -> None:
        if not self._heap or self._firing:
            return
        first = self._heap[0][0]
        if self._timer is not None and self._timer_at <= first:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, first - self._driver.clock.now()), self._fire)
        self._timer_at = first

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        driver = self._driver
        now = driver.clock.now()
        heap = self._heap
        self._firing = True
        started = time.perf_counter()
        writes = 0
        try:
            while heap and heap[0][0] <= now:
                _, _, version, stream = heapq.heappop(heap)
                fut = stream.finished
                if version != stream.pace_version or fut is None or fut.done():
                    continue
                try:
                    writes += self._write_due(stream, fut, now)
                except Exception as exc:  # one broken stream must not stop the others
                    if not fut.done():
                        fut.set_exception(exc)
        finally:
            self._firing = False
            self._arm()
        if writes >= 4:  # a burst: measure what one write costs on this machine
            driver.observe_write_cost((time.perf_counter() - started) / writes)

    def _write_due(self, stream: TokenStream, fut: asyncio.Future[None], now: float) -> int:
        """Write the stream's due chunk, if any; returns the number of writes (0 or 1)."""
        plan = stream._plan(self._driver.min_gap_s())
        if plan is None:
            return 0
        index, at = plan
        if at - self._driver.release_early_s() > now:
            self.schedule(stream)
            return 0
        index = max(index, stream._last_due(now))
        if index >= stream.output_tokens - 1 and stream.result is None:
            index = stream.output_tokens - 2  # everything but the final token
            if index < stream.next_index:
                return 0
        chunk = stream._take(index)
        sink = stream.sink
        assert sink is not None
        written = sink.write(stream, chunk)
        if not written:
            fut.set_exception(ClientGoneError("the client closed the connection"))
        elif chunk.final:
            fut.set_result(None)
        else:
            self.schedule(stream)
        return 1
