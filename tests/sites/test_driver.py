"""The real-clock driver: the time map, the coalescing rule (on a virtual clock, so no
test sleeps to check a time), and the engine loop end to end on a fast test engine."""

from __future__ import annotations

import asyncio
import math

import pytest
from site_fakes import FixedRateEngine

from sites.clock import VirtualClock, WallClock
from sites.engine_api import TokenRun
from sites.server.driver import Chunk, Pacing, SiteDriver, StreamDroppedError, TimeMap, TokenStream


def test_time_map_identity_rescale_freeze() -> None:
    tm = TimeMap()
    assert tm.to_wall(5.0) == 5.0
    assert tm.to_engine(5.0) == 5.0
    tm.rescale(2.0, now=10.0)  # from wall 10 on, an engine second takes 2 s
    assert tm.to_wall(12.0) == pytest.approx(14.0)
    assert tm.to_engine(14.0) == pytest.approx(12.0)
    assert tm.to_wall(9.0) == pytest.approx(8.0)  # continuous at the anchor
    tm.rescale(math.inf, now=14.0)  # hang: engine time stops at 12
    assert tm.to_engine(100.0) == pytest.approx(12.0)
    assert tm.to_wall(12.5) == math.inf
    assert tm.to_wall(11.0) < 14.0  # what was already due stays due
    tm.rescale(1.0, now=30.0)  # cleared: resumes where it stopped
    assert tm.to_engine(30.0) == pytest.approx(12.0)
    assert tm.to_wall(13.0) == pytest.approx(31.0)


def make_stream(
    *, output: int, streams: int = 1, max_chunks_per_s: float = 1e9, early_s: float = 0.0
) -> tuple[TokenStream, VirtualClock]:
    clock = VirtualClock()
    driver = SiteDriver(
        FixedRateEngine(), clock, pacing=Pacing(max_chunks_per_s=max_chunks_per_s, early_s=early_s)
    )
    stream = TokenStream(driver, "r0", prompt_tokens=10, output_tokens=output, arrived_at=0.0)
    stream.phase = 0.5  # gaps of exactly min_gap (the per-stream phase has its own test)
    for i in range(streams):  # other open streams share the chunk budget
        driver.streams[f"r{i}"] = stream
    return stream, clock


async def test_first_token_alone_then_catch_up_when_late() -> None:
    stream, clock = make_stream(output=100)
    stream._push(TokenRun("r0", 0, 100, 1.0, 0.001))
    assert stream.first_token_at == 1.0  # scheduled TTFT is known before it is sent
    clock.advance_to(1.0)
    assert await stream.next_chunk() == Chunk(0, 1, 1.0, False)
    clock.advance_to(1.0105)  # the writer woke 10 ms late: everything due goes at once
    chunk = await stream.next_chunk()
    assert (chunk.first_index, chunk.count) == (1, 10)
    assert chunk.last_at == pytest.approx(1.010)


async def test_chunk_budget_sets_the_gap() -> None:
    # 10 open streams, 1,000 chunks/s for the site: one chunk per stream per 10 ms
    stream, clock = make_stream(output=100, streams=10, max_chunks_per_s=1000)
    stream._push(TokenRun("r0", 0, 100, 1.0, 0.001))
    clock.advance_to(1.0)
    await stream.next_chunk()
    assert stream._plan(stream._driver.min_gap_s()) == (10, pytest.approx(1.010))
    clock.advance_to(1.010)
    chunk = await stream.next_chunk()
    assert (chunk.first_index, chunk.count, chunk.final) == (1, 10, False)
    clock.advance_to(1.020)
    chunk = await stream.next_chunk()
    assert (chunk.first_index, chunk.count) == (11, 10)


async def test_gaps_are_a_per_stream_multiple_of_min_gap() -> None:
    """Streams that start together drift apart instead of writing at the same instants."""
    stream, clock = make_stream(output=100, streams=10, max_chunks_per_s=1000)  # 10 ms gap
    stream.phase = 0.35  # this stream's gaps: 0.85 x 10 ms
    stream._push(TokenRun("r0", 0, 100, 1.0, 0.001))
    clock.advance_to(1.0)
    await stream.next_chunk()
    assert stream._plan(stream._driver.min_gap_s()) == (9, pytest.approx(1.009))  # >= 8.5 ms
    clock.advance_to(1.009)
    await stream.next_chunk()
    assert stream._plan(stream._driver.min_gap_s()) == (18, pytest.approx(1.018))
    driver = stream._driver
    phases = {
        TokenStream(driver, f"req-{i}", prompt_tokens=1, output_tokens=1, arrived_at=0).phase
        for i in range(50)
    }
    assert len(phases) == 50
    assert all(0.0 <= p < 1.0 for p in phases)


def test_gap_keeps_a_burst_of_writes_short() -> None:
    """200 sequences stamped with one instant, 100 us per write, 30 ms per token: to
    keep the writes due at one instant within 3 ms, each stream writes every 200 ms."""
    driver = SiteDriver(FixedRateEngine(), VirtualClock(), pacing=Pacing(max_burst_s=0.003))
    driver._burst = 200
    driver._iteration_s = 0.030
    driver.chunk_cost_s = 100e-6
    assert driver.min_gap_s() == pytest.approx(0.2)


def test_chunk_budget_follows_the_measured_write_cost() -> None:
    driver = SiteDriver(
        FixedRateEngine(), VirtualClock(), pacing=Pacing(max_chunks_per_s=4000, write_share=0.25)
    )
    assert driver.chunks_per_s() == 4000  # 30 us guessed: the configured cap binds
    for _ in range(100):
        driver.observe_write_cost(150e-6)  # a slow loopback send
    assert driver.chunk_cost_s == pytest.approx(150e-6, rel=0.01)
    assert driver.chunks_per_s() == pytest.approx(0.25 / 150e-6, rel=0.01)


