"""`cheapest`: the lowest cost per token among sites whose predicted end-to-end time
is within the context's latency ceiling; sites over the ceiling follow, fastest first,
so failover still has somewhere to go."""

from __future__ import annotations

import math

from router.policies.base import predicted_e2e_ms
from router.policies.constraints import split_eligible
from router.policies.types import Decision, RouteRequest, RoutingContext, SiteView


class CheapestPolicy:
    name = "cheapest"

    def decide(
        self, request: RouteRequest, sites: tuple[SiteView, ...], ctx: RoutingContext
    ) -> Decision:
        eligible, excluded = split_eligible(request, sites, ctx)
        within: list[tuple[float, float, str]] = []
        over: list[tuple[float, str]] = []
        for site in eligible:
            e2e_ms = predicted_e2e_ms(request, site, ctx)
            cost = site.usd_per_mtok if site.usd_per_mtok is not None else math.inf
            if e2e_ms <= ctx.latency_ceiling_ms:
                within.append((cost, e2e_ms, site.name))
            else:
                over.append((e2e_ms, site.name))
        within.sort()
        over.sort()
        ranked = [name for _, _, name in within] + [name for _, name in over]
        scores = [(name, e2e) for _, e2e, name in within] + [(name, e2e) for e2e, name in over]
        return Decision(
            policy=self.name,
            ranked=tuple(ranked),
            excluded=tuple(excluded),
            scores=tuple(scores),
        )
