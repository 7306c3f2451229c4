"""The dashboard against a real in-process router and sites (no fakes in between)."""

import asyncio
import sys
from pathlib import Path

ROUTER_TESTS = str(Path(__file__).resolve().parents[1] / "router")
if ROUTER_TESTS not in sys.path:  # reuse the router's cluster harness
    sys.path.insert(0, ROUTER_TESTS)

from routerkit import TOKEN, cluster, stream_once  # noqa: E402

from dashboards.app import DashApp  # noqa: E402
from dashboards.sources import HTTPSource  # noqa: E402


def cell(table, row_key, col_key):
    return str(table.get_cell(row_key, col_key))


async def until(pilot, cond, timeout_s=15.0):
    for _ in range(int(timeout_s / 0.02)):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached in time")


async def test_live_router_numbers_failover_and_refusal():
    async with cluster() as c:
        for place in ("Paris", "Singapore"):
            async with c.client(place) as client:
                await stream_once(client, max_tokens=8)
        app = DashApp(HTTPSource(c.router_url, TOKEN))
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.stats is not None and len(app.stats["regions"]) == 2)
            assert app.source_status.state == "live"
            assert app.sites_table.row_count == 3
            assert {r["region"] for r in app.stats["regions"]} == {"Europe", "Asia"}
            assert cell(app.sites_table, "riyadh-1", "health") == "healthy"
            # riyadh-1 is the first row: fail it from the keyboard
            app.sites_table.focus()
            await pilot.press("f")
            await until(pilot, lambda: cell(app.sites_table, "riyadh-1", "health") == "failed")
            await until(pilot, lambda: app.events.count >= 1)
            # a request now fails over to another site, and the panels say so
            async with c.client("Singapore") as client:
                _, _, raw = await stream_once(client, max_tokens=8)
            assert raw.headers["X-Georoute-Site"] != "riyadh-1"
            await pilot.press("r")
            await until(pilot, lambda: cell(app.sites_table, "riyadh-1", "health") == "healthy")
            assert [what for what, r in app.results if r.ok] == [
                "fail riyadh-1",
                "restore riyadh-1",
            ]
            # no traffic generator is attached to this router: + warns, no request is sent
            await pilot.press("plus")
            assert len(app.results) == 2
        # a dashboard with the wrong token shows the router's refusal
        app = DashApp(HTTPSource(c.router_url, "wrong"))
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: app.stats is not None)
            await pilot.press("d")
            await until(pilot, lambda: len(app.results) == 1)
            _, result = app.results[0]
            assert not result.ok
            assert result.message.startswith("HTTP 401: admin endpoints need Authorization")
            assert cell(app.sites_table, "riyadh-1", "health") == "healthy"
        await asyncio.sleep(0)
