"""Whole-system discrete-event simulation in virtual time (pure: no sockets, no sleeping).

    from router.sim import simulate, SimResult
    result = simulate(load_scenario("eu-asia-baseline"), policy="fastest", seed=1,
                      on_rows=store_batch)

Clients, network legs, the router's policy acting on stale site state, and the site
engines: the same policy objects and engine simulators as the live system.
"""

from router.sim.deps import SimDeps, default_deps
from router.sim.result import RegionRegret, SimResult
from router.sim.simulator import COLLECT_INTERVAL_S, Simulation, simulate

__all__ = [
    "COLLECT_INTERVAL_S",
    "RegionRegret",
    "SimDeps",
    "SimResult",
    "Simulation",
    "default_deps",
    "simulate",
]
