"""The crossover: with linear forecasts the answer has a closed form to check against."""

from dataclasses import dataclass

import pytest

from router.bench.crossover import MAX_OUTPUT_TOKENS, at_load, crossover
from router.policies.types import RoutingContext, SiteView
from sites.engine_api import DeploymentSpec, EngineLoad, LatencyEstimate


@dataclass(frozen=True)
class P:
    name: str
    lat: float
    lon: float
    region: str = "Europe"
    country: str = "FR"
    eu: bool = True


PARIS = P("Paris", 48.86, 2.35)
DUBLIN = P("Dublin", 53.35, -6.26, country="IE")
RIYADH = P("Riyadh", 24.71, 46.68, region="Middle East", country="SA", eu=False)
RTT = {"Dublin": 20.0, "Riyadh": 100.0}


class FakeNet:
    def rtt_ms(self, a, b):
        return RTT[b.name]

    def handshake_ms(self, rtt_ms, tls=True):
        return 2 * rtt_ms


# GPU: 100 ms TTFT, 20 ms/token, +10 ms/token per extra fully busy capacity unit;
# LPU: 150 ms TTFT, 2 ms/token; queueing adds 50 ms per queued request.
def fake_estimate(spec: DeploymentSpec, load: EngineLoad, prompt: int, out: int) -> LatencyEstimate:
    busy = load.running / load.max_running
    if spec.hardware == "slow-gpu":
        return LatencyEstimate(queue_s=0.0, ttft_s=2.0, tpot_s=0.05)
    if spec.hardware == "groq-lpu":
        return LatencyEstimate(queue_s=0.05 * load.queued, ttft_s=0.15, tpot_s=0.002)
    return LatencyEstimate(queue_s=0.05 * load.queued, ttft_s=0.1, tpot_s=0.02 + 0.01 * busy)


def ctx():
    return RoutingContext(
        network=FakeNet(), estimate_latency=fake_estimate, distance_km=lambda a, b: 0.0
    )


def sites():
    gpu = SiteView(
        name="ireland",
        place=DUBLIN,
        max_running=10,
        spec=DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b"),
    )
    lpu = SiteView(
        name="riyadh-1",
        place=RIYADH,
        max_running=4,
        spec=DeploymentSpec(hardware="groq-lpu", model="llama-3.3-70b"),
    )
    return lpu, gpu


def test_near_site_is_the_lower_rtt_one_whatever_the_order():
    lpu, gpu = sites()
    result = crossover(PARIS, lpu, gpu, ctx(), input_tokens=1000, loads=[0.0])
    assert (result.near, result.far) == ("ireland", "riyadh-1")
    assert (result.near_rtt_ms, result.far_rtt_ms) == (20.0, 100.0)


def test_crossover_matches_the_closed_form_at_idle():
    lpu, gpu = sites()
    result = crossover(PARIS, gpu, lpu, ctx(), input_tokens=1000, loads=[0.0])
    # near: 20 + 40 + 100 + 20 (n-1); far: 100 + 200 + 150 + 2 (n-1)
    # far < near  <=>  450 + 2(n-1) < 160 + 20(n-1)  <=>  n - 1 > 16.11  <=>  n >= 18
    point = result.points[0]
    assert point.crossover_tokens == 18
    assert point.near_fixed_ms == pytest.approx(160.0)
    assert point.far_fixed_ms == pytest.approx(450.0)
    assert point.near_tpot_ms == pytest.approx(20.0)
    assert point.far_tpot_ms == pytest.approx(2.0)
    rows = {r.output_tokens: r for r in result.table}
    assert rows[16].winner == "ireland"
    assert rows[64].winner == "riyadh-1"
    assert rows[64].near_e2e_ms == pytest.approx(160 + 20 * 63)


