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
