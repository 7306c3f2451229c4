"""`georoute dash`: the Textual dashboard of end-to-end latency across regions.

The app gets its `StatsSource` in its constructor (a live router, a replayed run or a
test fake) and a `clock` (frozen in snapshot tests). One exclusive worker follows the
source and posts `StatsUpdated` messages, which replace each other when the UI is
busy; actions run in their own workers, so nothing on the UI thread waits for I/O.
Below `NARROW_WIDTH` x `SHORT_HEIGHT` the map and the history hide behind `v`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Footer

from dashboards.actions import (
    ADMIN,
    REPLAY,
    Action,
    ActionResult,
    ReplayControl,
    SetPolicy,
    SetTraffic,
    SiteAction,
    SiteOp,
    SourceStatus,
    describe,
)
from dashboards.messages import ActionDone, StatsUpdated
from dashboards.policy_picker import PolicyPicker
from dashboards.sources import StatsSource
from dashboards.widgets.events import EventLog
from dashboards.widgets.regions import RegionsTable
from dashboards.widgets.sites import SitesTable
from dashboards.widgets.status import StatusLine, StatusView
from dashboards.widgets.timeseries import LatencySeries
from dashboards.widgets.worldmap import WorldMap
from router.stats_schema import RouterStats

NARROW_WIDTH = 120
SHORT_HEIGHT = 36
RATE_STEP = 1.25  # `+` multiplies the traffic rate by this, `-` divides
SEEK_S = 10.0

ADMIN_ACTIONS = {"policy", "fail", "restore", "drain", "rate_up", "rate_down", "traffic"}
REPLAY_ACTIONS = {"replay_pause", "seek_back", "seek_forward", "slower", "faster"}


class DashApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "georoute dash"
    ENABLE_COMMAND_PALETTE = False  # the footer needs the room at 80 columns

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "policy", "Policy"),
        Binding("f", "fail", "Fail"),
        Binding("r", "restore", "Restore"),
        Binding("d", "drain", "Drain"),
        Binding("plus,equals_sign", "rate_up", "Rate", key_display="+/-"),
        Binding("minus", "rate_down", "Rate-", show=False),
        Binding("t", "traffic", "Traffic"),
        Binding("s", "replay_pause", "Play/pause"),
        Binding("left_square_bracket", "seek_back", "-10s", key_display="["),
        Binding("right_square_bracket", "seek_forward", "+10s", key_display="]"),
        Binding("less_than_sign", "slower", "Slower", key_display="<"),
        Binding("greater_than_sign", "faster", "Faster", key_display=">"),
        Binding("space", "freeze", "Freeze", key_display="spc"),
        Binding("v", "view", "View"),
        Binding("q", "quit", "Quit"),
    ]

    display_paused: reactive[bool] = reactive(False)
    source_status: reactive[SourceStatus] = reactive(SourceStatus(state="connecting"))
    narrow: reactive[bool] = reactive(False)
    charts_view: reactive[bool] = reactive(False)

    def __init__(
        self,
        source: StatsSource,
        *,
        clock: Callable[[], float] = time.time,
        status_interval_s: float = 0.25,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.status_interval_s = status_interval_s
        self.stats: RouterStats | None = None  # latest applied to the panels
        self.pending: RouterStats | None = None  # latest received while frozen
        self.received_at: float | None = None
        self.snapshots_received = 0
        self.results: list[tuple[str, ActionResult]] = []  # every action's outcome
        # Panels are attributes (made before any watcher can run): `query_one` would
        # search a modal screen while the policy picker is open.
        self.body = Vertical(id="body")
        self.sites_table = SitesTable(id="sites")
        self.regions_table = RegionsTable(id="regions")
        self.world_map = WorldMap(id="map")
        self.series = LatencySeries(id="series")
        self.events = EventLog(id="events")
        self.status_line = StatusLine(self._status_view(), id="status")

    # ---- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield self.status_line
        with self.body:
            yield self.sites_table
            with Horizontal(id="middle"):
                yield self.regions_table
                with Vertical(id="charts"):
                    yield self.world_map
                    yield self.series
            yield self.events
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sites_table.border_title = "Sites"
        self.regions_table.border_title = (
            "Client regions: E2E p50/p95/p99, TTFT p50, RTT (ms); share per site"
        )
        self.world_map.border_title = "Where traffic flows"
        self.series.border_title = "E2E latency per region: p50 over p95 (ms)"
        self.events.border_title = "Events"
        self._apply_size(self.size.width, self.size.height)
        self.source_status = self.source.status
        self.set_interval(self.status_interval_s, self._tick)
        self.follow()

    def on_resize(self, event: Resize) -> None:
        self._apply_size(event.size.width, event.size.height)

    def _apply_size(self, width: int, height: int) -> None:
        self.narrow = width < NARROW_WIDTH or height < SHORT_HEIGHT

    def watch_narrow(self, narrow: bool) -> None:
        self.body.set_class(narrow, "-narrow")
        self.body.set_class(narrow and self.charts_view, "-charts")
        self.refresh_bindings()
        if self.stats is not None:
            self._apply(self.stats)

    def watch_charts_view(self, charts: bool) -> None:
        self.body.set_class(self.narrow and charts, "-charts")

    def watch_display_paused(self, paused: bool) -> None:
        if not paused and self.pending is not None:
            self._apply(self.pending)
            self.pending = None
        self._show_status()

    def watch_source_status(self, old: SourceStatus, new: SourceStatus) -> None:
        self.body.set_class(new.state == "unreachable", "-stale")
        if new.state == "unreachable" and old.state != "unreachable":
            self.notify(f"router unreachable: {new.detail}", severity="error", timeout=4)
        elif old.state == "unreachable" and new.state in ("live", "polling"):
            self.notify("router reachable again", timeout=3)
        self._show_status()

    # ---- data ---------------------------------------------------------------------
    @work(exclusive=True, group="source")
    async def follow(self) -> None:
        """Follow the source for the app's lifetime (the source reconnects by itself)."""
        try:
            async for stats in self.source.snapshots():
                self.post_message(StatsUpdated(stats))
        finally:
            await self.source.aclose()

    def _tick(self) -> None:
        self.source_status = self.source.status
        self._show_status()

    @on(StatsUpdated)
    def _on_stats(self, message: StatsUpdated) -> None:
        stats = message.stats
        self.snapshots_received += 1
        self.received_at = self.clock()
        self.source_status = self.source.status
        if self.stats is not None and stats["at"] < self.stats["at"]:
            self.events.reset()  # a replay seek backwards
        self.series.record(stats)
        if self.display_paused:
            self.pending = stats
            self._show_status()
            return
        self._apply(stats)

    def _apply(self, stats: RouterStats) -> None:
        self.stats = stats
        compact = self.narrow
        self.sites_table.update_sites(stats["sites"], compact=compact)
        names = [s["name"] for s in stats["sites"]]
        self.regions_table.update_regions(stats["regions"], names, compact=compact)
        self.world_map.show(stats)
        self.series.refresh()
        self.events.add_events(stats["events"])
        self._show_status()

    def _status_view(self) -> StatusView:
        age = None if self.received_at is None else max(0.0, self.clock() - self.received_at)
        return StatusView(
            label=self.source.label,
            status=self.source_status,
            display_paused=self.display_paused,
            age_s=None if age is None else round(age, 1),
            stats=self.stats,
        )

    def _show_status(self) -> None:
        line = getattr(self, "status_line", None)
        if line is not None:
            line.show(self._status_view())

    # ---- actions ------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        caps = self.source.capabilities
        if action in ADMIN_ACTIONS:
            return ADMIN in caps
        if action in REPLAY_ACTIONS:
            return REPLAY in caps
        if action == "view":
            return self.narrow
        return True

    def act(self, action: Action) -> None:
        self._run_action(action)

    @work(group="actions")
    async def _run_action(self, action: Action) -> None:
        result = await self.source.act(action)
        self.post_message(ActionDone(describe(action), result))

    @on(ActionDone)
    def _on_action_done(self, message: ActionDone) -> None:
        self.results.append((message.what, message.result))
        if message.result.ok:
            self.notify(f"{message.what}: {message.result.message}", timeout=3)
        else:
            self.notify(
                f"{message.what} refused: {message.result.message}",
                severity="error",
                timeout=6,
            )

    def action_policy(self) -> None:
        stats = self.stats or self.pending
        if stats is None or not stats["policies"]:
            self.notify("no policies known yet", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name and name != stats["policy"]:
                self.act(SetPolicy(policy=name))

        self.push_screen(PolicyPicker(stats["policies"], stats["policy"]), chosen)

    def _site_action(self, op: SiteOp) -> None:
        site = self.sites_table.selected_site()
        if site is None:
            self.notify("select a site row first", severity="warning")
            return
        self.act(SiteAction(site=site, op=op))

    def action_fail(self) -> None:
        self._site_action("fail")

    def action_restore(self) -> None:
        self._site_action("restore")

    def action_drain(self) -> None:
        self._site_action("drain")

    def _traffic(self, factor: float | None, toggle_pause: bool) -> None:
        stats = self.stats or self.pending
        traffic = stats["traffic"] if stats else None
        if traffic is None:
            self.notify("the router has no traffic generator attached", severity="warning")
            return
        rate = traffic["rate_rps"] * factor if factor else traffic["rate_rps"]
        paused = not traffic["paused"] if toggle_pause else traffic["paused"]
        self.act(SetTraffic(rate_rps=round(rate, 3), paused=paused))

    def action_rate_up(self) -> None:
        self._traffic(RATE_STEP, False)

    def action_rate_down(self) -> None:
        self._traffic(1 / RATE_STEP, False)

    def action_traffic(self) -> None:
        self._traffic(None, True)

    def _replay_speed(self) -> float:
        return float(getattr(self.source, "speed", 1.0))

    def action_replay_pause(self) -> None:
        self.act(ReplayControl(paused=not bool(getattr(self.source, "paused", False))))

    def action_seek_back(self) -> None:
        self.act(ReplayControl(seek_s=-SEEK_S * max(1.0, self._replay_speed())))

    def action_seek_forward(self) -> None:
        self.act(ReplayControl(seek_s=SEEK_S * max(1.0, self._replay_speed())))

    def action_slower(self) -> None:
        self.act(ReplayControl(speed=self._replay_speed() / 2))

    def action_faster(self) -> None:
        self.act(ReplayControl(speed=self._replay_speed() * 2))

    def action_freeze(self) -> None:
        self.display_paused = not self.display_paused

    def action_view(self) -> None:
        self.charts_view = not self.charts_view

    async def on_unmount(self) -> None:
        await self.source.aclose()
