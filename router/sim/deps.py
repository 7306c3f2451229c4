"""The models a simulation runs on: the real engines, estimator, network model and
geography by default (`default_deps`), or simpler stand-ins in tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.policies.types import LatencyEstimator
from router.sim.paths import PathModel
from sites.engine_api import DeploymentSpec, Engine


@dataclass(frozen=True, slots=True, kw_only=True)
class SimDeps:
    """The models a simulation runs on; `default_deps()` gives the real ones, tests
    may pass simpler engines."""

    build_engine: Callable[[DeploymentSpec], Engine]
    estimate_latency: LatencyEstimator
    resolve: Callable[[DeploymentSpec], DeploymentSpec]
    network: PathModel
    price_usd_per_device_hour: Callable[[str], float]
    distance_km: Callable[[Any, Any], float]


def default_deps() -> SimDeps:
    from router.geo import distance_km
    from router.network import NetworkModel
    from sites.catalog import get_hardware
    from sites.engines import build_engine, estimate_latency, resolve_deployment

    return SimDeps(
        build_engine=build_engine,
        estimate_latency=estimate_latency,
        resolve=resolve_deployment,
        network=NetworkModel(),
        price_usd_per_device_hour=lambda hw: get_hardware(hw).price_usd_per_hour,
        distance_km=distance_km,
    )


def memo_by_identity(fn: Callable[[Any, Any], float]) -> Callable[[Any, Any], float]:
    """Cache a pair function by the objects' identity: the simulator hands policies the
    same place objects for the whole run, and hashing a frozen Place on every call
    costs more than the lookup."""
    cache: dict[tuple[int, int], float] = {}

    def memo(a: Any, b: Any) -> float:
        key = (id(a), id(b))
        value = cache.get(key)
        if value is None:
            value = cache[key] = fn(a, b)
        return value

    return memo