async def test_final_token_is_never_held() -> None:
    stream, clock = make_stream(output=5, max_chunks_per_s=1e-3)  # a 1,000 s gap
    stream._push(TokenRun("r0", 0, 5, 1.0, 0.01))
    clock.advance_to(1.0)
    await stream.next_chunk()
    assert stream._plan(stream._driver.min_gap_s()) == (4, pytest.approx(1.04))
    clock.advance_to(1.04)
    assert await stream.next_chunk() == Chunk(1, 4, pytest.approx(1.04), True)
    assert await stream.next_chunk() is None


async def test_waits_for_tokens_it_does_not_know_yet() -> None:
    stream, clock = make_stream(output=50, streams=1, max_chunks_per_s=50)  # 20 ms gap
    stream._push(TokenRun("r0", 0, 5, 1.0, 0.002))  # tokens up to 1.008 known
    clock.advance_to(1.0)
    await stream.next_chunk()
    assert stream._plan(stream._driver.min_gap_s()) is None  # the chunk ends later
    stream._push(TokenRun("r0", 5, 20, 1.010, 0.002))
    assert stream._plan(stream._driver.min_gap_s()) == (10, pytest.approx(1.020))


async def test_early_release_and_whole_response() -> None:
    stream, clock = make_stream(output=3, early_s=0.0005)
    stream._push(TokenRun("r0", 0, 3, 2.0, 0.5))
    clock.advance_to(2.9996)  # within early_s of the last token
    chunk = await stream.next_chunk(whole=True)
    assert chunk == Chunk(0, 3, 3.0, True)
    assert stream.first_token_at == 2.0
    assert stream.last_token_at == 3.0


async def test_duplicate_and_overlapping_runs_are_merged() -> None:
    stream, clock = make_stream(output=6)
    stream._push(TokenRun("r0", 0, 3, 1.0, 0.1))
    stream._push(TokenRun("r0", 0, 3, 1.0, 0.1))
    stream._push(TokenRun("r0", 2, 4, 1.2, 0.1))  # overlaps token 2
    clock.advance_to(2.0)
    chunks = []
    while (c := await stream.next_chunk()) is not None:
        chunks.append((c.first_index, c.count))
    assert chunks == [(0, 6)]  # everything was due: one catch-up chunk


async def test_dropped_stream_raises() -> None:
    stream, _clock = make_stream(output=6)
    stream._drop("cut")
    with pytest.raises(StreamDroppedError, match="cut"):
        await stream.next_chunk()


async def test_loop_end_to_end_on_the_wall_clock() -> None:
    engine = FixedRateEngine(prefill_s=0.002, tpot_s=0.0005, slots=3)
    driver = SiteDriver(engine, WallClock())
    driver.start()
    try:
        streams = [driver.submit(f"r{i}", prompt_tokens=5, output_tokens=20 + i) for i in range(6)]

        async def collect(stream: TokenStream) -> list[Chunk]:
            chunks = []
            while (c := await stream.next_chunk()) is not None:
                chunks.append(c)
            return chunks

        results = await asyncio.wait_for(asyncio.gather(*(collect(s) for s in streams)), 10)
        for stream, chunks in zip(streams, results, strict=True):
            assert chunks[0].first_index == 0  # (its size depends on how busy the loop was)
            assert sum(c.count for c in chunks) == stream.output_tokens
            assert [c.first_index for c in chunks] == sorted(c.first_index for c in chunks)
            assert chunks[-1].final
            result = await stream.wait_result()
            assert result.output_tokens == stream.output_tokens
        # three slots: the last three waited for the first three
        queued = [(await s.wait_result()).queue_s for s in streams]
        assert max(queued[:3]) == pytest.approx(0.0, abs=0.002)
        assert min(queued[3:]) > 0.005
    finally:
        await driver.stop()


class ExplodingEngine(FixedRateEngine):
    def advance(self, until, *, record_tokens=True):
        raise RuntimeError("physics broke")


async def test_engine_failure_drops_streams_and_refuses_new_work() -> None:
    failures: list[BaseException] = []
    driver = SiteDriver(ExplodingEngine(), WallClock(), on_failure=failures.append)
    driver.start()
    try:
        stream = driver.submit("r0", prompt_tokens=5, output_tokens=5)
        with pytest.raises(StreamDroppedError, match="physics broke"):
            await asyncio.wait_for(stream.next_chunk(), 5)
        assert isinstance(failures[0], RuntimeError)
        with pytest.raises(StreamDroppedError):
            driver.submit("r1", prompt_tokens=5, output_tokens=5)
    finally:
        await driver.stop()


async def test_cancel_frees_the_engine() -> None:
    engine = FixedRateEngine(prefill_s=1.0, tpot_s=1.0, slots=1)
    driver = SiteDriver(engine, WallClock())
    driver.start()
    try:
        a = driver.submit("a", prompt_tokens=5, output_tokens=5)
        b = driver.submit("b", prompt_tokens=5, output_tokens=5)
        await asyncio.sleep(0.01)
        assert engine.load().running == 1
        assert engine.load().queued == 1
        driver.cancel(b)
        driver.cancel(a)
        assert engine.cancelled == ["b", "a"]
        assert engine.load().running == 0
        assert engine.load().queued == 0
        assert driver.streams == {}
        assert driver.cancel(a) is None  # twice is harmless
    finally:
        await driver.stop()
