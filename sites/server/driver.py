"""The real-clock engine loop: an engine simulator paced by the wall clock.

One `SiteDriver` per site runs a task on the event loop that advances the engine
(`advance(until)`) and hands each request's `TokenStream` its token runs (simulated
timestamps; a token is stamped at the end of the iteration that makes it, so it is
known at least one iteration ahead). Streaming responses are written by the site's
`Pacer` (pacer.py: one timer for all streams, writes straight to each connection);
non-streaming responses, and HTTP/1.0 streams, pull chunks with `next_chunk`, which
sleeps until the wall-clock time of the chunk's last token. Both apply the same rules.

When to advance, and how far (`Pacing.horizon_s`):
- Continuous batching (GPUs), horizon = 0: an iteration's batch is fixed (the engine
  advanced past its start) `lead` before it starts, where `lead` is how early the
  pacer may release the tokens of the iteration before it (`release_early_s`): the
  loop wakes at the next iteration boundary (the earliest time any open stream runs
  out of known tokens, or the engine's next event; for an idle engine, the first
  arrival) minus lead. So no token of iteration k leaves the site before iteration
  k+1's batch is fixed, as on vLLM or TRT-LLM, whose scheduler plans step k+1 before
  step k's output reaches any client. A request is stamped with its true arrival and
  joins the first iteration not yet fixed: one arriving while an iteration runs (or
  is fixed) waits for the next. A closed-loop client, which needs some time to answer
  its last token with the next request, therefore misses the iteration that follows
  that token; `georoute predict` models the same with a client turnaround
  (`sites.predict`). An idle engine starts an iteration at the first arrival.
- Static schedules (LPUs), horizon = +lookahead: a flight's whole timeline is fixed
  when it is admitted, so the loop runs `lookahead` ahead and wakes when the earliest
  stream has less than half of it left: a wake every lookahead/2, not every token.

Engine time and wall time are tied by a `TimeMap`: identical until a `slow` fault
stretches it (factor F: one engine second takes F wall seconds) or a `hang` freezes
it. Re-anchoring at each change keeps the map continuous, so open streams slow down
or stall from that moment on and resume where they stopped.

The coalescing rules that decide what each chunk holds and when it leaves live in
`sites.server.stream` (`TokenStream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from sites.clock import Clock
from sites.engine_api import Engine, EngineRequest, RequestResult, StepReport
from sites.server.pacer import Pacer, flush_all_due
from sites.server.stream import Chunk, StreamDroppedError, TimeMap, TokenStream

__all__ = ["Chunk", "Pacing", "SiteDriver", "StreamDroppedError", "TimeMap", "TokenStream"]

log = logging.getLogger(__name__)

DEFAULT_MAX_CHUNKS_PER_S = 4000.0
DEFAULT_LOOKAHEAD_S = 0.05  # static schedules: keep 25-50 ms of tokens known
DEFAULT_EARLY_S = 0.0005
DEFAULT_CHUNK_COST_S = 30e-6  # first guess of one chunk write; the pacer measures it
DEFAULT_WRITE_SHARE = 0.25  # of the event loop's time, at most, for writing chunks
DEFAULT_MAX_SPREAD_S = 0.004
DEFAULT_MAX_BURST_S = 0.003  # writes due at one instant should take no longer than this
STEP_GUARD_S = 0.006  # a lookahead engine's step keeps this clear of other sites' bursts
FLUSH_EVERY_RUNS = 32  # a dispatch lets due chunks out after this many streams' tokens
STEP_GUARD_WRITES = 8  # ... of at least this many writes planned for one instant


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """Driver knobs: the site's chunk budget (coalescing), how far past the wall clock
    the engine is advanced (positive: a static schedule's lookahead; 0: continuous
    batching, committed just before each iteration), and how early a due chunk may be
    released."""

    max_chunks_per_s: float = DEFAULT_MAX_CHUNKS_PER_S
    horizon_s: float = 0.0
    early_s: float = DEFAULT_EARLY_S
    chunk_cost_s: float = DEFAULT_CHUNK_COST_S
    max_spread_s: float = DEFAULT_MAX_SPREAD_S
    write_share: float = DEFAULT_WRITE_SHARE
    max_burst_s: float = DEFAULT_MAX_BURST_S

    def __post_init__(self) -> None:
        if not self.max_chunks_per_s > 0:
            raise ValueError("max_chunks_per_s must be positive")
        if self.horizon_s < 0:
            raise ValueError("horizon_s must not be negative")
        if self.early_s < 0:
            raise ValueError("early_s must not be negative")

    @classmethod
    def for_hardware_kind(cls, kind: str, **overrides: float) -> Pacing:
        """Defaults per engine family: continuous batching commits each iteration as
        it starts, the LPU's static pipeline schedules run a lookahead ahead."""
        horizon = DEFAULT_LOOKAHEAD_S if kind == "lpu" else 0.0
        return cls(**{"horizon_s": horizon, **overrides})


