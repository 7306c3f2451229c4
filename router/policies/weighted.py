"""`weighted`: smooth weighted round-robin over the sites' configured weights (the
nginx algorithm): deterministic, and over any window each site's share tracks its
weight without bursts. Excluded sites keep their credit for when they return."""

from __future__ import annotations

from router.policies.constraints import split_eligible
from router.policies.types import Decision, RouteRequest, RoutingContext, SiteView


class WeightedPolicy:
    name = "weighted"

    def __init__(self) -> None:
        self._credit: dict[str, float] = {}

    def decide(
        self, request: RouteRequest, sites: tuple[SiteView, ...], ctx: RoutingContext
    ) -> Decision:
        eligible, excluded = split_eligible(request, sites, ctx)
        eligible = [s for s in eligible if s.weight > 0] or eligible
        if not eligible:
            return Decision(policy=self.name, ranked=(), excluded=tuple(excluded))
        total = sum(max(s.weight, 0.0) for s in eligible)
        for s in eligible:
            self._credit[s.name] = self._credit.get(s.name, 0.0) + max(s.weight, 0.0)
        order = sorted(eligible, key=lambda s: (-self._credit[s.name], s.name))
        self._credit[order[0].name] -= total
        return Decision(
            policy=self.name,
            ranked=tuple(s.name for s in order),
            excluded=tuple(excluded),
            scores=tuple((s.name, s.weight) for s in order),
        )
