"""Time-sharing integral of one LPU replica: ∫ dt / n(t), n = sequences in flight.

A request on a replica pays the idle power and the price per chip-hour shared equally
with the sequences in flight beside it, ∫ dt / n(t) over its lifetime. Rebuilding the
overlapping intervals for every finished request costs O(slots log slots); instead a
sweep line keeps the running integral G(t) = ∫ [n > 0] dt / n(t) as breakpoints, so a
request's share is G(end) - G(start): amortised O(log n) per request.

Starts arrive in time order (the engine admits FCFS with non-decreasing start times),
but a start may land before where the sweep already stands (a request submitted with an
`arrived_at` in the past) and a cancel may pull an end earlier; both rewind the sweep to
that time and replay the events after it, so the result is the same as if every
interval had been known from the start.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right

# Event: (time, sequence number, +1 start / -1 end, interval key).
_Event = tuple[float, int, int, int]


class ShareLine:
    """∫ dt / n(t) for one replica, with n(t) = intervals [start, end) covering t."""

    __slots__ = ("_seq", "bp_ev", "bp_g", "bp_n", "bp_t", "events", "pos")

    def __init__(self) -> None:
        self.events: list[_Event] = []  # not yet swept (heap)
        # Breakpoints: after the event at bp_t[k], G = bp_g[k] and n = bp_n[k].
        self.bp_t: list[float] = [float("-inf")]
        self.bp_g: list[float] = [0.0]
        self.bp_n: list[int] = [0]
        self.bp_ev: list[_Event | None] = [None]
        self.pos = float("-inf")  # n(t) is final (given the known intervals) up to here
        self._seq = 0

    def add(self, key: int, start: float, end: float) -> None:
        """A new interval [start, end) (key: the caller's id for it)."""
        self._seq += 2
        start_ev = (start, self._seq, 1, key)
        heapq.heappush(self.events, (end, self._seq + 1, -1, key))
        if start < self.pos:
            heapq.heappush(self.events, start_ev)
            self._rewind(start)
            return
        # The usual case, a start at or after the sweep: sweep up to it and apply it
        # at once (the same breakpoint the sweep would add, one heap round trip less).
        if self.events[0][0] <= start:
            self._sweep(start)
        else:
            self.pos = start  # what _sweep(start) does with nothing to sweep (start >= pos)
        bp_t, bp_g, bp_n = self.bp_t, self.bp_g, self.bp_n
        n = bp_n[-1]
        bp_g.append(bp_g[-1] + ((start - bp_t[-1]) / n if n > 0 else 0.0))
        bp_t.append(start)
        bp_n.append(n + 1)
        self.bp_ev.append(start_ev)

    def shorten(self, key: int, old_end: float, new_end: float) -> None:
        """Interval `key` now ends at `new_end` (<= old_end): a cancel."""
        if new_end >= old_end:
            return
        if new_end < self.pos:
            self._rewind(new_end)
        ev = self.events
        for i, e in enumerate(ev):
            if e[3] == key and e[2] < 0:
                ev[i] = (new_end, e[1], -1, key)
                heapq.heapify(ev)
                return

    def shared_s(self, start: float, end: float) -> float:
        """∫ dt / n(t) over [start, end); needs every interval starting before `end`."""
        ev = self.events
        if (ev and ev[0][0] <= end) or end > self.pos:
            self._sweep(end)
        bp_t, bp_g, bp_n = self.bp_t, self.bp_g, self.bp_n
        # G(end) - G(start), with G linear between breakpoints
        k = bisect_right(bp_t, end) - 1
        n = bp_n[k]
        g_end = bp_g[k] + (end - bp_t[k]) / n if n > 0 else bp_g[k]
        k = bisect_right(bp_t, start) - 1
        n = bp_n[k]
        g_start = bp_g[k] + (start - bp_t[k]) / n if n > 0 else bp_g[k]
        return g_end - g_start

    def forget_before(self, t: float) -> None:
        """Drop breakpoints no query at or after `t` needs (keep the one at/before t),
        and rebase G to 0 there so its magnitude stays small over long runs."""
        k = bisect_right(self.bp_t, t) - 1
        if k <= 0:
            return
        del self.bp_t[:k], self.bp_g[:k], self.bp_n[:k], self.bp_ev[:k]
        g0 = self.bp_g[0]
        self.bp_g = [g - g0 for g in self.bp_g]

    def __len__(self) -> int:
        return len(self.bp_t)

    def _sweep(self, until: float) -> None:
        ev = self.events
        if ev and ev[0][0] <= until:
            bp_t, bp_g, bp_n, bp_ev = self.bp_t, self.bp_g, self.bp_n, self.bp_ev
            t0, g, n = bp_t[-1], bp_g[-1], bp_n[-1]
            pop = heapq.heappop
            while ev and ev[0][0] <= until:
                e = pop(ev)
                t = e[0]
                if n > 0:
                    g += (t - t0) / n
                n += e[2]
                t0 = t
                bp_t.append(t)
                bp_g.append(g)
                bp_n.append(n)
                bp_ev.append(e)
        if until > self.pos:
            self.pos = until

    def _rewind(self, t: float) -> None:
        """Undo the sweep after `t`: its events go back to the heap."""
        bp_t = self.bp_t
        while bp_t[-1] > t:
            e = self.bp_ev.pop()
            assert e is not None
            heapq.heappush(self.events, e)
            bp_t.pop()
            self.bp_g.pop()
            self.bp_n.pop()
        self.pos = t
