"""`georoute bench run`: errors that name the bad value, and what the runner derives
from a scenario (phases from scripted events, SLOs, the shared request stream)."""

import itertools

import pytest

from georoute.cli import main
from router.bench import facts
from router.scenarios import load_scenario


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["bench", "run", "no-such-scenario"], "no-such-scenario"),
        (["bench", "run", "/nonexistent/x.toml"], "/nonexistent/x.toml"),
        (
            ["bench", "run", "eu-asia-baseline", "--policy", "fastest", "--policy", "bogus"],
            "'bogus'",
        ),
        (["bench", "run", "eu-asia-baseline", "--mode", "live"], "--router"),
    ],
)
def test_run_errors_name_the_bad_value_and_exit_2(tmp_path, capsys, argv, needle):
    assert main([*argv, "--db", str(tmp_path / "x.db"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_bad_numbers_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "run", "eu-asia-baseline", "--requests", "0"])
    assert exc.value.code == 2
    assert "--requests" in capsys.readouterr().err


def test_outage_phases_follow_the_events():
    phases = facts.phases_dict(load_scenario("riyadh-outage"))
    assert [(p["start_s"], p["end_s"]) for p in phases] == [(0, 200), (200, 400), (400, 600)]
    assert "riyadh-1 failed" in phases[1]["name"]
    assert "all sites up" in phases[0]["name"]
    assert facts.phases_dict(load_scenario("eu-asia-baseline")) == []
    cut = facts.phases_dict(facts.with_duration(load_scenario("riyadh-outage"), 300.0))
    assert [(p["start_s"], p["end_s"]) for p in cut] == [(0, 200), (200, 300)]


def test_live_and_sim_share_the_request_stream():
    s = load_scenario("eu-asia-baseline")
    a = [
        (r.request_id, r.at_s, r.place.name, r.prompt_tokens, r.output_tokens)
        for r in itertools.islice(facts.client_requests(s, 3), 50)
    ]
    b = [
        (r.request_id, r.at_s, r.place.name, r.prompt_tokens, r.output_tokens)
        for r in itertools.islice(s.requests(3), 50)
    ]
    assert a == b
    c = [r.at_s for r in itertools.islice(facts.client_requests(s, 4), 50)]
    assert c != [x[1] for x in a]


def test_shortened_scenario_and_slos():
    s = facts.with_duration(load_scenario("riyadh-outage"), 30.0)
    assert s.duration_s == 30.0
    assert all(r.at_s < 30.0 for r in facts.client_requests(s, 1))
    assert facts.slo_dict(s) == {"ttft_ms": 1500.0, "tpot_ms": 50.0, "e2e_ms": 20000.0}
    assert facts.model_of(s) == "llama-3.3-70b"


# ---- sim runs through the CLI ----


SMALL = """
name = "small"
duration_s = 30.0
seed = 1
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
rate_rps = 10.0
[routing]
policy = "fastest"
[slo]
e2e_ms = 20000.0
"""


def _run_json(capsys, tmp_path, *extra):
    import json

    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    argv = ["bench", "run", str(scenario), "--db", str(tmp_path / "b.db"), "--json", *extra]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)["runs"]


def _strip_ids(report):
    return {**report, "run": {k: v for k, v in report["run"].items() if k != "id"}}


def test_same_scenario_and_seed_give_identical_reports(tmp_path, capsys):
    (a,) = _run_json(capsys, tmp_path, "--seed", "11")
    (b,) = _run_json(capsys, tmp_path, "--seed", "11")
    assert a["run"]["id"] != b["run"]["id"]
    assert _strip_ids(a) == _strip_ids(b)
    assert a["overall"]["requests"] > 100
    (c,) = _run_json(capsys, tmp_path, "--seed", "12")
    assert c["overall"]["e2e_ms"] != a["overall"]["e2e_ms"]


def test_policies_side_by_side_on_the_same_traffic(tmp_path, capsys):
    from router.store import ResultsStore

    runs = _run_json(capsys, tmp_path, "--policy", "fastest", "--policy", "nearest")
    assert [r["run"]["policy"] for r in runs] == ["fastest", "nearest"]
    assert runs[0]["overall"]["requests"] == runs[1]["overall"]["requests"]
    # nearest keeps Paris on the near GPU site; fastest sends it to the LPU hub
    europe = {
        r["run"]["policy"]: next(g for g in r["regions"] if g["name"] == "europe") for r in runs
    }
    assert europe["nearest"]["share"].get("ireland") == 1.0
    assert europe["fastest"]["share"].get("ireland", 0.0) < 0.5
    assert runs[0]["regret"]["europe"]["requests"] == europe["fastest"]["requests"]
    # everything landed in SQLite: one row per request, samples per site
    store = ResultsStore(tmp_path / "b.db")
    try:
        for r in runs:
            rid = r["run"]["id"]
            assert len(store.requests(rid)) == r["overall"]["requests"]
            assert store.run(rid)["requests"] == r["overall"]["requests"]
            samples = store.db.execute(
                "select count(distinct site) from site_samples where run_id = ?", [rid]
            ).fetchone()[0]
            assert samples == 2
    finally:
        store.close()


