"""`least-loaded`: the site with the lowest occupancy relative to its batch capacity
(queued + running, or the router's in-flight count if higher, over max running);
ties go to the lower RTT."""

from __future__ import annotations

from router.policies.base import ScoredPolicy
from router.policies.types import RouteRequest, RoutingContext, SiteView


class LeastLoadedPolicy(ScoredPolicy):
    name = "least-loaded"

    def score(self, request: RouteRequest, site: SiteView, ctx: RoutingContext) -> float:
        return site.load_fraction
