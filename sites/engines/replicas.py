"""Which LPU replica a request starts on, and when: O(log replicas) per admission.

A replica can start a request once it has a free pipeline slot and SRAM for the
request's KV cache. Its slots free in order of finish time, so while it is full the
earliest start is its first finish; a min segment tree over those times (minus
infinity for a replica with a free slot) finds the earliest-free replica, the lowest
index on ties, without looking at every replica. The SRAM check is exact for that
replica; only when SRAM, not slots, would delay the start do all replicas get the
exact search (the rule the engine always used: earliest start, then lowest index).
"""

from __future__ import annotations

import heapq

_INF = float("inf")


class ReplicaSlots:
    """Per replica: a min-heap of (finish_at, kv_tokens, key) for the sequences that
    hold a pipeline slot and SRAM for their KV cache, and their KV total."""

    __slots__ = ("_cap", "_held", "_kv_cap", "_size", "_tree", "_used")

    def __init__(self, replicas: int, cap: int, kv_cap: int) -> None:
        self._cap = cap
        self._kv_cap = kv_cap
        self._held: list[list[tuple[float, int, int]]] = [[] for _ in range(replicas)]
        self._used = [0] * replicas
        size = 1
        while size < replicas:
            size *= 2
        self._size = size
        # Leaves: -inf (a free slot) or the first finish of a full replica; +inf padding.
        tree = [_INF] * (2 * size)
        for r in range(replicas):
            tree[size + r] = -_INF
        for i in range(size - 1, 0, -1):
            tree[i] = min(tree[2 * i], tree[2 * i + 1])
        self._tree = tree

    def _update(self, r: int) -> None:
        held = self._held[r]
        tree = self._tree
        i = self._size + r
        tree[i] = held[0][0] if len(held) >= self._cap else -_INF
        i //= 2
        while i:
            a, b = tree[2 * i], tree[2 * i + 1]
            tree[i] = a if a < b else b
            i //= 2

    def _drop_before(self, r: int, at: float) -> None:
        """Forget sequences that ended at or before `at` (<= the last start: start
        times never go back)."""
        held = self._held[r]
        if held and held[0][0] <= at:
            used = self._used[r]
            while held and held[0][0] <= at:
                used -= heapq.heappop(held)[1]
            self._used[r] = used
            self._update(r)

    def earliest(self, at: float, kv: int, floor: float) -> tuple[int, float]:
        """(replica, start): the earliest time >= `at` some replica has a free slot and
        `kv` tokens of SRAM, on the lowest-numbered such replica. `floor` (<= at): no
        later call asks about an earlier time (the engine's last start; `at` itself
        may go back when a queue head is cancelled)."""
        tree, size = self._tree, self._size
        x = tree[1] if tree[1] > at else at
        node = 1
        while node < size:
            node *= 2
            if tree[node] > x:
                node += 1
        r = node - size
        held = self._held[r]
        if held and held[0][0] <= floor:
            self._drop_before(r, floor)
        if x == at:
            # Sequences that end in (floor, at] still count here: an upper bound.
            if self._used[r] + kv <= self._kv_cap:
                return r, at
        elif self._used[r] - held[0][1] + kv <= self._kv_cap:
            return r, x
        return self._exact_search(at, kv)

    def _exact_start(self, r: int, at: float, kv: int) -> float:
        """When replica `r` first has a free slot and `kv` tokens of SRAM at or after `at`."""
        active = sorted(h for h in self._held[r] if h[0] > at)
        n = len(active)
        used = sum(h[1] for h in active)
        if n < self._cap and used + kv <= self._kv_cap:
            return at
        for finish_at, k, _ in active:
            n -= 1
            used -= k
            if n < self._cap and used + kv <= self._kv_cap:
                return finish_at
        return at  # unreachable: the engine rejects requests larger than the SRAM

    def _exact_search(self, at: float, kv: int) -> tuple[int, float]:
        """SRAM may delay the start: exact start per replica, visited in order of the
        slot-only lower bound until no replica left can beat the best."""
        tree, size = self._tree, self._size
        bounds = sorted(
            (tree[size + r] if tree[size + r] > at else at, r) for r in range(len(self._held))
        )
        best_t, best_r = _INF, -1
        for bound, r in bounds:
            if (bound, r) > (best_t, best_r) and best_r >= 0:
                break
            t = self._exact_start(r, at, kv)
            if (t, r) < (best_t, best_r) or best_r < 0:
                best_t, best_r = t, r
        return best_r, best_t

    def take(self, r: int, start: float, finish_at: float, kv: int, key: int) -> None:
        """A sequence starts on replica `r` at `start`."""
        held = self._held[r]
        used = self._used[r]
        while held and held[0][0] <= start:
            used -= heapq.heappop(held)[1]
        heapq.heappush(held, (finish_at, kv, key))
        self._used[r] = used + kv
        # _update(r), inlined (this runs once per request)
        tree = self._tree
        i = self._size + r
        tree[i] = held[0][0] if len(held) >= self._cap else -_INF
        i //= 2
        while i:
            a, b = tree[2 * i], tree[2 * i + 1]
            tree[i] = a if a < b else b
            i //= 2

    def release(self, r: int, key: int, end_at: float) -> None:
        """Sequence `key` leaves replica `r` at `end_at` (a cancel)."""
        held = self._held[r]
        for i, h in enumerate(held):
            if h[2] == key:
                held[i] = (end_at, h[1], key)
                heapq.heapify(held)
                self._update(r)
                return
