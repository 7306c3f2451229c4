"""Snapshot tests of the main screen (pytest-textual-snapshot) with seeded data and a
frozen clock: 20 seconds of a fake router whose policy changes at second 8 and in
which riyadh-1 fails at second 14, moving its traffic to the other sites."""

import pytest
from dash_fakes import T0, FakeRouter, FakeSource

from dashboards.actions import SetPolicy, SiteAction
from dashboards.app import DashApp


def seeded_app() -> tuple[DashApp, FakeSource]:
    src = FakeSource(FakeRouter(seed=11))
    return DashApp(src, clock=lambda: T0 + 20), src


async def feed(pilot, src: FakeSource, steps: int = 20) -> None:
    app = pilot.app
    for step in range(steps):
        if step == 8:
            src.router.apply(SetPolicy(policy="least-loaded"))
        if step == 14:
            src.router.apply(SiteAction(site="riyadh-1", op="fail"))
        before = app.snapshots_received
        src.push()
        for _ in range(1000):  # up to ~10 s on a busy machine
            if app.snapshots_received > before:
                break
            await pilot.pause(0.01)
        assert app.snapshots_received > before
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(snap_compare, size):
    app, src = seeded_app()

    async def run_before(pilot):
        await feed(pilot, src)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_small_terminal_charts_view(snap_compare):
    app, src = seeded_app()

    async def run_before(pilot):
        await feed(pilot, src)
        await pilot.press("v")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
