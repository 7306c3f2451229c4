"""`georoute predict` / `georoute calibrate` from the command line: output and errors."""

import json

import pytest

from georoute.cli import main

BASE = ["predict", "--hardware", "h100-sxm", "--devices", "2", "--model", "llama-3.3-70b",
        "--precision", "fp8", "--input-tokens", "1000", "--output-tokens", "100",
        "--concurrency", "4", "--requests", "40", "--client-turnaround-ms", "1"]


def test_predict_json_prints_exactly_the_design_keys(capsys):
    assert main([*BASE, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"ttft_ms", "tpot_ms", "per_user_tok_s", "total_tok_s", "e2e_ms"}
    assert all(v > 0 for v in data.values())


def test_predict_text_output(capsys):
    assert main(BASE) == 0
    out = capsys.readouterr().out
    assert "TTFT" in out
    assert "2x h100-sxm" in out
    assert "client turnaround 1 ms" in out


def test_client_turnaround_flag_reaches_the_model(capsys):
    """Lock-step clients (0 ms) join the iteration right after their last token; any
    real turnaround misses it: a different schedule, so different figures."""
    big = swap(swap(BASE, "--concurrency", "64"), "--requests", "256")
    results = {}
    for ms in ("0", "1"):
        assert main([*swap(big, "--client-turnaround-ms", ms), "--json"]) == 0
        results[ms] = json.loads(capsys.readouterr().out)
    assert results["0"]["ttft_ms"] < 0.9 * results["1"]["ttft_ms"]


def swap(args, flag, value):
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


@pytest.mark.parametrize(
    ("flag", "value", "expect"),
    [
        ("--hardware", "h101", ["--hardware", "h100-sxm", "groq-lpu", "b200"]),
        ("--model", "llama-9", ["--model", "llama-3.3-70b", "mixtral-8x7b"]),
        ("--precision", "fp12", ["--precision", "fp8", "bf16"]),
        ("--input-tokens", "0", ["--input-tokens"]),
        ("--output-tokens", "-5", ["--output-tokens"]),
        ("--concurrency", "0", ["--concurrency"]),
        ("--requests", "0", ["--requests"]),
        ("--client-turnaround-ms", "-1", ["--client-turnaround-ms"]),
        ("--client-turnaround-ms", "nan", ["--client-turnaround-ms"]),
    ],
)
def test_bad_input_exits_2_naming_the_flag(capsys, flag, value, expect):
    assert main(swap(BASE, flag, value)) == 2
    err = capsys.readouterr().err
    for word in expect:
        assert word in err
    assert "Traceback" not in err


def test_model_that_does_not_fit_says_memory_and_devices(capsys):
    args = swap(swap(BASE, "--model", "llama-3.1-405b"), "--devices", "1")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "GB" in err
    assert "would hold it" in err


def test_lpu_chip_count_too_small(capsys):
    args = swap(swap(BASE, "--hardware", "groq-lpu"), "--devices", "8")
    assert main(args) == 2
    assert "chips would hold it" in capsys.readouterr().err


def test_calibrate_with_a_missing_points_file(capsys, tmp_path):
    assert main(["calibrate", "--points", str(tmp_path / "nope.csv")]) == 2
    assert "--points" in capsys.readouterr().err


def test_request_longer_than_the_context_names_the_length_flags(capsys):
    args = swap(swap(BASE, "--model", "llama-2-70b"), "--input-tokens", "4000")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--input-tokens" in err
    assert "4100 tokens of context" in err
