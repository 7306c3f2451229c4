"""The pacer (one timer writing every stream's chunks) on a virtual clock: the test
fires it by hand at each instant, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import gc
from collections import Counter

import pytest
from site_fakes import FixedRateEngine

from sites.clock import VirtualClock
from sites.engine_api import RequestResult, TokenRun
from sites.server.driver import Chunk, Pacing, SiteDriver, TokenStream
from sites.server.pacer import TIMER_SLACK_S
from sites.server.runner import QuietCollector

ITERATION_S = 0.030
START_S = 1.0


class RecordingSink:
    def __init__(self, clock: VirtualClock, log: list[tuple[float, str, Chunk]]) -> None:
        self.clock = clock
        self.log = log

    def write(self, stream: TokenStream, chunk: Chunk) -> bool:
        self.log.append((self.clock.now(), stream.request_id, chunk))
        return True


def result(request_id: str, output: int) -> RequestResult:
    return RequestResult(
        request_id=request_id,
        prompt_tokens=10,
        output_tokens=output,
        arrived_at=0.0,
        first_scheduled_at=0.0,
        first_token_at=START_S,
        finished_at=START_S + (output - 1) * ITERATION_S,
        queue_s=0.0,
        ttft_s=START_S,
        tpot_s=ITERATION_S,
        energy_j=0.0,
        cost_usd=0.0,
    )


async def gpu_batch(
    *, streams: int, output: int, pacing: Pacing, chunk_cost_s: float
) -> tuple[list[tuple[float, str, Chunk]], SiteDriver]:
    """`streams` sequences of one GPU batch (every token of every stream stamped with
    the same iteration instants), all known up front, written by hand-fired pacer."""
    clock = VirtualClock()
    driver = SiteDriver(FixedRateEngine(), clock, pacing=pacing)
    driver.chunk_cost_s = chunk_cost_s
    driver.observe_write_cost = lambda per_chunk_s: None  # type: ignore[method-assign]
    driver._iteration_s = ITERATION_S
    log: list[tuple[float, str, Chunk]] = []
    for i in range(streams):
        rid = f"r{i}"
        stream = TokenStream(driver, rid, prompt_tokens=10, output_tokens=output, arrived_at=0.0)
        driver.streams[rid] = stream
        driver.pacer.attach(stream, RecordingSink(clock, log))
    with driver.pacer.batch():
        for stream in driver.streams.values():
            stream._push(TokenRun(stream.request_id, 0, output, START_S, ITERATION_S))
            stream._finish(result(stream.request_id, output))
    for k in range(output):
        clock.advance_to(START_S + k * ITERATION_S)
        driver.pacer._fire()
    driver.pacer.stop()
    return log, driver


async def test_burst_cap_moves_writes_to_later_instants_never_late() -> None:
    # 3 ms per burst at 1 ms per write: at most 3 writes planned for any one instant
    pacing = Pacing(max_burst_s=0.003, max_chunks_per_s=1e9, early_s=0.0)
    log, driver = await gpu_batch(streams=10, output=12, pacing=pacing, chunk_cost_s=0.001)
    assert driver.burst_cap() == 3
    per_stream: dict[str, list[Chunk]] = {}
    for written_at, rid, chunk in log:
        assert written_at == pytest.approx(chunk.last_at)  # on time, never late
        per_stream.setdefault(rid, []).append(chunk)
    for chunks in per_stream.values():  # every token exactly once, in order, then the end
        assert [c.first_index for c in chunks] == [
            sum(c.count for c in chunks[:i]) for i in range(len(chunks))
        ]
        assert sum(c.count for c in chunks) == 12
        assert chunks[-1].final
        assert chunks[0] == Chunk(0, 1, START_S, False)  # TTFT is never delayed
    assert len(per_stream) == 10
    middle = Counter(at for at, _, chunk in log if chunk.first_index > 0 and not chunk.final)
    assert max(middle.values()) <= 3  # the cap holds between the first and final tokens
    assert sum(middle.values()) >= 3 * 10  # and the instants fill up to it
    assert not driver.pacer._load  # every planned slot was given back


async def test_without_pressure_every_token_is_its_own_chunk() -> None:
    pacing = Pacing(max_burst_s=0.003, max_chunks_per_s=1e9, early_s=0.0)
    log, driver = await gpu_batch(streams=4, output=5, pacing=pacing, chunk_cost_s=10e-6)
    assert driver.burst_cap() == 300
    assert Counter(rid for _, rid, _ in log) == {f"r{i}": 5 for i in range(4)}
    assert all(chunk.count == 1 for _, _, chunk in log)


def test_timer_slack_never_exceeds_the_fixed_margin() -> None:
    driver = SiteDriver(FixedRateEngine(), VirtualClock(), pacing=Pacing(early_s=0.0002))
    assert driver.pacer._slack_s == pytest.approx(min(TIMER_SLACK_S, 0.0002))


async def test_a_stream_waiting_for_later_tokens_is_not_replanned_on_every_push() -> None:
    """A GPU stream with a 90 ms gap gets a token every 30 ms iteration: it needs no
    new plan until the token its next chunk ends at is known (a third of the pushes)."""
    clock = VirtualClock()
    pacing = Pacing(max_chunks_per_s=1 / 0.0899, early_s=0.0)  # just under 3 iterations
    driver = SiteDriver(FixedRateEngine(), clock, pacing=pacing)
    driver._iteration_s = ITERATION_S
    log: list[tuple[float, str, Chunk]] = []
    stream = TokenStream(driver, "r0", prompt_tokens=10, output_tokens=13, arrived_at=0.0)
    stream.phase = 0.5  # gaps of exactly min_gap
    driver.streams["r0"] = stream
    driver.pacer.attach(stream, RecordingSink(clock, log))
    plans = 0
    schedule = driver.pacer.schedule

    def counting(s: TokenStream) -> None:
        nonlocal plans
        plans += 1
        schedule(s)

    driver.pacer.schedule = counting  # type: ignore[method-assign]
    for k in range(13):  # token k is known one iteration ahead, as on a real GPU site
        stream._push(TokenRun("r0", k, 1, START_S + k * ITERATION_S, ITERATION_S))
        if k == 12:
            stream._finish(result("r0", 13))
        if k:
            clock.advance_to(START_S + (k - 1) * ITERATION_S)
            driver.pacer._fire()
    clock.advance_to(START_S + 12 * ITERATION_S)
    driver.pacer._fire()
    driver.pacer.stop()
    assert [(c.first_index, c.count) for _, _, c in log] == [
        (0, 1),
        (1, 3),
        (4, 3),
        (7, 3),
        (10, 3),
    ]
    assert all(at == pytest.approx(c.last_at) for at, _, c in log)
    assert plans <= 2 * len(log) + 1  # not one per pushed token (13) plus one per chunk


class FakePacer:
    def __init__(self) -> None:
        self.burst_at: float | None = None  # a 50-write burst at this clock time

    def busiest_before(self, until: float) -> int:
        return 50 if self.burst_at is not None and self.burst_at <= until else 2


async def test_quiet_collector_runs_older_generations_between_bursts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    saved = gc.get_threshold()
    clock = VirtualClock(100.0)
    pacer = FakePacer()
    collector = QuietCollector(
        [pacer],  # type: ignore[list-item]
        clock,
        young_every_s=1.0,
        full_every_s=3.0,
        window_s=0.02,
        max_wait_s=0.5,
    )
    collector.start()
    try:
        assert gc.get_threshold()[0] == saved[0]  # generation 0 stays automatic
        assert min(gc.get_threshold()[1:]) > 1_000_000  # the older ones are ours
        clock.advance_to(101.0)
        pacer.burst_at = 101.01  # a burst within the window: wait
        collector.tick()
        assert collected == []
        clock.advance_to(101.02)  # the burst went out
        pacer.burst_at = None
        collector.tick()
        assert collected == [1]
        clock.advance_to(102.02)
        pacer.burst_at = 0.0  # bursts all the time: collected anyway after max_wait
        collector.tick()
        clock.advance_to(102.3)
        collector.tick()
        assert collected == [1]
        clock.advance_to(102.6)
        collector.tick()
        assert collected == [1, 1]
        clock.advance_to(103.6)  # 3 s since the start: a full collection
        pacer.burst_at = None
        collector.tick()
        assert collected == [1, 1, 2]
    finally:
        collector.stop()
    assert gc.get_threshold() == saved


async def test_a_first_token_goes_first_in_its_burst() -> None:
    clock = VirtualClock()
    pacing = Pacing(max_burst_s=1.0, max_chunks_per_s=1e9, early_s=0.0)
    driver = SiteDriver(FixedRateEngine(), clock, pacing=pacing)
    driver.observe_write_cost = lambda per_chunk_s: None  # type: ignore[method-assign]
    log: list[tuple[float, str, Chunk]] = []

    def arrive(rid: str, first_k: int) -> None:
        stream = TokenStream(driver, rid, prompt_tokens=10, output_tokens=6, arrived_at=0.0)
        driver.streams[rid] = stream
        driver.pacer.attach(stream, RecordingSink(clock, log))
        stream._push(TokenRun(rid, 0, 6, START_S + first_k * ITERATION_S, ITERATION_S))

    for rid in ("old-0", "old-1", "old-2"):
        arrive(rid, 0)
    for k in range(3):
        clock.advance_to(START_S + k * ITERATION_S)
        driver.pacer._fire()
        if k == 1:  # planned after the others' chunks for the same instant
            arrive("new", 2)
    driver.pacer.stop()
    burst = [(rid, chunk.first_index) for at, rid, chunk in log if at == START_S + 2 * ITERATION_S]
    assert burst[0] == ("new", 0)  # its TTFT does not wait behind the others' chunks
    assert sorted(burst[1:]) == [("old-0", 2), ("old-1", 2), ("old-2", 2)]


async def test_a_site_sees_the_bursts_other_sites_have_planned() -> None:
    """What a lookahead engine's step checks before it runs (driver: STEP_GUARD_S)."""
    pacing = Pacing(max_burst_s=1.0, max_chunks_per_s=1e9, early_s=0.0)
    gpu = SiteDriver(FixedRateEngine(), VirtualClock(), pacing=pacing)
    lpu = SiteDriver(FixedRateEngine(), VirtualClock(), pacing=pacing)
    log: list[tuple[float, str, Chunk]] = []
    for i in range(10):
        stream = TokenStream(gpu, f"r{i}", prompt_tokens=10, output_tokens=6, arrived_at=0.0)
        gpu.streams[stream.request_id] = stream
        gpu.pacer.attach(stream, RecordingSink(VirtualClock(), log))
        stream._push(TokenRun(stream.request_id, 0, 6, START_S, ITERATION_S))
    try:
        assert gpu.pacer.burst_before(START_S, 10) == START_S
        assert gpu.pacer.burst_before(START_S - 0.001, 10) is None  # not yet in the window
        assert gpu.pacer.burst_before(START_S, 11) is None  # smaller than asked for
        assert lpu.pacer.others_burst_before(START_S + 0.005, 8) == START_S
        assert gpu.pacer.others_burst_before(START_S + 0.005, 8) is None  # its own
    finally:
        gpu.pacer.stop()
