"""Sim and live agree: the same small scenario and seed, run by the simulator and live
through in-process sites and router on 127.0.0.1, give p50 TTFT and p50 E2E within 5%.

The scenario is small enough for this machine to carry live without falling behind
(a few requests per second, short outputs) and lasts a few seconds of wall time.

With every request on a kept-alive connection (reuse 1) the live client warms its pool
first, and no request may pay a handshake the simulator did not charge. TTFT is then
about 100 ms, and the live stack's own time on this machine (client, router and site
code, event-loop timers: about 5 ms, which the simulator does not model) is about 5% of
it; that case checks that the TTFT gap is no more than that time plus 5%.
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
connection_reuse = {reuse}

[slo]
ttft_ms = 1500.0
e2e_ms = 20000.0
"""


def _scenario(tmp_path, policy: str, reuse: float):
    path = tmp_path / "agreement.toml"
    text = textwrap.dedent(SCENARIO).replace("{policy}", policy).replace("{reuse}", str(reuse))
    path.write_text(text)
    return load_scenario(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["lowest-rtt", "fastest"])
async def test_sim_and_live_agree_on_p50s(tmp_path, policy):
    result = await compare_modes(_scenario(tmp_path, policy, 0.0), policy=policy, seed=5)
    assert result.sim.requests == result.live.requests > 10
    assert result.live.ok == result.live.requests
    assert result.sim.ok == result.sim.requests
    assert result.new_connection_fraction == {"sim": 1.0, "live": 1.0}
    assert result.warm_connections == 0
    assert abs(result.ttft_p50_diff) <= 0.05, result
    assert abs(result.e2e_p50_diff) <= 0.05, result


@pytest.mark.slow
async def test_reusing_requests_pay_no_handshake_live_either(tmp_path):
    result = await compare_modes(_scenario(tmp_path, "fastest", 1.0), policy="fastest", seed=5)
    assert result.sim.requests == result.live.requests > 10
    assert result.live.ok == result.live.requests
    assert result.warm_connections > 0
    # one handshake the simulator did not charge would add 40-200 ms to that request
    assert result.new_connection_fraction == {"sim": 0.0, "live": 0.0}
    assert abs(result.e2e_p50_diff) <= 0.05, result
    gap_ms = result.live.ttft_p50_ms - result.sim.ttft_p50_ms
    assert gap_ms <= result.live_overhead_ms + 0.05 * result.sim.ttft_p50_ms, result
