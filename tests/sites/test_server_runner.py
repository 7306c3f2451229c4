"""Several sites in one process (`run_sites`), the `georoute site` command's flag
errors, and graceful shutdown on SIGTERM (a real subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from site_fakes import FixedRateEngine

from georoute.cli import main
from sites.server import tokens
from sites.server.runner import EVENT_LOOP_ENV, event_loop_factory, run_event_loop, run_sites
from sites.topology import SiteConfig

MODEL = "llama-3.1-8b"
SITES = [
    SiteConfig(name="riyadh-1", place="Riyadh", hardware="groq-lpu", model=MODEL),
    SiteConfig(name="virginia", place="Ashburn", hardware="h100-sxm", model=MODEL),
]


async def test_run_sites_starts_each_on_its_own_port() -> None:
    engines = {s.name: FixedRateEngine(prefill_s=0.001, tpot_s=0.001, model=MODEL) for s in SITES}
    group = await run_sites(SITES, "127.0.0.1", engines=engines, admin_token="t")
    try:
        assert [name for name, _ in group] == ["riyadh-1", "virginia"]
        assert len({url for _, url in group}) == 2
        async with aiohttp.ClientSession() as session:
            for name, url in group:
                assert url.startswith("http://127.0.0.1:")
                async with session.get(url + "/health") as resp:
                    body = await resp.json()
                    assert body["site"] == name
                    assert resp.headers["X-Georoute-Site"] == name
                body = {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": 3,
                }
                async with session.post(url + "/v1/chat/completions", json=body) as resp:
                    assert (await resp.json())["georoute"]["site"] == name
    finally:
        await group.stop()
    assert group.runners == []


async def test_stop_lets_open_streams_finish() -> None:
    engine = FixedRateEngine(prefill_s=0.001, tpot_s=0.002, model=MODEL)
    group = await run_sites(SITES[1:], engines={"virginia": engine}, shutdown_timeout=10)
    url = group.url("virginia")
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 150,
        "stream": True,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/chat/completions", json=body) as resp,
    ):
        await resp.content.readline()  # the stream is open
        stopping = asyncio.ensure_future(group.stop())
        text = (await resp.read()).decode()
        await stopping
    assert text.endswith("data: [DONE]\n\n")
    content = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in text.splitlines()
        if line.startswith("data: {")
    )
    assert content.endswith(tokens.filler(0, 150)[-20:])


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            ["site", "--place", "Riyadh", "--hardware", "groq-lpu", "--model", MODEL],
            "--name: required",
        ),
        (
            ["site", "--name", "x", "--place", "Riyadh", "--hardware", "tpu-v9", "--model", MODEL],
            "--hardware: unknown value 'tpu-v9'",
        ),
        (
            ["site", "--name", "bad name", "--place", "P", "--hardware", "h200", "--model", MODEL],
            "--name:",
        ),
        (
            [
                "site",
                "--name",
                "x",
                "--place",
                "P",
                "--hardware",
                "h200",
                "--model",
                MODEL,
                "--devices",
                "0",
            ],
            "--devices: must be a positive integer",
        ),
        (["site", "--config", "nope.toml", "--site", "x"], "nope.toml: cannot read"),
        (["site", "--config", "t.toml"], "--site: required with --config"),
        (
            ["site", "--config", "t.toml", "--site", "x", "--hardware", "h200"],
            "--hardware: not allowed with --config",
        ),
        (
            [
                "site",
                "--name",
                "x",
                "--place",
                "P",
                "--hardware",
                "h200",
                "--model",
                MODEL,
                "--port",
                "70000",
            ],
            "--port: must be 0-65535",
        ),
        (
            [
                "site",
                "--name",
                "x",
                "--place",
                "P",
                "--hardware",
                "h100-sxm",
                "--model",
                "llama-3.1-405b",
                "--devices",
                "1",
            ],
            "cannot build site x",
        ),
    ],
)
def test_site_command_flag_errors(argv: list[str], fragment: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err


def test_site_command_picks_a_site_from_a_topology(tmp_path: Path, capsys) -> None:
    topo = tmp_path / "t.toml"
    topo.write_text(
        '[[sites]]\nname = "a"\nplace = "Riyadh"\nhardware = "groq-lpu"\nmodel = "llama-3.1-8b"\n'
    )
    assert main(["site", "--config", str(topo), "--site", "b"]) == 2
    assert "no site named 'b'; sites: a" in capsys.readouterr().err


async def test_sigterm_drains_and_exits_zero(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "georoute", "site", "--name", "riyadh-1", "--place", "Riyadh",
        "--hardware", "groq-lpu", "--model", "llama-3.3-70b", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert "listening on http://127.0.0.1:" in line, line
        url = line.rsplit(" ", 1)[-1].strip()
        body = {
            "model": "llama-3.3-70b",
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 120,
            "stream": True,
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(url + "/v1/chat/completions", json=body) as resp,
        ):
            await resp.content.readline()
            proc.send_signal(signal.SIGTERM)
            text = (await resp.read()).decode()
        assert text.endswith("data: [DONE]\n\n")  # the in-flight stream finished
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_site_process_loop_is_uvloop_unless_asked_for_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert event_loop_factory() is uvloop.new_event_loop
    monkeypatch.setenv(EVENT_LOOP_ENV, " AsyncIO ")
    assert event_loop_factory() is None


def test_run_event_loop_runs_on_the_chosen_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert run_event_loop(loop_type()) is uvloop.Loop
    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert not issubclass(run_event_loop(loop_type()), uvloop.Loop)
