"""`lowest-rtt`: the site with the smallest modelled network round trip. Differs from
`nearest` where fibre corridors are indirect (Europe to the Gulf via the Red Sea)."""

from __future__ import annotations

from router.policies.base import ScoredPolicy
from router.policies.types import RouteRequest, RoutingContext, SiteView


class LowestRTTPolicy(ScoredPolicy):
    name = "lowest-rtt"

    def score(self, request: RouteRequest, site: SiteView, ctx: RoutingContext) -> float:
        return ctx.rtt_ms(request.client, site.place)
