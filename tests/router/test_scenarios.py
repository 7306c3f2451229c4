"""Scenario files: built-ins load, and every bad input names the file, key and what is allowed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from router.scenarios import ScenarioError, builtin_scenarios, load_scenario
from router.traffic import (
    DiurnalArrivals,
    EmpiricalLengths,
    LognormalLength,
    PairedLengths,
    PoissonArrivals,
    RampArrivals,
    UniformLength,
)

MINIMAL = """
duration_s = 60.0
seed = 3

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

[[clients]]
place = "Paris"
weight = 2

[[clients]]
place = "Singapore"
region = "apac"

[arrivals]
process = "poisson"
rate_rps = 5.0
"""


def _write(tmp_path: Path, text: str, name: str = "scn.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtins_are_all_there_and_load():
    names = builtin_scenarios()
    for expected in (
        "eu-asia-baseline",
        "peak-hours",
        "riyadh-outage",
        "sovereign-eu",
        "long-outputs",
        "million-lpu",
    ):
        assert expected in names
    for name in names:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.sites
        assert scenario.duration_s > 0


def test_builtin_details_answer_their_questions():
    outage = load_scenario("riyadh-outage")
    assert [(e.site, e.action) for e in outage.events] == [
        ("riyadh-1", "fail"),
        ("riyadh-1", "restore"),
    ]
    sovereign = load_scenario("sovereign-eu")
    assert any("EU" in r.clients for r in sovereign.routing.residency)
    assert any(s.place == "Dublin" for s in sovereign.sites)
    peak = load_scenario("peak-hours")
    assert isinstance(peak.traffic.arrivals, DiurnalArrivals)
    assert peak.traffic.arrivals.day_s == peak.duration_s
    long = load_scenario("long-outputs")
    assert isinstance(long.traffic.lengths, PairedLengths)
    assert long.traffic.lengths.output == UniformLength(min_tokens=2000, max_tokens=8000)
    million = load_scenario("million-lpu")
    slice_chips = sum(
        (s.devices or 0) * s.replicas for s in million.sites if s.hardware == "groq-lpu"
    )
    assert slice_chips * million.scale == pytest.approx(1_000_000, rel=0.01)


def test_peak_hours_puts_each_regions_peak_at_its_local_time():
    peak = load_scenario("peak-hours")  # 60 s per hour from 00:00 UTC
    counts: dict[str, list[int]] = {"europe": [0] * 24, "asia": [0] * 24}
    for req in peak.requests():
        counts[req.region][int(req.at_s // 60) % 24] += 1
    # Local early afternoon: Europe (UTC+1..+2 in June) around 12 UTC, Asia (UTC+5:30..+9)
    # around 5-7 UTC.
    assert 10 <= counts["europe"].index(max(counts["europe"])) <= 14
    assert 3 <= counts["asia"].index(max(counts["asia"])) <= 8
    assert sum(counts["europe"][11:14]) > 3 * sum(counts["europe"][0:3])


def test_minimal_file_defaults(tmp_path):
    scn = load_scenario(_write(tmp_path, MINIMAL))
    assert scn.name == "scn"
    assert scn.seed == 3
    assert scn.traffic.arrivals == PoissonArrivals(rate_rps=5.0)
    assert isinstance(scn.traffic.lengths, PairedLengths)  # Azure conversation fit
    assert [g.region for g in scn.population.groups] == ["europe", "apac"]
    assert scn.routing.policy == "fastest"
    reqs = list(scn.requests())
    assert reqs == list(scn.requests(seed=3))
    assert reqs != list(scn.requests(seed=4))


def test_traffic_sections_parse(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,10,4")
    text = MINIMAL.replace(
        'process = "poisson"\nrate_rps = 5.0', 'process = "ramp"\npoints = [[0, 1], [60, 9]]'
    )
    text += """