def test_load_moves_the_crossover_and_queueing_counts():
    lpu, gpu = sites()
    result = crossover(PARIS, gpu, lpu, ctx(), input_tokens=1000, loads=[0.0, 1.0, 1.5])
    by = {p.load: p for p in result.points}
    # busier GPU decodes slower: the far LPU wins sooner
    assert by[1.0].crossover_tokens < by[0.0].crossover_tokens
    # at 1.5x both queue (5 GPU, 2 LPU requests waiting) and the fixed costs grow
    assert by[1.5].near_fixed_ms == pytest.approx(160 + 250)
    assert by[1.5].far_fixed_ms == pytest.approx(450 + 100)


def test_never_and_always():
    lpu, gpu = sites()
    fast_gpu = SiteView(
        name="ireland",
        place=DUBLIN,
        max_running=10,
        spec=DeploymentSpec(hardware="groq-lpu", model="x"),
    )
    result = crossover(PARIS, fast_gpu, lpu, ctx(), input_tokens=10, loads=[0.0])
    assert result.points[0].crossover_tokens is None  # same engine, farther: never wins
    near_lpu = SiteView(name="dublin-lpu", place=DUBLIN, max_running=4, spec=lpu.spec)
    far_gpu = SiteView(name="riyadh-gpu", place=RIYADH, max_running=10, spec=gpu.spec)
    result = crossover(PARIS, near_lpu, far_gpu, ctx(), input_tokens=10, loads=[0.0])
    assert result.points[0].crossover_tokens is None
    slow = SiteView(
        name="slow",
        place=DUBLIN,
        max_running=10,
        spec=DeploymentSpec(hardware="slow-gpu", model="x"),
    )
    result = crossover(PARIS, slow, lpu, ctx(), input_tokens=10, loads=[0.0])
    assert result.points[0].crossover_tokens == 1  # the far site always wins
    assert MAX_OUTPUT_TOKENS > 8192


def test_at_load_fills_slots_then_queues():
    _, gpu = sites()
    s = at_load(gpu, 1.5, 100)
    assert (s.running, s.queued, s.queued_prompt_tokens) == (10, 5, 500)
    s = at_load(gpu, 0.5, 100)
    assert (s.running, s.queued) == (5, 0)


def test_bad_arguments():
    lpu, gpu = sites()
    with pytest.raises(ValueError, match="input_tokens"):
        crossover(PARIS, gpu, lpu, ctx(), input_tokens=0)
    with pytest.raises(ValueError, match="load"):
        crossover(PARIS, gpu, lpu, ctx(), input_tokens=10, loads=[-1.0])


# ---- the command, on the real models and the built-in topology ----


def test_crossover_command_json_is_consistent_with_its_table(capsys):
    import json

    from georoute.cli import main

    argv = [
        "crossover",
        "--from",
        "Paris",
        "--sites",
        "riyadh-1,ireland",
        "--load",
        "0,0.9",
        "--input-tokens",
        "500",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["near"], out["far"]) == ("ireland", "riyadh-1")  # Dublin is nearer Paris
    assert out["near_rtt_ms"] < out["far_rtt_ms"]
    assert out["input_tokens"] == 500
    assert [p["load"] for p in out["points"]] == [0.0, 0.9]
    for point in out["points"]:
        n = point["crossover_tokens"]
        rows = [r for r in out["table"] if r["load"] == point["load"]]
        for r in rows:
            far_wins = r["far_e2e_ms"] < r["near_e2e_ms"]
            assert far_wins == (n is not None and r["output_tokens"] >= n), r


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--from", "Paris", "--sites", "riyadh-1,atlantis"], "'atlantis'"),
        (["--from", "91.5,10", "--sites", "riyadh-1,ireland"], "91.5"),
        (
            ["--from", "Paris", "--sites", "riyadh-1,ireland", "--config", "/nonexistent.toml"],
            "--config",
        ),
    ],
)
def test_crossover_command_errors(capsys, argv, needle):
    from georoute.cli import main

    assert main(["crossover", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_crossover_command_text(capsys):
    from georoute.cli import main

    assert (
        main(["crossover", "--from", "Singapore", "--sites", "ireland,riyadh-1", "--load", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert "Output length above which" in out
    assert "Singapore" in out