def test_requests_limit_and_text_report(tmp_path, capsys):
    argv = [
        "bench",
        "run",
        "eu-asia-baseline",
        "--requests",
        "50",
        "--db",
        str(tmp_path / "c.db"),
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "eu-asia-baseline" in out
    assert "50 requests" in out
    assert "Per client region" in out
    assert "Regret" in out


OUTAGE = (
    SMALL.replace('name = "small"', 'name = "small-outage"')
    + """
[[events]]
at_s = 10.0
site = "riyadh-1"
action = "fail"
[[events]]
at_s = 20.0
site = "riyadh-1"
action = "restore"
"""
)


def test_outage_report_shows_each_phase(tmp_path, capsys):
    import json

    path = tmp_path / "outage.toml"
    path.write_text(OUTAGE)
    argv = ["bench", "run", str(path), "--db", str(tmp_path / "o.db"), "--json"]
    assert main(argv) == 0
    (rep,) = json.loads(capsys.readouterr().out)["runs"]
    assert [(p["start_s"], p["end_s"]) for p in rep["phases"]] == [(0, 10), (10, 20), (20, 30)]
    before, during, after = ({r["name"]: r for r in p["regions"]} for p in rep["phases"])
    assert "riyadh-1 failed" in rep["phases"][1]["phase"]
    # fastest sends Asia to riyadh-1 while it is up, elsewhere while it is down
    assert before["asia"]["share"].get("riyadh-1", 0.0) > 0.9
    assert during["asia"]["share"].get("riyadh-1", 0.0) < 0.05
    assert after["asia"]["share"].get("riyadh-1", 0.0) > 0.9
    # and Asia pays for it in latency while the LPU hub is away
    assert during["asia"]["e2e_ms"]["p50"] > before["asia"]["e2e_ms"]["p50"]


def test_residency_cost_by_counterfactual_on_the_same_traffic(tmp_path, capsys):
    import json

    db = str(tmp_path / "s.db")
    runs = {}
    for extra in ([], ["--no-residency"]):
        assert (
            main(["bench", "run", "sovereign-eu", "--duration", "30", "--db", db, "--json", *extra])
            == 0
        )
        (rep,) = json.loads(capsys.readouterr().out)["runs"]
        runs["free" if extra else "eu"] = rep
    assert runs["free"]["run"]["scenario"] == "sovereign-eu (no residency)"
    assert runs["eu"]["overall"]["requests"] == runs["free"]["overall"]["requests"]
    cities = {k: {c["name"]: c for c in r["cities"]} for k, r in runs.items()}
    # Paris (EU) may only use ireland under residency; London (GB) is unconstrained
    assert cities["eu"]["Paris (europe)"]["share"] == {"ireland": 1.0}
    assert cities["free"]["Paris (europe)"]["share"].get("ireland", 0.0) < 1.0
    assert cities["eu"]["London (europe)"]["share"].get("ireland", 0.0) < 1.0
    a, b = runs["free"]["run"]["id"], runs["eu"]["run"]["id"]
    assert main(["bench", "compare", a, b, "--db", db, "--json"]) == 0
    deltas = json.loads(capsys.readouterr().out)["deltas"]
    paris = next(
        d for d in deltas if d["slice"] == "city:Paris (europe)" and d["metric"] == "E2E p50 ms"
    )
    assert paris["delta"] is not None


def test_outage_counterfactual_has_no_phases(tmp_path, capsys):
    import json

    path = tmp_path / "outage.toml"
    path.write_text(OUTAGE)
    argv = ["bench", "run", str(path), "--no-events", "--db", str(tmp_path / "n.db"), "--json"]
    assert main(argv) == 0
    (rep,) = json.loads(capsys.readouterr().out)["runs"]
    assert rep["phases"] == []
    assert rep["run"]["scenario"] == "small-outage (no events)"
    asia = next(r for r in rep["regions"] if r["name"] == "asia")
    assert asia["share"].get("riyadh-1", 0.0) > 0.9  # nothing failed: Asia stays on the hub


def test_requests_limit_spans_its_own_arrivals(tmp_path, capsys):
    (rep,) = _run_json(capsys, tmp_path, "--requests", "30")
    assert rep["overall"]["requests"] == 30
    assert 0 < rep["span_s"] < 30.0  # 30 requests at 10 rps, not the scenario's 30 s
    assert sum(w["requests"] for w in rep["timeline"]) == 30


def test_writer_reports_a_failed_batch_on_the_callers_thread(tmp_path):
    from router.bench.writer import StoreWriter
    from router.store import ResultsStore

    store = ResultsStore(tmp_path / "w.db")
    rid = store.start_run(scenario="s", mode="sim", policy="p")
    store.close()
    writer = StoreWriter(tmp_path / "w.db")
    writer.put(rid, [{"request_id": "a", "status": "ok"}])
    writer.put(rid, [{"request_id": "b", "bogus_column": 1}])
    with pytest.raises(RuntimeError, match="bogus_column"):
        writer.close()
    assert writer.written == 1