class SiteDriver:
    """Runs one engine on the wall clock and routes its tokens to open streams."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        pacing: Pacing | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        pacing = pacing if pacing is not None else Pacing()
        self.engine = engine
        self.clock = clock
        self.time = TimeMap()
        self.max_chunks_per_s = pacing.max_chunks_per_s
        self.horizon_s = pacing.horizon_s
        self.early_s = pacing.early_s
        self.chunk_cost_s = pacing.chunk_cost_s  # updated by the pacer's measurements
        self.max_spread_s = pacing.max_spread_s
        self.write_share = pacing.write_share
        self.max_burst_s = pacing.max_burst_s
        self._burst = 1  # most streams sharing one token time in the last dispatch
        self.streams: dict[str, TokenStream] = {}
        self.failure: BaseException | None = None
        # the engine's latest iteration (token gap); 10 ms until one is seen
        self._iteration_s = 0.010
        self._on_failure = on_failure
        self._task: asyncio.Task[None] | None = None
        self._kick: asyncio.Future[None] | None = None
        self.pacer = Pacer(self)
        self._admit_now = False

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="site-driver")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for stream in list(self.streams.values()):
            stream._drop("site stopped")
        self.streams.clear()
        self.pacer.stop()

    # --- requests ------------------------------------------------------------
    def submit(self, request_id: str, *, prompt_tokens: int, output_tokens: int) -> TokenStream:
        """Queue a request now. Raises EngineCapacityError if it can never fit, and
        StreamDroppedError if the engine loop has failed."""
        if self.failure is not None:
            raise StreamDroppedError(f"engine failed: {self.failure}")
        now = self.clock.now()
        self.engine.submit(
            EngineRequest(
                request_id=request_id,
                prompt_tokens=prompt_tokens,
                output_tokens=output_tokens,
                arrived_at=self.time.to_engine(now),
            )
        )
        stream = TokenStream(
            self,
            request_id,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            arrived_at=now,
        )
        self.streams[request_id] = stream
        self._admit_now = self.horizon_s > 0
        self._wake_loop()
        return stream

    def cancel(self, stream: TokenStream) -> RequestResult | None:
        """Drop a request whose client is gone (frees its batch slot and KV cache)."""
        if self.streams.pop(stream.request_id, None) is None:
            return None
        if stream.result is not None and stream.done:
            return None  # it had finished anyway
        result = self.engine.cancel(stream.request_id, self.time.to_engine(self.clock.now()))
        self._wake_loop()
        return result

    def release(self, stream: TokenStream) -> None:
        """Forget a stream that was served to the end."""
        self.streams.pop(stream.request_id, None)

    def release_early_s(self) -> float:
        """How early a due chunk may go (rule 4 in stream.py): the timer margin plus
        half the writes expected at one instant (a token burst thinned by the gaps)."""
        gap = self.min_gap_s()
        writes = self._burst * min(1.0, self._iteration_s / gap) if gap > 0 else self._burst
        writes = min(writes, self.burst_cap())
        return self.early_s + min(writes * self.chunk_cost_s / 2.0, self.max_spread_s)

    def burst_cap(self) -> int:
        """The most chunk writes the pacer plans for one instant: what fits in
        `max_burst_s` at the measured cost per write (rule 2 in stream.py)."""
        return max(1, int(self.max_burst_s / self.chunk_cost_s))

    def chunks_per_s(self) -> float:
        """The site's chunk budget: the configured maximum, or what `write_share` of
        the loop affords at the measured cost per chunk write."""
        return min(self.max_chunks_per_s, self.write_share / self.chunk_cost_s)

    def min_gap_s(self) -> float:
        """The coalescing gap for each stream: the chunk budget shared by all, and no
        more writes due at one instant than fit in `max_burst_s` (rule 2 in stream.py)."""
        by_budget = len(self.streams) / self.chunks_per_s()
        by_burst = self._burst * self.chunk_cost_s * self._iteration_s / self.max_burst_s
        return max(by_budget, by_burst)

    def observe_write_cost(self, per_chunk_s: float) -> None:
        """The pacer's measurement of one chunk write (moving average, bounded)."""
        sample = min(max(per_chunk_s, 5e-6), 1e-3)
        self.chunk_cost_s = 0.9 * self.chunk_cost_s + 0.1 * sample

    # --- faults --------------------------------------------------------------
    def set_time_factor(self, factor: float) -> None:
        """Stretch (or freeze, with inf) engine time from now on."""
        if factor == self.time.factor:
            return
        self.time.rescale(factor, self.clock.now())
        self._wake_loop()
        with self.pacer.batch():
            for stream in self.streams.values():
                stream._wake()

    def drop_streams(self, reason: str) -> int:
        """Cut every open stream and cancel its request; returns how many."""
        streams = list(self.streams.values())
        at = self.time.to_engine(self.clock.now())
        for stream in streams:
            self.streams.pop(stream.request_id, None)
            self.engine.cancel(stream.request_id, at)
            stream._drop(reason)
        self._wake_loop()
        return len(streams)

    # --- the loop ------------------------------------------------------------
    def _wake_loop(self) -> None:
        kick = self._kick
        if kick is not None and not kick.done():
            kick.set_result(None)

    async def _sleep(self, delay_s: float | None) -> None:
        loop = asyncio.get_running_loop()
        kick: asyncio.Future[None] = loop.create_future()
        self._kick = kick
        timer = None
        if delay_s is not None:
            timer = loop.call_later(delay_s, self._wake_loop)
        try:
            await kick
        finally:
            self._kick = None
            if timer is not None:
                timer.cancel()

    def _boundary_e(self) -> float | None:
        """The next iteration boundary the loop has not committed: the earliest time an
        open stream runs out of known tokens."""
        need = math.inf
        for stream in self.streams.values():
            if stream._known < stream.output_tokens and stream.known_until_e < need:
                need = stream.known_until_e
        return need if need < math.inf else None

    def _lead_s(self) -> float:
        """How long before an iteration starts its batch is fixed (continuous batching):
        the earliest the pacer may release the previous iteration's tokens."""
        return self.release_early_s()

    def _next_wake_e(self) -> float | None:
        """Engine time at which the loop should advance the engine next."""
        if self._admit_now:
            # static schedules: admit a new arrival at once (the engine, already
            # advanced `lookahead` ahead, reports its next event no earlier than that)
            return -math.inf
        times = [t for t in (self.engine.next_event_at(), self._boundary_e()) if t is not None]
        if not times:
            return None
        h = self.horizon_s
        return min(times) + (-h / 2.0 if h > 0 else -self._lead_s())

    def _until_e(self, now_e: float) -> float:
        """How far to advance: a lookahead past now, or the lead (plus a microsecond, so
        that waking exactly at start - lead fixes that iteration)."""
        h = self.horizon_s
        return now_e + h if h > 0 else now_e + self._lead_s() + 1e-6

    async def _run(self) -> None:
        try:
            while True:
                wake_e = self._next_wake_e()
                if wake_e is None:
                    await self._sleep(None)
                    continue
                wait_s = self.time.to_wall(wake_e) - self.clock.now()
                if wait_s > 0:
                    await self._sleep(None if math.isinf(wait_s) else wait_s)
                    continue
                if self.horizon_s > 0:
                    # a static schedule has lookahead to spare: its step (0.8 ms of CPU
                    # at the median, 2.7 ms at p99 under 200 streams) waits until a big
                    # burst of another site in this process, due within the next
                    # STEP_GUARD_S, is out, rather than delay every chunk of it
                    burst_at = self.pacer.others_burst_before(
                        self.clock.now() + STEP_GUARD_S, STEP_GUARD_WRITES
                    )
                    if burst_at is not None:
                        await self._sleep(max(0.0, burst_at + 0.002 - self.clock.now()))
                        continue
                self._admit_now = False
                # chunks already releasable go first: the advance and its dispatch take
                # 1-4 ms of CPU, which a burst due at the same instant (continuous
                # batching wakes just as the last iteration's tokens may leave) would
                # otherwise wait out. Nothing is read in between, so the batch this
                # advance fixes is the same.
                self.pacer.flush_due()
                self._dispatch(
                    self.engine.advance(self._until_e(self.time.to_engine(self.clock.now())))
                )
                # let the writers whose tokens just became due run before the next step
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an engine bug must not leave clients hanging
            log.exception("engine loop failed")
            self.failure = exc
            for stream in list(self.streams.values()):
                stream._drop(f"engine failed: {exc}")
            self.streams.clear()
            if self._on_failure is not None:
                self._on_failure(exc)

    def _dispatch(self, report: StepReport) -> None:
        streams = self.streams
        if report.tokens:
            same: dict[float, int] = {}
            for run in report.tokens:
                same[run.first_at] = same.get(run.first_at, 0) + 1
            # a decaying maximum: one small step (a prefill-only iteration) must not
            # make the next full decode batch look small
            self._burst = max(max(same.values()), int(self._burst * 0.95))
        with self.pacer.batch():
            for i, run in enumerate(report.tokens, 1):
                if run.interval_s > 0:
                    self._iteration_s = run.interval_s
                stream = streams.get(run.request_id)
                if stream is not None:
                    stream._push(run)
                if not i % FLUSH_EVERY_RUNS:  # a 200-stream dispatch takes 0.3-2 ms
                    flush_all_due()
            for result in report.finished:
                stream = streams.get(result.request_id)
                if stream is not None:
                    stream._finish(result)
