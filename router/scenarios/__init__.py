"""Benchmark scenarios: TOML files (topology, clients, arrivals, lengths, routing,
network, SLOs, scripted events) validated into `Scenario` values, and the built-in
catalogue shipped in `router/scenarios/builtin/`.

    scenario = load_scenario("riyadh-outage")       # or a path to a .toml file
    for req in scenario.requests(seed=1): ...        # the run's client requests
"""

from router.scenarios.loader import builtin_scenarios, load_scenario, parse_scenario
from router.scenarios.model import (
    EVENT_ACTIONS,
    SLO,
    NetworkSettings,
    RoutingSettings,
    Scenario,
    ScenarioError,
    SiteEvent,
    stream_rng,
)

__all__ = [
    "EVENT_ACTIONS",
    "SLO",
    "NetworkSettings",
    "RoutingSettings",
    "Scenario",
    "ScenarioError",
    "SiteEvent",
    "builtin_scenarios",
    "load_scenario",
    "parse_scenario",
    "stream_rng",
]