[lengths.prompt]
dist = "lognormal"
p50 = 1000
p90 = 3000
max = 8000
[lengths.output]
dist = "fixed"
tokens = 300
"""
    scn = load_scenario(_write(tmp_path, text))
    assert scn.traffic.arrivals == RampArrivals(points=((0.0, 1.0), (60.0, 9.0)))
    assert isinstance(scn.traffic.lengths, PairedLengths)
    assert isinstance(scn.traffic.lengths.prompt, LognormalLength)
    assert scn.traffic.lengths.prompt.max_tokens == 8000
    emp = load_scenario(_write(tmp_path, MINIMAL + '[lengths]\ntrace = "t.csv"\n', "e.toml"))
    assert isinstance(emp.traffic.lengths, EmpiricalLengths)
    assert emp.traffic.lengths.path == str(trace)


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (lambda t: "bogus = 1\n" + t, "bogus", "allowed: name, description"),
        (
            lambda t: t.replace('process = "poisson"', 'process = "poison"'),
            "arrivals.process",
            "allowed: poisson, gamma, diurnal, ramp, trace",
        ),
        (
            lambda t: t.replace("rate_rps = 5.0", "rate_rps = -5.0"),
            "arrivals.rate_rps",
            "must be > 0",
        ),
        (
            lambda t: t.replace("rate_rps = 5.0", "rate_rps = 5.0\ncv = 2"),
            "arrivals.cv",
            "allowed: process, rate_rps",
        ),
        (lambda t: t.replace('place = "Paris"', 'place = "Pariss"'), "clients[0].place", "Paris"),
        (
            lambda t: t.replace("weight = 2", "wieght = 2"),
            "clients[0].wieght",
            "did you mean 'weight'",
        ),
        (
            lambda t: t.replace('hardware = "h200"', 'hardware = "h300"'),
            "sites[1].hardware",
            "allowed: ",
        ),
        (lambda t: t + '\n[routing]\npolicy = "fastset"\n', "routing.policy", "allowed: nearest"),
        (
            lambda t: t + "\n[routing]\nweights = { tokyo = 1.0 }\n",
            "routing.weights.tokyo",
            "allowed: riyadh-1, ireland",
        ),
        (
            lambda t: t + '\n[[routing.residency]]\nclients = ["EU"]\n',
            "routing.residency[0].allowed",
            "missing",
        ),
        (lambda t: t + "\n[slo]\nttft_ms = 0\n", "slo.ttft_ms", "must be > 0"),
        (
            lambda t: t + "\n[slo]\nttfb_ms = 10\n",
            "slo.ttfb_ms",
            "allowed: ttft_ms, tpot_ms, e2e_ms",
        ),
        (
            lambda t: t + "\n[network]\nconnection_reuse = 1.5\n",
            "network.connection_reuse",
            "between 0 and 1",
        ),
        (
            lambda t: t + '\n[[events]]\nat_s = 10\nsite = "riyadh-9"\naction = "fail"\n',
            "events[0].site",
            "allowed: riyadh-1, ireland",
        ),
        (
            lambda t: t + '\n[[events]]\nat_s = 10\nsite = "ireland"\naction = "explode"\n',
            "events[0].action",
            "allowed: fail, restore, drain, undrain",
        ),
        (
            lambda t: t + '\n[[events]]\nat_s = 100\nsite = "ireland"\naction = "fail"\n',
            "events[0].at_s",
            "<= duration_s",
        ),
        (
            lambda t: (
                t
                + '\n[lengths.prompt]\ndist = "zipf"\n'
                + '[lengths.output]\ndist = "fixed"\ntokens = 3\n'
            ),
            "lengths.prompt.dist",
            "allowed: fixed, uniform, lognormal",
        ),
        (
            lambda t: (
                t + '\n[lengths.prompt]\ndist = "uniform"\nmin = 10\nmax = 5\n'
                '[lengths.output]\ndist = "fixed"\ntokens = 3\n'
            ),
            "lengths.prompt.max",
            "must be >= min",
        ),
        (lambda t: t + '\n[lengths]\ntrace = "missing.csv"\n', "lengths.trace", "no such file"),
        (lambda t: t.replace("duration_s = 60.0", ""), "duration_s", "missing"),
    ],
)
def test_bad_values_name_file_key_and_allowed(tmp_path, edit, key, allowed):
    path = _write(tmp_path, edit(MINIMAL))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert info.value.key == key
    assert f": {key}: " in message
    assert allowed in message


def test_unknown_builtin_lists_the_builtins():
    with pytest.raises(ScenarioError, match=r"built-ins: .*eu-asia-baseline"):
        load_scenario("no-such-scenario")


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")
    bad = _write(tmp_path, "duration_s = = 3")
    with pytest.raises(ScenarioError, match="invalid TOML"):
        load_scenario(bad)


def test_builtin_files_are_valid_toml_with_comments():
    from importlib import resources

    folder = resources.files("router.scenarios").joinpath("builtin")
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            text = entry.read_text("utf-8")
            assert text.startswith("#"), f"{entry.name} should open with what it answers"
            tomllib.loads(text)
