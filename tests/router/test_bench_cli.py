"""`georoute bench report/compare` on a database of constructed rows, and the errors."""

import json

import pytest
from bench_rows import row

from georoute.cli import main
from router.store import ResultsStore


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    store = ResultsStore(path)
    ids = []
    for policy, e2e, site in (("nearest", 1000.0, "ireland"), ("fastest", 800.0, "riyadh-1")):
        config = {
            "slo": {"e2e_ms": 900.0},
            "t0": 0.0,
            "duration_s": 20.0,
            "phases": [{"name": "outage", "start_s": 5.0, "end_s": 10.0}],
            "result": {"regret": {"Europe": {"mean_regret_ms": 42.0}}},
        }
        rid = store.start_run(
            scenario="eu-asia-baseline", mode="sim", policy=policy, config=config, seed=7
        )
        rows = [{**row(i, e2e=e2e + i, site=site), "run_id": rid} for i in range(20)]
        store.add_requests(rows)
        store.finish_run(rid)
        ids.append(rid)
    store.close()
    return path, ids


def test_report_json(db, capsys):
    path, (a, _) = db
    assert main(["bench", "report", a, "--db", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (rep,) = out["runs"]
    assert rep["run"]["id"] == a
    assert rep["run"]["policy"] == "nearest"
    assert rep["overall"]["requests"] == 20
    assert rep["slo"]["e2e_ms"] == 900.0
    assert rep["overall"]["goodput_fraction"] == 0.0  # every E2E >= 1000 ms
    assert rep["phases"][0]["regions"][0]["requests"] == 5
    assert rep["regret"]["Europe"]["mean_regret_ms"] == 42.0
    assert rep["span_s"] == 20.0


def test_report_text_side_by_side(db, capsys):
    path, ids = db
    assert main(["bench", "report", *ids, "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Policies side by side" in out
    assert "nearest" in out
    assert "fastest" in out
    assert "1,010" in out  # nearest's E2E p50 (1000..1019)


def test_compare(db, capsys):
    path, (a, b) = db
    assert main(["bench", "compare", a, b, "--db", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    d = next(
        x for x in out["deltas"] if x["slice"] == "region:Europe" and x["metric"] == "E2E p50 ms"
    )
    assert d["delta"] == pytest.approx(-200.0)
    assert main(["bench", "compare", a, b, "--db", str(path)]) == 0
    assert "B - A" in capsys.readouterr().out


def test_plot_from_report(db, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path, ids = db
    png = tmp_path / "p.png"
    assert main(["bench", "report", *ids, "--db", str(path), "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["bench", "report", "nope"], "'nope'"),
        (["bench", "compare", "nope", "{a}"], "'nope'"),
    ],
)
def test_missing_run_names_it_and_exits_2(db, capsys, argv, needle):
    path, (a, _) = db
    argv = [x.format(a=a) for x in argv] + ["--db", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert a in err  # lists the runs there are


def test_missing_database_exits_2(tmp_path, capsys):
    assert main(["bench", "report", "x", "--db", str(tmp_path / "none.db")]) == 2
    assert "none.db" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["crossover", "--from", "Paris", "--sites", "riyadh-1"], "--sites"),
        (["crossover", "--from", "Paris", "--sites", "a,b", "--load", "x"], "--load"),
        (["crossover", "--from", "Paris", "--sites", "a,b", "--load", "-1"], "--load"),
    ],
)
def test_crossover_flag_errors(capsys, argv, needle):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_bench_without_subcommand_prints_help(capsys):
    assert main(["bench"]) == 2
    assert "run" in capsys.readouterr().out


def test_report_windows(db, capsys):
    path, (a, _) = db
    assert main(["bench", "report", a, "--db", str(path), "--json", "--windows", "4"]) == 0
    (rep,) = json.loads(capsys.readouterr().out)["runs"]
    assert [(w["start_s"], w["end_s"]) for w in rep["timeline"]] == [
        (0.0, 5.0),
        (5.0, 10.0),
        (10.0, 15.0),
        (15.0, 20.0),
    ]
    assert sum(w["requests"] for w in rep["timeline"]) == 20
