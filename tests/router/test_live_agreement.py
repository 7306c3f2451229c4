"""Sim and live agree: the same small scenario and seed, run by the simulator and live
through in-process sites and router on 127.0.0.1, give p50 TTFT and p50 E2E within 5%.

The scenario is small enough for this machine to carry live without falling behind
(a few requests per second, short outputs) and lasts a few seconds of wall time.
"""

import textwrap

import pytest

from router.bench.agreement import compare_modes
from router.scenarios import load_scenario

SCENARIO = """
name = "agreement-small"
description = "two sites, two cities, light load: sim vs live"
duration_s = 6.0
seed = 5

[[sites]]
name = "riyadh-1"
place = "Riyadh"
hardware = "groq-lpu"
model = "llama-3.3-70b"
precision = "fp8"

[[sites]]
name = "ireland"
place = "Dublin"
hardware = "h200"
model = "llama-3.3-70b"
precision = "fp8"
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
tokens = 400
[lengths.output]
dist = "uniform"
min = 20
max = 200

[routing]
policy = "{policy}"
stats_interval_s = 0.5

[network]
connection_reuse = 0.0

[slo]
ttft_ms = 1500.0
e2e_ms = 20000.0
"""


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["lowest-rtt", "fastest"])
async def test_sim_and_live_agree_on_p50s(tmp_path, policy):
    path = tmp_path / "agreement.toml"
    path.write_text(textwrap.dedent(SCENARIO).replace("{policy}", policy))
    scenario = load_scenario(str(path))
    result = await compare_modes(scenario, policy=policy, seed=5)
    assert result.sim.requests == result.live.requests > 10
    assert result.live.ok == result.live.requests
    assert result.sim.ok == result.sim.requests
    assert abs(result.ttft_p50_diff) <= 0.05, result
    assert abs(result.e2e_p50_diff) <= 0.05, result
