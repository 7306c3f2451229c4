"""Routing policies: pure, synchronous, one per module, looked up by kebab-case name.

    policy = make_policy("fastest")
    decision = policy.decide(request, sites, ctx)   # Decision.ranked: best first

The daemon and the virtual-time simulator call the same objects. Constraints
(residency, health, overload) apply to every policy (see `constraints`).
"""

from __future__ import annotations

from collections.abc import Callable

from router.policies.cheapest import CheapestPolicy
from router.policies.constraints import exclusion_reason, split_eligible
from router.policies.fastest import FastestPolicy
from router.policies.least_loaded import LeastLoadedPolicy
from router.policies.lowest_rtt import LowestRTTPolicy
from router.policies.nearest import NearestPolicy
from router.policies.round_robin import RoundRobinPolicy
from router.policies.types import (
    DEFAULT_OUTPUT_TOKENS,
    Decision,
    Health,
    LatencyEstimator,
    NetworkLike,
    PlaceLike,
    Policy,
    ResidencyRule,
    RouteRequest,
    RoutingContext,
    SiteView,
)
from router.policies.weighted import WeightedPolicy

POLICIES: dict[str, Callable[[], Policy]] = {
    "nearest": NearestPolicy,
    "lowest-rtt": LowestRTTPolicy,
    "least-loaded": LeastLoadedPolicy,
    "round-robin": RoundRobinPolicy,
    "weighted": WeightedPolicy,
    "fastest": FastestPolicy,
    "cheapest": CheapestPolicy,
}


class UnknownPolicyError(ValueError):
    """A policy name not in the registry; the message lists the valid names."""


def policy_names() -> list[str]:
    return list(POLICIES)


def make_policy(name: str) -> Policy:
    """A fresh policy instance (stateful ones like round-robin start from turn zero)."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise UnknownPolicyError(
            f"unknown policy {name!r}; valid policies: {', '.join(POLICIES)}"
        ) from None
    return factory()


__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "POLICIES",
    "CheapestPolicy",
    "Decision",
    "FastestPolicy",
    "Health",
    "LatencyEstimator",
    "LeastLoadedPolicy",
    "LowestRTTPolicy",
    "NearestPolicy",
    "NetworkLike",
    "PlaceLike",
    "Policy",
    "ResidencyRule",
    "RoundRobinPolicy",
    "RouteRequest",
    "RoutingContext",
    "SiteView",
    "UnknownPolicyError",
    "WeightedPolicy",
    "exclusion_reason",
    "make_policy",
    "policy_names",
    "split_eligible",
]
