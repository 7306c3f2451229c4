"""The stats snapshot computed off the event loop: rows that finish meanwhile are held
back and added after (none lost), and concurrent callers share one computation."""

from __future__ import annotations

import asyncio
import time

from router.config import RouterConfig, RouterSettings
from router.daemon import make_app
from router.daemon.keys import ROUTER
from router.daemon.proxy import new_row
from router.daemon.state import RouterState
from sites.topology import SiteConfig


def _state() -> RouterState:
    site = SiteConfig(name="ireland", place="Dublin", hardware="h100-sxm", model="llama-3.1-8b")
    config = RouterConfig(file="<test>", sites=(site,), router=RouterSettings())
    return make_app(config, site_urls={"ireland": "http://127.0.0.1:9"})[ROUTER]


def _row(state: RouterState, e2e_ms: float) -> dict[str, object]:
    row = new_row(state, time.time() - 1.0)  # finished before the snapshot's `now`
    row.update(site="ireland", status="ok", e2e_ms=e2e_ms, ttft_ms=1.0, client_region="europe")
    return row


async def test_rows_finishing_during_a_snapshot_are_held_then_counted() -> None:
    state = _state()
    for ms in (10.0, 20.0, 30.0):
        state.record(_row(state, ms))
    first = asyncio.ensure_future(state.stats_snapshot_async())
    second = asyncio.ensure_future(state.stats_snapshot_async())
    for _ in range(100):  # a few loop turns: until the computation leaves for its thread
        if state.held_rows is not None:
            break
        await asyncio.sleep(0)
    state.record(_row(state, 40.0))
    assert state.held_rows is not None
    assert len(state.held_rows) == 1
    a, b = await asyncio.gather(first, second)
    assert a is b  # one computation for both callers
    assert a["requests"]["ok"] == 3
    (site,) = a["sites"]
    assert site["requests"] == 3
    assert site["e2e_ms"]["p50"] == 20.0
    assert state.held_rows is None
    assert state.snapshot_task is None
    after = await state.stats_snapshot_async()
    assert after["requests"]["ok"] == 4
    assert after["sites"][0]["requests"] == 4
    on_loop = state.stats_snapshot(time.monotonic())  # the same figures computed inline
    assert after["sites"] == on_loop["sites"]
    assert after["regions"] == on_loop["regions"]
