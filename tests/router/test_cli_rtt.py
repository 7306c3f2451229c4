"""`georoute rtt`: output shape, flags and named errors (exit 2, no traceback)."""

from __future__ import annotations

import json

import pytest

from georoute.cli import main
from router.geo import distance_km, resolve_place
from router.network import NetworkModel


def run(capsys, *argv):
    code = main(["rtt", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_exactly_the_design_keys(capsys):
    code, out, _ = run(capsys, "--from", "48.8566,2.3522", "--to", "24.7136,46.6753", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"rtt_ms", "distance_km"}
    a, b = resolve_place("48.8566,2.3522"), resolve_place("24.7136,46.6753")
    assert data["rtt_ms"] == pytest.approx(NetworkModel().rtt_ms(a, b), abs=0.01)
    assert data["distance_km"] == pytest.approx(distance_km(a, b), abs=0.1)


def test_names_and_text_output(capsys):
    code, out, _ = run(capsys, "--from", "Paris", "--to", "Riyadh")
    assert code == 0
    assert "Paris -> Riyadh" in out
    assert "ms RTT" in out
    assert "km" in out
    rtt = NetworkModel().rtt_ms(resolve_place("Paris"), resolve_place("Riyadh"))
    assert f"{rtt:.1f} ms" in out


def test_p95_and_access_leg(capsys):
    code, out, _ = run(
        capsys, "--from", "Paris", "--to", "Riyadh", "--p95", "--access", "mobile", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["rtt_ms"] == pytest.approx(data["backbone_rtt_ms"] + 35.0, abs=0.011)
    assert data["rtt_p95_ms"] > data["rtt_ms"]
    assert data["access"] == "mobile"


def test_negative_coordinates_with_equals(capsys):
    code, out, _ = run(capsys, "--from=-33.92,18.42", "--to", "Dublin", "--json")
    assert code == 0
    assert json.loads(out)["distance_km"] > 9000


def test_matrix_table(capsys):
    code, out, _ = run(
        capsys, "--matrix", "Paris", "Singapore", "Mumbai", "--to", "Riyadh", "Dublin", "Ashburn"
    )
    assert code == 0
    lines = out.splitlines()
    assert "Riyadh" in lines[1]
    assert "Ashburn" in lines[1]
    assert [ln.split()[0] for ln in lines[2:]] == ["Paris", "Singapore", "Mumbai"]
    m = NetworkModel()
    assert f"{m.rtt_ms(resolve_place('Mumbai'), resolve_place('Dublin')):.1f}" in lines[4]


def test_matrix_json_with_p95(capsys):
    code, out, _ = run(
        capsys, "--matrix", "Paris", "Tokyo", "--to", "Riyadh", "Dublin", "--p95", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["places"] == ["Paris", "Tokyo"]
    assert data["sites"] == ["Riyadh", "Dublin"]
    assert all(
        q > m
        for rq, rm in zip(data["rtt_p95_ms"], data["rtt_ms"], strict=False)
        for q, m in zip(rq, rm, strict=False)
    )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--from", "Frankfrut", "--to", "Riyadh"], "--from: unknown place 'Frankfrut'"),
        (["--from", "Paris", "--to", "Riyadhh"], "Riyadh"),
        (["--from", "91,10", "--to", "Riyadh"], "latitude 91"),
        (["--from", "Paris", "--to", "45,abc"], "'abc'"),
        (["--from", "Paris"], "--to is required"),
        (["--to", "Paris"], "--from is required"),
        (["--from", "Paris", "--to", "Riyadh", "Dublin"], "--to takes one place"),
        (["--from", "Paris", "--matrix", "Rome", "--to", "Riyadh"], "exclusive"),
        (["--matrix", "Paris", "Atlantizz", "--to", "Riyadh"], "--matrix: unknown place"),
        (["--validate", "--pairs", "/nonexistent/pairs.csv"], "--pairs: no such file"),
    ],
)
def test_user_errors_exit_2_and_name_the_problem(capsys, argv, named):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert named in err
    assert "Traceback" not in err
    assert out == ""
