"""`georoute bench run --mode live`: against `--router local` (sites and router started
in-process) and against an already running router whose policy the bench switches
through the admin API."""

import asyncio
import json
import threading

import pytest

from georoute.cli import main
from router.bench.local import local_system
from router.scenarios import load_scenario

SCENARIO = """
name = "live-small"
duration_s = 3.0
seed = 2
[[sites]]
name = "riyadh-1"
place = "Riyadh"
hardware = "groq-lpu"
model = "llama-3.3-70b"
[[sites]]
name = "ireland"
place = "Dublin"
hardware = "h200"
model = "llama-3.3-70b"
devices = 2
tp = 2
[[clients]]
place = "Paris"
weight = 1
region = "europe"
[[clients]]
place = "Singapore"
weight = 1
region = "asia"
[arrivals]
process = "poisson"
rate_rps = 4.0
[lengths.prompt]
dist = "fixed"
tokens = 300
[lengths.output]
dist = "fixed"
tokens = 40
[routing]
policy = "fastest"
[slo]
e2e_ms = 20000.0
"""


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "live-small.toml"
    path.write_text(SCENARIO)
    return path


def test_live_local_run_records_every_request(scenario_file, tmp_path, capsys):
    db = tmp_path / "l.db"
    argv = [
        "bench",
        "run",
        str(scenario_file),
        "--mode",
        "live",
        "--router",
        "local",
        "--db",
        str(db),
        "--json",
    ]
    assert main(argv) == 0
    (rep,) = json.loads(capsys.readouterr().out)["runs"]
    sent = len(list(load_scenario(str(scenario_file)).requests(2)))
    assert rep["run"]["mode"] == "live"
    assert rep["run"]["policy"] == "fastest"
    assert rep["overall"]["requests"] == sent > 0
    assert rep["overall"]["failed"] == 0
    assert rep["overall"]["tpot_ms"]["p50"] > 0
    assert rep["overall"]["breakdown_ms"]["net_up_ms"] > 0
    # the report is rebuilt from the database the same way
    assert main(["bench", "report", rep["run"]["id"], "--db", str(db), "--json"]) == 0
    (again,) = json.loads(capsys.readouterr().out)["runs"]
    assert again == rep


class RouterThread:
    """The scenario's sites and router on their own event loop in a thread, standing in
    for a `georoute up` that is already running."""

    def __init__(self, scenario, token):
        self.scenario, self.token = scenario, token
        self.ready = threading.Event()
        self.url = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self):
        self.stop = asyncio.Event()
        async with local_system(
            self.scenario, policy="fastest", seed=2, admin_token=self.token
        ) as system:
            self.url = system.router_url
            self.ready.set()
            await self.stop.wait()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(60)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)
        self.loop.close()


def test_live_run_switches_a_running_routers_policy(scenario_file, tmp_path, capsys, monkeypatch):
    scenario = load_scenario(str(scenario_file))
    with RouterThread(scenario, "s3cret") as router:
        base = [
            "bench",
            "run",
            str(scenario_file),
            "--mode",
            "live",
            "--router",
            router.url,
            "--db",
            str(tmp_path / "r.db"),
            "--json",
            "--requests",
            "6",
        ]
        monkeypatch.delenv("GEOROUTE_ADMIN_TOKEN", raising=False)
        assert main([*base, "--policy", "nearest"]) == 2
        assert "GEOROUTE_ADMIN_TOKEN" in capsys.readouterr().err
        monkeypatch.setenv("GEOROUTE_ADMIN_TOKEN", "wrong")
        assert main([*base, "--policy", "nearest"]) == 2
        assert "refused" in capsys.readouterr().err
        monkeypatch.setenv("GEOROUTE_ADMIN_TOKEN", "s3cret")
        assert main([*base, "--policy", "nearest"]) == 0
        (rep,) = json.loads(capsys.readouterr().out)["runs"]
        assert rep["run"]["policy"] == "nearest"
        cities = {c["name"]: c for c in rep["cities"]}
        assert cities["Paris (europe)"]["share"] == {"ireland": 1.0}  # nearest from Paris
        # without --policy the run is labelled with the policy the router has in force
        assert main(base) == 0
        (rep,) = json.loads(capsys.readouterr().out)["runs"]
        assert rep["run"]["policy"] == "nearest"
        assert rep["overall"]["requests"] == 6
