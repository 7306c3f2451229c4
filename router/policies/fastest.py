"""`fastest`: the smallest predicted client-side end-to-end time (network legs,
connection set-up, queue wait, TTFT, output tokens x TPOT at the site's live load)."""

from __future__ import annotations

from router.policies.base import ScoredPolicy, predicted_e2e_ms
from router.policies.types import RouteRequest, RoutingContext, SiteView


class FastestPolicy(ScoredPolicy):
    name = "fastest"

    def score(self, request: RouteRequest, site: SiteView, ctx: RoutingContext) -> float:
        return predicted_e2e_ms(request, site, ctx)
