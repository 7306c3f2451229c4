"""Cost per million output tokens of a deployment at full batch (for `cheapest`).

A site costs its devices' hourly price whether busy or not, so its cheapest cost per
token is at full occupancy: devices x price / (max_running / TPOT at that load).
Pure: the latency estimate is the engines' forecast, passed in.
"""

from __future__ import annotations

from router.policies.types import DEFAULT_OUTPUT_TOKENS, LatencyEstimator
from sites.engine_api import DeploymentSpec, EngineLoad


def usd_per_mtok_at_capacity(
    spec: DeploymentSpec,
    *,
    price_usd_per_device_hour: float,
    max_running: int,
    estimate_latency: LatencyEstimator,
    prompt_tokens: int = 1000,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> float | None:
    """USD per 1e6 output tokens with every batch slot busy; None if TPOT is unknown."""
    running = max(max_running, 1)
    load = EngineLoad(
        at=0.0,
        queued=0,
        running=running - 1,
        max_running=running,
        queued_prompt_tokens=0,
        kv_used_fraction=0.0,
        tokens_per_s=0.0,
    )
    estimate = estimate_latency(spec, load, prompt_tokens, output_tokens)
    if not estimate.tpot_s > 0:
        return None
    tokens_per_s = running / estimate.tpot_s
    devices = (spec.devices or 1) * max(spec.replicas, 1)
    usd_per_s = price_usd_per_device_hour * devices / 3600.0
    return usd_per_s / tokens_per_s * 1e6
