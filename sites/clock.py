"""One clock interface, two clocks (the simpy Environment / RealtimeEnvironment idea).

Pure code never reads the wall clock: it takes a `Clock`. Simulations and tests use
`VirtualClock`, which only moves when told to; servers use `WallClock`, whose zero is
the moment it was created, so simulated and real timestamps share one scale (seconds).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since an arbitrary, fixed origin."""

    def now(self) -> float: ...


class VirtualClock:
    """A clock that only advances when the simulation advances it."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, at: float) -> None:
        if at < self._now:
            raise ValueError(f"virtual time cannot go back: {at} < {self._now}")
        self._now = at


class WallClock:
    """Monotonic wall-clock seconds since this clock was created."""

    __slots__ = ("_origin",)

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def to_monotonic(self, at: float) -> float:
        """The `time.monotonic()` (and asyncio loop.time()) value of clock time `at`."""
        return self._origin + at
