"""Dashboard responsiveness: snapshots at 2/s and keys pressed meanwhile (prints figures).

    .venv/bin/python tests/perf/dash_perf.py

For each terminal size: a fake router source pushes a full snapshot (4 sites, 14 cities,
events) every 0.5 s for 10 s while a key is pressed every 0.25 s. Reports how many
snapshots were drawn, the time from a snapshot's arrival to its panels being updated
(p50/max) and the time from a key press to its effect (p50/max), both in the app's
own event loop. Wall-clock figures on a shared 2-core machine: noisy by nature.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))

from dash_fakes import FakeRouter, FakeSource

from dashboards.app import DashApp

SIZES = [(80, 24), (160, 48), (200, 60)]
SECONDS = 10.0


async def wait_until(cond: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll every millisecond (the figures are only as fine as this)."""
    for _ in range(int(timeout_s * 1000)):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise TimeoutError("the dashboard did not react")


async def measure(size: tuple[int, int]) -> dict[str, float]:
    src = FakeSource(FakeRouter(seed=3))
    app = DashApp(src)
    update_ms: list[float] = []
    key_ms: list[float] = []
    async with app.run_test(size=size):
        deadline = time.perf_counter() + SECONDS
        pushed = 0

        async def pusher() -> None:
            nonlocal pushed
            while time.perf_counter() < deadline:
                before = app.snapshots_received
                src.push()
                pushed += 1
                t0 = time.perf_counter()
                await wait_until(lambda b=before: app.snapshots_received > b)
                update_ms.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(max(0.0, 0.5 - (time.perf_counter() - t0)))

        async def typist() -> None:
            while time.perf_counter() < deadline:
                was = app.display_paused
                t0 = time.perf_counter()
                app.simulate_key("space")  # as a keypress from the terminal
                await wait_until(lambda w=was: app.display_paused != w)
                key_ms.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.25)

        await asyncio.gather(pusher(), typist())
        received = app.snapshots_received
    return {
        "pushed": pushed,
        "received": received,
        "update_p50_ms": statistics.median(update_ms),
        "update_max_ms": max(update_ms),
        "key_p50_ms": statistics.median(key_ms),
        "key_max_ms": max(key_ms),
    }


async def main() -> None:
    for size in SIZES:
        r = await measure(size)
        print(
            f"{size[0]}x{size[1]}: snapshots {r['received']}/{r['pushed']} in {SECONDS:g} s; "
            f"snapshot->panels p50 {r['update_p50_ms']:.1f} ms max {r['update_max_ms']:.1f} ms; "
            f"key->effect p50 {r['key_p50_ms']:.1f} ms max {r['key_max_ms']:.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
