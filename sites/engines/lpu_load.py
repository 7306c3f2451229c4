"""An LPU engine's load figures kept up to date incrementally.

`EngineLoad` needs the sequences holding a slot (and their KV tokens) and the token
rate of those decoding; scanning every flight per poll costs O(replicas x slots).
Here each flight is counted once when admitted and once when it ends, so a poll costs
O(log n) per change since the last one. Poll times never decrease (the engine's clock).
A flight that runs to its end is reported by the engine when it reports the flight
finished (before the poll that reaches its finish): its hold ends there, and so does
its decode rate. The rates are taken off in (finish, key) order, after the poll's new
ones are added. (The holds used to be a heap of their own: the engine's finished
flights give the same ends without it; callgrind, eu-asia-baseline in the simulator:
144.2k -> 141.8k instructions per request.)
A cancelled flight is never reported finished: its hold's earlier end is kept in a
small heap.
"""

from __future__ import annotations

import heapq


class LoadTracker:
    """Sequences holding a slot (count, KV tokens) and the decode token rate."""

    __slots__ = ("_cut", "_decoding", "_ended", "_first", "_gone", "_kv", "_n", "_rate")

    def __init__(self) -> None:
        self._n = 0
        self._kv = 0
        # (finish, key, kv) of flights reported finished since the last poll
        self._ended: list[tuple[float, int, int]] = []
        self._cut: list[tuple[float, int, int]] = []  # (end, key, kv): cancelled holds
        # (first, key, finish, rate) of flights not yet decoding at the last poll: a
        # list sorted at each poll (a few entries: the admissions since the last poll
        # and those still in their prefill), not a heap: the same (first, key) order
        # for fewer comparisons (callgrind, eu-asia-baseline in the simulator: 141.8k ->
        # 140.2k instructions per request)
        self._first: list[tuple[float, int, float, float]] = []
        self._decoding: dict[int, float] = {}  # key -> tokens/s
        self._gone: set[int] = set()  # cancelled before decoding began
        self._rate = 0.0

    def admit(self, key: int, kv: int, first_at: float, finish_at: float, rate: float) -> None:
        """A flight holds a slot from now (its start <= the next poll) to `finish_at`
        and decodes at `rate` tokens/s in [first_at, finish_at). (`LPUEngine._admit`
        inlines this: keep the two alike.)"""
        self._n += 1
        self._kv += kv
        if first_at < finish_at:
            self._first.append((first_at, key, finish_at, rate))

    def finish(self, key: int, kv: int, finish_at: float) -> None:
        """The flight ran to `finish_at`, at or before the next poll's time.
        (`LPUEngine.advance_raw` inlines this: keep the two alike.)"""
        self._ended.append((finish_at, key, kv))

    def cancel(self, key: int, end_at: float, kv: int, finish_at: float) -> None:
        """The flight, not reported finished, frees its slot at `end_at` (<= finish_at)
        and stops decoding."""
        heapq.heappush(self._cut, (end_at, key, kv))
        rate: float | None = self._decoding.pop(key, None)
        if rate is not None:
            self._rate -= rate
            if not self._decoding:
                self._rate = 0.0
        else:
            self._gone.add(key)

    def at(self, now: float) -> tuple[int, int, float]:
        """(sequences holding a slot, their KV tokens, decode tokens/s) at `now`."""
        ended = self._ended
        cut = self._cut
        if ended or (cut and cut[0][0] <= now):
            n, kv_total = self._n, self._kv
            for _, _, kv in ended:
                n -= 1
                kv_total -= kv
            while cut and cut[0][0] <= now:
                kv = heapq.heappop(cut)[2]
                n -= 1
                kv_total -= kv
            self._n, self._kv = n, kv_total
        first, decoding = self._first, self._decoding
        if first:
            first.sort()
            started = 0
            for first_at, key, finish_at, rate in first:
                if first_at > now:
                    break
                started += 1
                if key in self._gone:
                    self._gone.discard(key)
                elif finish_at > now:
                    decoding[key] = rate
                    self._rate += rate
            del first[:started]
        # A decoding flight's rate ends with its hold (a cancel took it off already).
        if ended:
            ended.sort()  # (finish, key): reported in (finish, request id) order
            for _, key, _ in ended:
                left: float | None = decoding.pop(key, None)
                if left is not None:
                    self._rate -= left
            self._ended = []
        if not decoding:
            self._rate = 0.0
        return self._n, self._kv, self._rate
