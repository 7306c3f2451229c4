"""`nearest`: the site at the smallest geodesic distance from the client."""

from __future__ import annotations

from router.policies.base import ScoredPolicy
from router.policies.types import RouteRequest, RoutingContext, SiteView


class NearestPolicy(ScoredPolicy):
    name = "nearest"

    def score(self, request: RouteRequest, site: SiteView, ctx: RoutingContext) -> float:
        return ctx.distance_km(request.client, site.place)
