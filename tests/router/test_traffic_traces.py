"""Trace replay: Azure CSV and Mooncake JSONL readers, time scaling, bucket spreading,
looping, empirical lengths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router.traffic import (
    EmpiricalLengths,
    FixedLength,
    PairedLengths,
    Population,
    TraceArrivals,
    TraceError,
    TrafficConfig,
    detect_format,
    generate,
    read_trace,
)

TRACES = Path(__file__).resolve().parents[3] / "shared" / "traces"
AZURE_CONV = TRACES / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"
MOONCAKE_CONV = TRACES / "mooncake" / "conversation_trace.jsonl"
SHAREGPT = TRACES / "sharegpt_lengths" / "sharegpt_8k_filtered_stats_llama2_tokenizer.csv"
needs_traces = pytest.mark.skipif(not AZURE_CONV.exists(), reason="shared traces not present")


def _pop() -> Population:
    return Population.from_places([("London", 1.0, "europe"), ("Mumbai", 1.0, "asia")])


@pytest.fixture
def azure_file(tmp_path: Path) -> Path:
    rows = [
        "TIMESTAMP,ContextTokens,GeneratedTokens",
        "2023-11-16 18:15:46.6805900,374,44",
        "2023-11-16 18:15:47.1805900,396,109",
        "2023-11-16 18:15:50.6805900,100,7",
        "2023-11-16 18:15:56.6805900,800,20",
    ]
    path = tmp_path / "azure.csv"
    path.write_text("\n".join(rows))  # like the real files: no trailing newline
    return path


@pytest.fixture
def mooncake_file(tmp_path: Path) -> Path:
    lines = [
        {"timestamp": ts, "input_length": 100 + i, "output_length": 10 + i, "hash_ids": [i]}
        for i, ts in enumerate([0, 0, 0, 0, 3000, 3000, 6000])
    ]
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _replay(cfg: TraceArrivals, duration_s: float, lengths=None, seed: int = 0):
    traffic = TrafficConfig(arrivals=cfg, lengths=lengths)
    return list(generate(traffic, _pop(), np.random.default_rng(seed), duration_s))


def test_azure_reader_parses_seven_decimals_and_last_row(azure_file):
    assert detect_format(azure_file) == "azure"
    recs = list(read_trace(azure_file))
    assert [r.at_s for r in recs] == pytest.approx([0.0, 0.5, 4.0, 10.0])
    assert (recs[-1].prompt_tokens, recs[-1].output_tokens) == (800, 20)


def test_azure_replay_keeps_times_and_lengths_and_scales_time(azure_file):
    reqs = _replay(TraceArrivals(path=str(azure_file)), 100.0)
    assert [r.at_s for r in reqs] == pytest.approx([0.0, 0.5, 4.0, 10.0])
    assert next((r.prompt_tokens, r.output_tokens) for r in reqs) == (374, 44)
    fast = _replay(TraceArrivals(path=str(azure_file), speedup=2.0), 100.0)
    assert [r.at_s for r in fast] == pytest.approx([0.0, 0.25, 2.0, 5.0])
    cut = _replay(TraceArrivals(path=str(azure_file), speedup=2.0), 4.0)
    assert len(cut) == 3
    skipped = _replay(TraceArrivals(path=str(azure_file), start_s=1.0), 100.0)
    assert [r.at_s for r in skipped] == pytest.approx([3.0, 9.0])


def test_trace_lengths_can_be_overridden(azure_file):
    fixed = PairedLengths(prompt=FixedLength(tokens=7), output=FixedLength(tokens=3))
    reqs = _replay(TraceArrivals(path=str(azure_file)), 100.0, lengths=fixed)
    assert [r.at_s for r in reqs] == pytest.approx([0.0, 0.5, 4.0, 10.0])
    assert {(r.prompt_tokens, r.output_tokens) for r in reqs} == {(7, 3)}


def test_loop_repeats_the_trace(azure_file):
    reqs = _replay(TraceArrivals(path=str(azure_file), loop=True), 35.0)
    # Pass length 10 s + one mean gap (10/3 s): passes start at 0, 13.33, 26.67.
    assert len(reqs) == 11
    assert reqs[4].at_s == pytest.approx(10.0 + 10.0 / 3.0)


def test_mooncake_buckets_are_spread_within_the_bucket(mooncake_file):
    assert detect_format(mooncake_file) == "mooncake"
    reqs = _replay(TraceArrivals(path=str(mooncake_file)), 100.0)
    times = np.array([r.at_s for r in reqs])
    assert len(reqs) == 7
    assert np.all(np.diff(times) > 0)
    assert np.all((times[:4] >= 0.0) & (times[:4] < 3.0))
    assert np.all((times[4:6] >= 3.0) & (times[4:6] < 6.0))
    assert 6.0 <= times[6] < 9.0
    assert times[:4].max() - times[:4].min() > 0.5  # actually spread, not jittered
    # Lengths stay attached to their record (order within a bucket is the file's).
    assert [r.prompt_tokens for r in reqs] == [100, 101, 102, 103, 104, 105, 106]
    raw = _replay(TraceArrivals(path=str(mooncake_file), spread_s=0.0), 100.0)
    assert [r.at_s for r in raw] == [0.0] * 4 + [3.0] * 2 + [6.0]


def test_bad_trace_rows_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,abc,4")
    with pytest.raises(TraceError, match=r"bad\.csv:2"):
        list(read_trace(bad))
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3")
    with pytest.raises(TraceError, match="unrecognised trace format"):
        detect_format(other)


@needs_traces
def test_real_azure_conversation_replay_counts_and_rate():
    reqs = _replay(TraceArrivals(path=str(AZURE_CONV)), 4000.0)
    assert len(reqs) == 19_366
    assert len(reqs) / reqs[-1].at_s == pytest.approx(5.53, rel=0.01)
    fast = _replay(TraceArrivals(path=str(AZURE_CONV), speedup=10.0), 100.0)
    # 100 s at 10x is the first 1,000 s of the trace.
    first_1000 = sum(1 for r in read_trace(AZURE_CONV) if (r.at_s or 0.0) < 1000.0)
    assert len(fast) == first_1000


@needs_traces
def test_real_mooncake_replay_has_no_simultaneous_bursts():
    reqs = _replay(TraceArrivals(path=str(MOONCAKE_CONV)), 4000.0)
    assert len(reqs) == 12_031
    times = np.array([r.at_s for r in reqs])
    assert np.all(np.diff(times) >= 0)
    assert np.unique(times).size == times.size
    gaps = np.diff(times)
    assert gaps.std() / gaps.mean() < 1.5  # spread buckets look like ordinary traffic


@needs_traces
@pytest.mark.parametrize(
    ("path", "p50_prompt", "p50_output"),
    [(AZURE_CONV, 1020, 129), (MOONCAKE_CONV, 6909, 350), (SHAREGPT, 1730, 415)],
)
def test_empirical_lengths_reproduce_the_trace_medians(path, p50_prompt, p50_output):
    prompts, outputs = EmpiricalLengths(path=str(path)).sample(np.random.default_rng(1), 100_000)
    assert np.median(prompts) == pytest.approx(p50_prompt, rel=0.03)
    assert np.median(outputs) == pytest.approx(p50_output, rel=0.03)
