"""An LPU engine's load figures kept up to date incrementally.

`EngineLoad` needs the sequences holding a slot (and their KV tokens) and the token
rate of those decoding; scanning every flight per poll costs O(replicas x slots).
Here each flight is counted once when admitted and once when it ends, via heaps of
its times, so a poll costs O(log n) per change since the last one. Poll times never
decrease (the engine's clock). One heap of slot holds also ends the decode rates: a
decoding flight stops at its hold's end, and the holds pop in (finish, key) order, the
order in which the rates are taken off (after the poll's new ones are added).
"""

from __future__ import annotations

import heapq

_NEG_INF = float("-inf")


class LoadTracker:
    """Sequences holding a slot (count, KV tokens) and the decode token rate."""

    __slots__ = ("_at", "_decoding", "_first", "_gone", "_holds", "_kv", "_n", "_rate",
                 "_stale")

    def __init__(self) -> None:
        self._holds: list[tuple[float, int, int]] = []  # (hold end, key, kv)
        self._n = 0
        self._kv = 0
        self._stale: set[int] = set()  # holds replaced by a cancel's earlier end
        self._at = _NEG_INF  # holds ending at or before this are counted out
        self._first: list[tuple[float, int, float, float]] = []  # (first, key, finish, rate)
        self._decoding: dict[int, float] = {}  # key -> tokens/s
        self._gone: set[int] = set()  # cancelled before decoding began
        self._rate = 0.0

    def admit(self, key: int, kv: int, first_at: float, finish_at: float, rate: float) -> None:
        """A flight holds a slot from now (its start <= the next poll) to `finish_at`
        and decodes at `rate` tokens/s in [first_at, finish_at). (`LPUEngine._admit`
        inlines this: keep the two alike.)"""
        self._n += 1
        self._kv += kv
        heapq.heappush(self._holds, (finish_at, key, kv))
        if first_at < finish_at:
            heapq.heappush(self._first, (first_at, key, finish_at, rate))

    def cancel(self, key: int, end_at: float, kv: int, finish_at: float) -> None:
        """The flight's slot frees at `end_at` (<= finish_at) and it stops decoding."""
        if finish_at > self._at:  # its hold is still counted
            self._stale.add(key)
            heapq.heappush(self._holds, (end_at, -key, kv))
        rate: float | None = self._decoding.pop(key, None)
        if rate is not None:
            self._rate -= rate
            if not self._decoding:
                self._rate = 0.0
        else:
            self._gone.add(key)

    def at(self, now: float) -> tuple[int, int, float]:
        """(sequences holding a slot, their KV tokens, decode tokens/s) at `now`."""
        holds = self._holds
        ended: list[int] = []  # flights whose hold ended, in (finish, key) order
        if holds and holds[0][0] <= now:
            stale = self._stale
            n, kv_total = self._n, self._kv
            pop = heapq.heappop
            while holds and holds[0][0] <= now:
                _, key, kv = pop(holds)
                if key in stale:
                    stale.discard(key)
                    continue
                n -= 1
                kv_total -= kv
                ended.append(key)
            self._n, self._kv = n, kv_total
        if now > self._at:
            self._at = now
        first, decoding = self._first, self._decoding
        while first and first[0][0] <= now:
            _, key, finish_at, rate = heapq.heappop(first)
            if key in self._gone:
                self._gone.discard(key)
            elif finish_at > now:
                decoding[key] = rate
                self._rate += rate
        # A decoding flight's rate ends with its hold (a cancel took it off already).
        for key in ended:
            left: float | None = decoding.pop(key, None)
            if left is not None:
                self._rate -= left
        if not decoding:
            self._rate = 0.0
        return self._n, self._kv, self._rate
