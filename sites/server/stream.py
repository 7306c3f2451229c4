"""One request's tokens on their way to the client: `TokenStream` (plus the
`TimeMap` between engine and wall time, and `Chunk`).

Coalescing rule (what a chunk holds, and when it is sent):
1. The first token is always sent alone, at its scheduled time: TTFT is never
   delayed by coalescing.
2. A later chunk ends at the first pending token scheduled at least `min_gap` after
   the previous chunk's last token (or at the request's final token), and is sent at
   that token's scheduled time; it carries every token before it too. `min_gap` =
   open streams / the site's chunk budget, so a GPU at 30 ms per token sends a chunk
   per token, while an LPU at 1 ms per token to hundreds of clients sends fewer,
   larger chunks instead of falling behind. The budget is `max_chunks_per_s`, or less
   on a slow machine: at most `write_share` of the event loop's time at the measured
   cost of one chunk write (a loopback `send` costs 20-150 us here). And since a GPU
   batch stamps all its sequences' tokens with one instant, `min_gap` also keeps the
   writes due at any one instant within `max_burst_s`: at least burst x write cost x
   token interval / max_burst_s. Each stream's gap is its own multiple of `min_gap`,
   in [0.5, 1.5) (from a hash of the request id), so streams that started together
   drift apart instead of writing at the same instants. The gaps only bound the
   average: the pacer also caps the writes it plans for any one instant at
   max_burst_s / chunk_cost_s (`SiteDriver.burst_cap`); a stream whose chunk would
   land on a full instant ends it at a later token instead (more tokens, same rule:
   sent at its last token's time). First and final tokens are exempt.
3. When a stream wakes late (the loop was busy), its chunk also takes every token
   already due: a late writer catches up in one write rather than queueing more.
4. Chunks are released up to `early_s` before their scheduled time: asyncio's timers
   fire up to 1 ms late (epoll's millisecond resolution), and releasing within half
   of that centres the error on zero instead of biasing it late. When n writes are
   due at the same instant (a GPU batch, thinned by the gaps of rule 2), they take
   about n x `chunk_cost_s` on one event loop, so they start a further half of that
   early (at most `max_spread_s`): the arrivals centre on the scheduled time instead
   of trailing it by the whole burst.
A chunk's timing is judged by its last token, which is never sent after its time
except by event-loop lag.
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sites.engine_api import RequestResult, TokenRun

if TYPE_CHECKING:
    from sites.server.driver import SiteDriver
    from sites.server.pacer import ChunkSink


class StreamDroppedError(Exception):
    """The site cut this stream (a `drop_streams` fault or an engine failure)."""


class TimeMap:
    """Piecewise-linear map between engine seconds and clock seconds."""

    __slots__ = ("_engine_at", "_factor", "_wall_at")

    def __init__(self) -> None:
        self._engine_at = 0.0
        self._wall_at = 0.0
        self._factor = 1.0

    @property
    def factor(self) -> float:
        return self._factor

    def to_wall(self, engine_t: float) -> float:
        """Clock time of engine time `engine_t` (inf if it lies beyond a freeze)."""
        delta = engine_t - self._engine_at
        if math.isinf(self._factor):
            return self._wall_at + delta if delta <= 0 else math.inf
        return self._wall_at + delta * self._factor

    def to_engine(self, wall_t: float) -> float:
        if math.isinf(self._factor):
            return self._engine_at
        return self._engine_at + (wall_t - self._wall_at) / self._factor

    def rescale(self, factor: float, now: float) -> None:
        """From clock time `now` on, one engine second takes `factor` clock seconds."""
        self._engine_at = self.to_engine(now)
        self._wall_at = now
        self._factor = factor


@dataclass(frozen=True, slots=True)
class Chunk:
    """Tokens `first_index .. first_index + count - 1`; `last_at` is the clock time the
    last of them was scheduled for."""

    first_index: int
    count: int
    last_at: float
    final: bool


class TokenStream:
    """One request's tokens as they become known, paced onto the wall clock."""

    def __init__(
        self,
        driver: SiteDriver,
        request_id: str,
        *,
        prompt_tokens: int,
        output_tokens: int,
        arrived_at: float,
    ) -> None:
        self.request_id = request_id
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.arrived_at = arrived_at  # clock seconds
        self.result: RequestResult | None = None
        self.first_token_at: float | None = None  # scheduled clock times
        self.last_token_at: float | None = None
        self.dropped: str | None = None
        self.chunks = 0
        self._driver = driver
        self._runs: deque[TokenRun] = deque()
        self._known = 0  # tokens whose timestamps are known
        self.known_until_e = math.inf  # engine time of the last known token
        self._next = 0  # next token to hand out
        self._waiter: asyncio.Future[None] | None = None
        # set when a streaming response hands the stream to the driver's pacer
        self.phase = zlib.crc32(request_id.encode()) / 2.0**32  # in [0, 1)
        self.sink: ChunkSink | None = None
        self.finished: asyncio.Future[None] | None = None
        self.pace_version = 0
        self.queued = False  # the pacer holds a valid planned chunk for this stream
        self.planned_at = 0.0  # that chunk's clock time, while queued
        self.wait_until_e = -math.inf  # no plan until tokens up to this engine time are known

    @property
    def done(self) -> bool:
        return self._next >= self.output_tokens

    @property
    def next_index(self) -> int:
        """The next token to be handed out."""
        return self._next

    # --- driver side ---------------------------------------------------------
    def _push(self, run: TokenRun) -> None:
        end = min(run.first_index + run.count, self.output_tokens)
        if end <= self._known:
            return
        skip = max(0, self._known - run.first_index)  # overlap with what we have
        count = end - run.first_index - skip
        if self._known == 0:  # scheduled TTFT, known before the token is sent
            self.first_token_at = self._driver.time.to_wall(run.at(skip))
        if skip == 0 and run.first_index == self._known and count == run.count:
            self._runs.append(run)  # the usual case: the next tokens, as they are
        else:
            self._runs.append(
                TokenRun(run.request_id, self._known, count, run.at(skip), run.interval_s)
            )
        self._known += count
        self.known_until_e = self._runs[-1].last_at
        # the pacer replans only a stream with no chunk planned whose plan may have
        # become possible (the tokens it waits for are known now, or all of them are)
        if self.sink is None or (
            not self.queued
            and (
                self.known_until_e >= self.wait_until_e - 1e-9 or self._known >= self.output_tokens
            )
        ):
            self._wake()

    def _finish(self, result: RequestResult) -> None:
        self.result = result
        self._wake()

    def _drop(self, reason: str) -> None:
        self.dropped = reason
        self._wake()

    def _wake(self) -> None:
        if self.sink is not None:
            self._driver.pacer.schedule(self)
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- handler side --------------------------------------------------------
    async def next_chunk(self, *, whole: bool = False) -> Chunk | None:
        """Wait for the next chunk (per the coalescing rule) and return it at its
        time; None once every token was handed out. `whole=True` returns all the
        output as one chunk at the final token's time (non-streaming responses)."""
        clock = self._driver.clock
        while True:
            if self.dropped is not None:
                raise StreamDroppedError(self.dropped)
            if self._next >= self.output_tokens:
                return None
            plan = self._plan(math.inf if whole else self._driver.min_gap_s())
            if plan is None:
                await self._wait(None)
                continue
            index, at = plan
            now = clock.now()
            early = self._driver.release_early_s()
            if at - early > now:
                await self._wait(at - early)
                continue
            return self._take(max(index, self._last_due(now)))

    async def wait_result(self) -> RequestResult:
        """The engine's result for this request (normally already in hand when the
        final chunk is sent: the engine reports it with the last token)."""
        while self.result is None:
            if self.dropped is not None:
                raise StreamDroppedError(self.dropped)
            await self._wait(None)
        return self.result

    async def _wait(self, wall_at: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = None
        if wall_at is not None and math.isfinite(wall_at):
            timer = loop.call_later(max(0.0, wall_at - self._driver.clock.now()), self._wake)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _plan(
        self, min_gap_s: float, full: Callable[[float], bool] | None = None
    ) -> tuple[int, float] | None:
        """The index and clock time of the next chunk's last token, or None when the
        tokens that decide it are not known yet. `full(at)` says that clock instant
        already holds as many writes as it may (the pacer's burst cap): the chunk then
        ends at a later token instead (never for the first or the final token)."""
        self.wait_until_e = -math.inf
        if not self._runs:
            return None
        to_wall = self._driver.time.to_wall
        if math.isinf(min_gap_s):  # everything at once, at the final token's time
            if self._known < self.output_tokens:
                return None
            return self.output_tokens - 1, to_wall(self._runs[-1].last_at)
        if self._next == 0:
            return 0, to_wall(self._runs[0].first_at)
        assert self.last_token_at is not None
        # each stream's gaps are its own multiple of min_gap, in [0.5, 1.5): streams
        # that started together drift apart instead of writing at the same instants
        min_gap_s *= 0.5 + self.phase
        target = self._driver.time.to_engine(self.last_token_at + min_gap_s)
        last_index = self.output_tokens - 1
        for run in self._runs:
            lo = max(0, self._next - run.first_index)
            if run.last_at < target:
                continue
            if run.interval_s > 0 and target > run.first_at:
                j = max(lo, math.ceil((target - run.first_at) / run.interval_s - 1e-9))
            else:
                j = lo
            j = min(j, run.count - 1)
            while j < run.count:
                at = to_wall(run.at(j))
                if full is None or run.first_index + j >= last_index or not full(at):
                    return run.first_index + j, at
                j += 1  # that instant is full: end the chunk at a later token
            target = -math.inf  # every remaining token of this run falls on a full instant
        if self._known >= self.output_tokens:
            last = self._runs[-1]
            return self.output_tokens - 1, to_wall(last.last_at)
        self.wait_until_e = target  # the tokens that decide it come later
        return None

    def _last_due(self, now: float, early_s: float | None = None) -> int:
        """The index of the last known token that may be released at clock time `now`
        (scheduled no later than `now` plus the release margin, `early_s` if given)."""
        if early_s is None:
            early_s = self._driver.release_early_s()
        horizon = self._driver.time.to_engine(now + early_s)
        due = self._next - 1
        for run in self._runs:
            if run.first_at > horizon:
                break
            if run.interval_s > 0:
                j = min(run.count - 1, int((horizon - run.first_at) / run.interval_s))
            else:
                j = run.count - 1
            due = run.first_index + j
        return due

    def _take(self, index: int) -> Chunk:
        first = self._next
        engine_at = math.nan
        while self._runs:
            run = self._runs[0]
            end = run.first_index + run.count - 1
            if run.first_index <= index <= end:
                engine_at = run.at(index - run.first_index)
            if end <= index:
                self._runs.popleft()
            if end >= index:
                break
        at = self._driver.time.to_wall(engine_at)
        self._next = index + 1
        if index == 0:
            self.first_token_at = at
        self.last_token_at = at
        self.chunks += 1
        return Chunk(first, index + 1 - first, at, self._next >= self.output_tokens)
