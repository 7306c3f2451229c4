"""Pilot tests: every control of the dashboard against a fake router source."""

import time

import pytest
from dash_fakes import T0, FakeRouter, FakeSource
from test_dash_replay import record_run

from dashboards.actions import SetPolicy, SetTraffic, SiteAction, SourceStatus
from dashboards.app import DashApp
from dashboards.replay import ReplaySource, load_timeline
from dashboards.widgets.status import status_text

WIDE = (160, 48)
NARROW = (80, 24)


def notes(app):
    return [(n.message, n.severity) for n in app._notifications]


def cell(table, row_key, col_key):
    return str(table.get_cell(row_key, col_key))


async def until(pilot, cond, timeout_s=10.0):
    """Let the app run until `cond()` holds (generous: CI machines are busy)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not reached")


async def start(pilot, source, n=1):
    """Send n snapshots one by one (sent together, newer ones replace older ones)."""
    for _ in range(n):
        before = pilot.app.snapshots_received
        source.push()
        await until(pilot, lambda b=before: pilot.app.snapshots_received > b)


def status_line(app):
    return status_text(app.status_line.view).plain


async def test_panels_show_the_snapshot():
    src = FakeSource()
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src, 3)
        assert app.sites_table.row_count == 4
        assert cell(app.sites_table, "riyadh-1", "health") == "healthy"
        assert cell(app.sites_table, "virginia", "kind") == "GPU"
        assert app.regions_table.row_count == 2 + 14
        assert cell(app.regions_table, "c:Asia:Tokyo", "name") == "  Tokyo"
        line = status_line(app)
        assert "LIVE" in line
        assert "policy fastest" in line
        assert "traffic 8.0/s" in line
        assert len(app.series.buffer) == 3
        map_text = app.world_map.render().plain
        assert "riyadh-1" in map_text
        assert "◆" in map_text
        assert "●" in map_text


async def test_fail_restore_and_drain_act_on_the_selected_site():
    src = FakeSource(auto=True)
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        app.sites_table.focus()
        await pilot.press("f")
        await until(pilot, lambda: cell(app.sites_table, "riyadh-1", "health") == "failed")
        assert src.actions == [SiteAction(site="riyadh-1", op="fail")]
        assert app.events.count == 2  # site-failed + failover
        await until(pilot, lambda: ("fail riyadh-1: ok", "information") in notes(app))
        assert "✖" in app.world_map.render().plain
        await pilot.press("r")
        await until(pilot, lambda: cell(app.sites_table, "riyadh-1", "health") == "healthy")
        await pilot.press("down", "down", "d")
        await until(pilot, lambda: cell(app.sites_table, "virginia", "health") == "draining")
        assert src.actions[1:] == [
            SiteAction(site="riyadh-1", op="restore"),
            SiteAction(site="virginia", op="drain"),
        ]
        assert app.events.count == 4
        # the cursor stays on the row the operator chose across updates
        src.push()
        await until(pilot, lambda: app.snapshots_received == 5)
        assert app.sites_table.selected_site() == "virginia"


async def test_policy_picker_switches_policy_and_escape_cancels():
    src = FakeSource(auto=True)
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        await pilot.press("p")
        await until(pilot, lambda: type(app.screen).__name__ == "PolicyPicker")
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ != "PolicyPicker")
        assert src.actions == []
        await pilot.press("p", "down", "enter")
        await until(pilot, lambda: "policy nearest" in status_line(app))
        assert src.actions == [SetPolicy(policy="nearest")]
        assert app.events.count == 1


async def test_traffic_rate_and_pause():
    src = FakeSource(auto=True)
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        await pilot.press("plus")
        await until(pilot, lambda: "traffic 10.0/s" in status_line(app))
        await pilot.press("minus")
        await until(pilot, lambda: "traffic 8.0/s" in status_line(app))
        await pilot.press("t")
        await until(pilot, lambda: "traffic PAUSED" in status_line(app))
        await pilot.press("t")
        await until(pilot, lambda: "traffic 8.0/s" in status_line(app))
        assert src.actions == [
            SetTraffic(rate_rps=10.0, paused=False),
            SetTraffic(rate_rps=8.0, paused=False),
            SetTraffic(rate_rps=8.0, paused=True),
            SetTraffic(rate_rps=8.0, paused=False),
        ]


async def test_freeze_holds_the_panels_until_released():
    src = FakeSource()
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        await pilot.press("space")
        assert app.display_paused
        assert "DISPLAY PAUSED" in status_line(app)
        src.router.apply(SiteAction(site="ireland", op="fail"))
        src.push()
        await until(pilot, lambda: app.snapshots_received == 2)
        assert cell(app.sites_table, "ireland", "health") == "healthy"  # frozen
        assert app.events.count == 0
        await pilot.press("space")
        assert cell(app.sites_table, "ireland", "health") == "failed"
        assert app.events.count == 2
        assert "DISPLAY PAUSED" not in status_line(app)


async def test_a_refused_action_shows_the_routers_error():
    src = FakeSource(FakeRouter(refuse="HTTP 401: missing or wrong admin token"))
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        await pilot.press("f")
        await until(pilot, lambda: len(app.results) == 1)
        refused = ("fail riyadh-1 refused: HTTP 401: missing or wrong admin token", "error")
        await until(pilot, lambda: refused in notes(app))
        assert cell(app.sites_table, "riyadh-1", "health") == "healthy"


async def test_actions_without_data_warn_instead_of_guessing():
    router = FakeRouter()
    src = FakeSource(router)
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f", "p", "plus")
        await until(pilot, lambda: len(notes(app)) >= 3)
        assert src.actions == []
        messages = [m for m, _ in notes(app)]
        assert "select a site row first" in messages
        assert "no policies known yet" in messages
        assert "the router has no traffic generator attached" in messages


async def test_unreachable_router_is_shown_and_recovers():
    src = FakeSource()
    app = DashApp(src, clock=lambda: T0, status_interval_s=0.01)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        src.status = SourceStatus(state="unreachable", detail="connection refused - retry 2")
        await until(pilot, lambda: "ROUTER UNREACHABLE" in status_line(app))
        assert "connection refused" in status_line(app)
        assert app.body.has_class("-stale")
        await until(pilot, lambda: any("router unreachable" in m for m, _ in notes(app)))
        src.status = SourceStatus(state="live", detail="events")
        await until(pilot, lambda: "LIVE" in status_line(app))
        assert not app.body.has_class("-stale")
        # notify() posts a message: the note lands a loop pass after the status line
        await until(pilot, lambda: ("router reachable again", "information") in notes(app))


async def test_small_terminal_collapses_and_v_swaps_in_the_charts():
    src = FakeSource()
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=NARROW) as pilot:
        await start(pilot, src)
        assert app.narrow
        assert app.sites_table.region.height > 0
        assert app.world_map.region.height == 0  # hidden
        assert [c.key.value for c in app.sites_table.columns.values()][:3] == [
            "site",
            "health",
            "in_flight",
        ]
        await pilot.press("v")
        # the swap lands with the next layout pass, not with the key press
        await until(pilot, lambda: app.world_map.region.height > 0)
        assert app.sites_table.region.height == 0
        await pilot.resize_terminal(*WIDE)
        await until(pilot, lambda: not app.narrow and app.sites_table.region.height > 0)
        assert app.world_map.region.height > 0
        assert app.check_action("view", ()) is False  # nothing to swap at full size


@pytest.fixture
def replay_app(tmp_path):
    path = tmp_path / "runs.db"
    run_id = record_run(path)
    _, timeline = load_timeline(path, run_id)
    # a stopped clock: the run moves only when the keys move it
    source = ReplaySource(
        path, run_id, speed=1.0, tick_s=0.25, timeline=timeline, monotonic=lambda: 0.0
    )
    return DashApp(source, clock=lambda: T0)


async def test_replay_controls(replay_app):
    app = replay_app
    source = app.source
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: app.snapshots_received >= 1)
        assert app.check_action("fail", ()) is False  # admin keys hidden in replay
        assert app.check_action("seek_forward", ()) is True
        await pilot.press("s")
        await until(pilot, lambda: source.paused)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: source.position_at >= source.timeline.start_at + 10)
        await until(pilot, lambda: "10s / 100s paused" in status_line(app))
        await pilot.press("greater_than_sign")
        await until(pilot, lambda: source.speed == 2.0)
        await pilot.press("less_than_sign", "less_than_sign")
        await until(pilot, lambda: source.speed == 0.5)
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: source.position_at == source.timeline.start_at)
        await pilot.press("f")  # hidden binding: nothing happens
        await pilot.pause()
        whats = [what for what, _ in app.results]
        assert whats == [
            "replay pause",
            "replay seek +10s",
            "replay speed ×2",
            "replay speed ×1",
            "replay speed ×0.5",
            "replay seek -10s",
        ]
        assert all(r.ok for _, r in app.results)


async def test_q_quits_and_closes_the_source():
    closed = []

    class ClosingSource(FakeSource):
        async def aclose(self):
            closed.append(True)

    src = ClosingSource()
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=WIDE) as pilot:
        await start(pilot, src)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert closed


async def test_large_terminal_shows_every_panel_with_the_wide_columns():
    src = FakeSource()
    app = DashApp(src, clock=lambda: T0)
    async with app.run_test(size=(200, 60)) as pilot:
        await start(pilot, src, 2)
        assert not app.narrow
        for panel in (app.sites_table, app.regions_table, app.world_map, app.series, app.events):
            assert panel.region.height >= 6, panel.id
        assert app.world_map.region.width >= 70
        keys = [c.key.value for c in app.sites_table.columns.values()]
        assert {"place", "j_tok", "usd", "tpot"} <= set(keys)
        assert "s:ireland" in [c.key.value for c in app.regions_table.columns.values()]
        # the history draws one band chart per region, with the latest p50 in its title
        series = app.series.render().plain
        assert "Europe" in series
        assert "Asia" in series
