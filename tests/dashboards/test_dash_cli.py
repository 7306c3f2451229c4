"""`georoute dash` flags, and the dashboard as `up --dash` runs it (a child process)."""

import asyncio

import pytest
from dash_fakes import FakeRouter
from test_dash_sources import make_router_app

from georoute.cli import main
from router.up import run_dashboard


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--speed", "2"], "--speed needs --db"),
        (["--run", "abc"], "--run needs --db"),
        (["--router", "ftp://x"], "--router: expected an http:// or https:// URL"),
        (["--db", "/nonexistent/x.db"], "--db: no such file"),
        (["--db", "{db}", "--speed", "0"], "--speed: must be positive"),
        (["--db", "{db}", "--router", "http://x"], "--router and --db are exclusive"),
        (["--db", "{db}"], "--db: "),  # an empty file holds no runs
        (["--screenshot", "x.svg", "--size", "big"], "--size: expected COLSxROWS"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path, capsys, argv, message):
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    argv = [a.replace("{db}", str(db)) for a in argv]
    assert main(["dash", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("georoute dash: error: ")
    assert message in err


def test_unknown_run_names_the_run_flag(tmp_path, capsys):
    from test_dash_replay import record_run

    record_run(tmp_path / "r.db")
    assert main(["dash", "--db", str(tmp_path / "r.db"), "--run", "nope"]) == 2
    assert "--run: no run 'nope'" in capsys.readouterr().err


async def test_child_dashboard_saves_a_screenshot_of_a_router(aiohttp_server, tmp_path):
    server = await aiohttp_server(make_router_app(FakeRouter()))
    out = tmp_path / "dash.svg"
    status = await run_dashboard(
        str(server.make_url("")).rstrip("/"),
        "s3cret",
        extra_args=("--screenshot", str(out), "--after", "4", "--size", "100x30"),
        duration_s=120,
    )
    assert status == 0
    svg = out.read_text()
    assert svg.startswith("<svg")
    assert "riyadh-1" in svg
    assert "LIVE" in svg


async def test_stop_ends_the_child_dashboard(unused_tcp_port, tmp_path):
    stop = asyncio.Event()
    out = tmp_path / "never.svg"
    task = asyncio.ensure_future(
        run_dashboard(
            f"http://127.0.0.1:{unused_tcp_port}",
            None,
            stop=stop,
            extra_args=("--screenshot", str(out), "--after", "300"),
        )
    )
    await asyncio.sleep(1.0)
    stop.set()
    status = await asyncio.wait_for(task, 30)
    assert status != 0  # stopped before its screenshot
    assert not out.exists()
