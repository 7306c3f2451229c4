"""georoute calibrate on a small synthetic points file (same columns as hw_points.csv)."""

import pytest

from sites.calibrate import (
    CalibrationReport,
    Comparison,
    format_report,
    openorca_lengths,
    run_calibration,
)

HEADER = ("id,vendor,hardware,num_devices,parallelism,framework,model,precision,input_tokens,"
          "output_tokens,concurrency,ttft_ms,tpot_ms,per_user_tok_s,total_tok_s,source,date,"
          "notes")
ROWS = [
    "T-GPU,NVIDIA,H100 80GB,2,TP2,TensorRT-LLM,Llama-3.3-70B-Instruct,FP8,1000,200,4,"
    "150,20,50,180,synthetic,2025,",
    "T-STATIC,NVIDIA,H100 SXM 80GB,1,TP1,vLLM,Llama-3.1-8B,BF16,32,128,batch 8,,8,,,"
    "synthetic,2025,",
    "T-LPU,Groq,Groq LPU,,,GroqCloud API,Llama-3.3-70B,,,,,,,250,,synthetic,2025,",
    "T-API,Groq,GroqChip LPU v1 (GroqCloud API),,,GroqCloud API,Llama-2-70B-chat,,550,150,5,"
    "220,5.0,200,450,synthetic,2024,",
    "T-SKIP,GPU provider,undisclosed GPU,,,some API,Llama-2-70B-chat,,550,150,5,210,,66,,"
    "synthetic,2023,",
    "T-DS,NVIDIA,H200,8,TP8,TensorRT-LLM,DeepSeek-R1 (671B MoE),FP8,1024,2048,1,,,150,150,"
    "synthetic,2025,",
]


@pytest.fixture
def points(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


def test_rows_are_compared_or_skipped_with_a_reason(points):
    report = run_calibration(points)
    compared = {c.row_id for c in report.comparisons}
    assert compared == {"T-GPU", "T-STATIC", "T-LPU", "T-API"}
    skipped = {s.row_id: s.reason for s in report.skipped}
    assert "not disclosed" in skipped["T-SKIP"]
    assert "DeepSeek" in skipped["T-DS"]
    gpu = {c.metric: c for c in report.comparisons if c.row_id == "T-GPU"}
    assert set(gpu) == {"ttft_ms", "tpot_ms", "per_user_tok_s", "total_tok_s"}
    for c in gpu.values():
        assert c.predicted > 0
        assert c.error_pct == pytest.approx((c.predicted - c.published) / c.published * 100)


def test_provider_ttft_and_throughput_are_shown_but_not_in_the_mape(points):
    report = run_calibration(points)
    api = {c.metric: c for c in report.comparisons if c.row_id == "T-API"}
    assert not api["ttft_ms"].in_mape
    assert "network" in api["ttft_ms"].note
    assert not api["total_tok_s"].in_mape
    assert api["per_user_tok_s"].in_mape


def test_mape_groups_by_family_and_hardware():
    report = CalibrationReport(comparisons=[
        Comparison(row_id="a", hardware="h100-sxm", model="m", workload="w",
                   metric="tpot_ms", published=10, predicted=11),
        Comparison(row_id="b", hardware="h200", model="m", workload="w",
                   metric="tpot_ms", published=10, predicted=7),
        Comparison(row_id="c", hardware="groq-lpu", model="m", workload="w",
                   metric="per_user_tok_s", published=100, predicted=90),
        Comparison(row_id="d", hardware="h200", model="m", workload="w",
                   metric="tpot_ms", published=10, predicted=50, mlperf_server=True),
        Comparison(row_id="e", hardware="h200", model="m", workload="w",
                   metric="tpot_ms", published=10, predicted=50, in_mape=False),
    ])
    mape = report.mape()
    assert mape[("GPU", "tpot_ms")] == (pytest.approx(20.0), 2)
    assert mape[("h200", "tpot_ms")] == (pytest.approx(30.0), 1)
    assert mape[("LPU", "per_user_tok_s")] == (pytest.approx(10.0), 1)
    assert mape[("MLPerf-Srv", "tpot_ms")] == (pytest.approx(400.0), 1)
    text = format_report(report)
    assert "MAPE" in text
    assert "h200" in text


def test_missing_columns_are_an_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,hardware\nx,h100\n")
    with pytest.raises(ValueError, match="missing columns"):
        run_calibration(path)


def test_openorca_lengths_have_the_mlperf_shape():
    import numpy as np

    lengths = np.array(openorca_lengths(20000, np.random.default_rng(0)))
    assert lengths.max() <= 1024
    assert lengths.min() >= 1
    assert lengths[:, 1].mean() == pytest.approx(294, rel=0.03)
