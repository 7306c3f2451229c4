"""`round-robin`: eligible sites in name order, rotated by one on every decision.

The turn counter is the policy's only state; it advances once per decision, so the
same sequence of calls gives the same sequence of choices (sim and live alike)."""

from __future__ import annotations

from router.policies.constraints import split_eligible
from router.policies.types import Decision, RouteRequest, RoutingContext, SiteView


class RoundRobinPolicy:
    name = "round-robin"

    def __init__(self) -> None:
        self._turn = 0

    def decide(
        self, request: RouteRequest, sites: tuple[SiteView, ...], ctx: RoutingContext
    ) -> Decision:
        eligible, excluded = split_eligible(request, sites, ctx)
        names = sorted(s.name for s in eligible)
        if names:
            k = self._turn % len(names)
            names = names[k:] + names[:k]
        self._turn += 1
        return Decision(policy=self.name, ranked=tuple(names), excluded=tuple(excluded))
