"""Engine simulators behind every site, and the helpers drivers need.

Public API (stable):
- `build_engine(spec, start_at=0.0) -> Engine`: a GPUEngine or LPUEngine for the spec.
- `resolve_deployment(spec) -> DeploymentSpec`: devices, tp and scheduler knobs filled
  in; raises CatalogError (unknown ids) or DeploymentError (does not fit, bad numbers).
- `estimate_latency(spec, load, prompt_tokens, output_tokens) -> LatencyEstimate`:
  a closed-form forecast for the router's `fastest` policy.
- `GPUEngine`, `LPUEngine`: the engine classes.

Driving them (both engines):
- `advance(until)` runs every iteration that starts before `until` and returns their
  tokens (TokenRuns, timestamps up to one iteration past `until`) and the requests
  that finished; how a driver chops time into `advance` calls never changes results.
- `submit` a request with `arrived_at` <= the engine's time (e.g. mid-iteration): it
  joins the next iteration. A later `arrived_at` is honoured (it waits for its time).
- `next_event_at()` is always later than the last `until` while there is work, and
  `advance(until=next_event_at())` never runs past a completion: a closed-loop driver
  can loop on it (see `sites.predict.run_closed_loop`). None when idle and empty.
"""

from __future__ import annotations

from sites.engine_api import DeploymentSpec, Engine
from sites.engines.deploy import GPUDeployment, LPUDeployment, resolve
from sites.engines.estimate import estimate_latency
from sites.engines.gpu import GPUEngine
from sites.engines.lpu import LPUEngine


def resolve_deployment(spec: DeploymentSpec) -> DeploymentSpec:
    """The spec with devices, tp, max_num_seqs and max_batched_tokens filled in."""
    return resolve(spec).spec


def build_engine(spec: DeploymentSpec, *, start_at: float = 0.0) -> Engine:
    """A fresh engine for `spec` whose clock starts at `start_at` (seconds)."""
    dep = resolve(spec)
    if isinstance(dep, LPUDeployment):
        return LPUEngine(dep, start_at=start_at)
    assert isinstance(dep, GPUDeployment)
    return GPUEngine(dep, start_at=start_at)


__all__ = [
    "GPUEngine",
    "LPUEngine",
    "build_engine",
    "estimate_latency",
    "resolve_deployment",
]
