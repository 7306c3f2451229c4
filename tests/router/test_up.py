"""`georoute up` as a user runs it: a subprocess, SIGTERM mid-run, exit 0, and every
request the generator sent is a row in the database. Plus the CLI's bad-input paths."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from router.store import ResultsStore
from router.up import status_line

SMALL = """
[[sites]]
name = "riyadh-1"
place = "Riyadh"
hardware = "groq-lpu"
model = "llama-3.1-8b"

[[sites]]
name = "ireland"
place = "Dublin"
hardware = "h100-sxm"
model = "llama-3.1-8b"

[router]
policy = "fastest"
health_interval_s = 0.5

[[clients]]
place = "Paris"
weight = 2
[[clients]]
place = "Singapore"
weight = 1

[traffic]
lengths = "fixed"
prompt_tokens = 200
output_tokens = 60
"""


def georoute(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("GEOROUTE_ADMIN_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "georoute", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kw,
    )


def test_sigterm_drains_and_every_sent_request_is_recorded(tmp_path):
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    db = tmp_path / "up.db"
    proc = georoute("up", "--config", str(config), "--port", "0", "--db", str(db), "--rate", "25")
    lines = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("Ctrl-C to stop"):
            break
    else:
        proc.kill()
        pytest.fail("georoute up did not start: " + "".join(lines))
    time.sleep(2.0)  # traffic flows; some requests are mid-stream at the signal
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    text = "".join(lines) + out
    assert proc.returncode == 0, err
    assert "router http://127.0.0.1:" in text
    assert re.search(r"site\s+riyadh-1\s+groq-lpu", text)
    done = re.search(r"done: sent (\d+), recorded (\d+) in .* \(run (\w+)\)", text)
    assert done, text
    sent, recorded, run_id = int(done[1]), int(done[2]), done[3]
    assert sent > 10
    assert recorded == sent
    store = ResultsStore(db)
    rows = store.requests(run_id)
    assert len(rows) == sent
    assert store.run(run_id)["requests"] == sent
    assert store.run(run_id)["mode"] == "up"
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["client_place"] for r in rows} == {"Paris", "Singapore"}
    assert all(r["output_tokens"] == 60 for r in rows)
    store.close()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--policy", "closest"], "lowest-rtt"),
        (["--rate", "-1"], "--rate"),
        (["--port", "70000"], "--port"),
        (["--duration", "0"], "--duration"),
        (["--new-connections", "1.5"], "--new-connections"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(args, needle):
    proc = georoute("up", *args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert needle in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("variable", "value"), [("GEOROUTE_SWITCH_INTERVAL_MS", "fast"), ("GEOROUTE_GC_GEN0", "lots")]
)
def test_bad_runtime_setting_exits_2_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    proc = georoute("up", "--port", "0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert variable in err
    assert "Traceback" not in err


def test_bad_topology_key_exits_2_naming_file_key_and_allowed(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(SMALL.replace('policy = "fastest"', 'polcy = "fastest"'))
    proc = georoute("up", "--config", str(config), "--port", "0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert str(config) in err
    assert "router.polcy" in err
    assert "allowed:" in err
    assert "Traceback" not in err


def test_router_alone_needs_site_urls(tmp_path):
    config = tmp_path / "nourl.toml"
    config.write_text(SMALL)
    proc = georoute(
        "router", "--config", str(config), "--port", "0", "--db", str(tmp_path / "x.db")
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "riyadh-1 has no url" in err
    assert "Traceback" not in err


def test_status_line_shows_regions_and_shares():
    stats = {
        "uptime_s": 15.2,
        "requests": {"total": 31, "ok": 28, "failed": 1, "rejected": 0, "in_flight": 2},
        "regions": [{"region": "Europe", "e2e_ms": {"p50": 1210.0, "p95": 2900.0, "p99": None}}],
        "sites": [{"name": "riyadh-1", "share": 0.75}, {"name": "ireland", "share": 0.25}],
    }
    line = status_line(stats, 31)
    assert line == (
        "t=15s sent 31 done 29 (ok 28 failed 1 rejected 0) | Europe E2E p50/p95 1.21/2.90 s"
        " | share riyadh-1 75% ireland 25%"
    )


@pytest.mark.parametrize("command", ["up", "router"])
def test_port_in_use_exits_2_naming_the_port_and_leaves_no_run(tmp_path, command):
    config = tmp_path / "small.toml"
    text = SMALL
    if command == "router":  # the router alone needs site URLs (never contacted here)
        text = text.replace('name = "riyadh-1"', 'name = "riyadh-1"\nurl = "http://127.0.0.1:9"')
        text = text.replace('name = "ireland"', 'name = "ireland"\nurl = "http://127.0.0.1:9"')
    config.write_text(text)
    db = tmp_path / "busy.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = georoute(command, "--config", str(config), "--port", str(port), "--db", str(db))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert f"--port {port}" in err
    assert "address already in use" in err
    assert "Traceback" not in err
    assert "Ctrl-C" not in out  # nothing started
    if db.exists():  # no run row, empty or not
        with contextlib.closing(sqlite3.connect(db)) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
            assert "runs" not in tables or con.execute("SELECT COUNT(*) FROM runs").fetchone() == (
                0,
            )
