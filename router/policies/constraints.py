"""Constraints every policy applies before ranking: residency, health, overload.

Order matters for the reason reported: a site that is both out of jurisdiction and
down is reported as out of jurisdiction (that will not change on a retry).
"""

from __future__ import annotations

from router.policies.types import RouteRequest, RoutingContext, SiteView

ELIGIBLE_HEALTH = frozenset({"healthy", "unknown"})


def exclusion_reason(request: RouteRequest, site: SiteView, ctx: RoutingContext) -> str | None:
    """Why `site` may not serve `request` now, or None when it may."""
    for rule in ctx.residency:
        if rule.applies_to(request.client) and not rule.allows(site):
            return "residency"
    if site.health not in ELIGIBLE_HEALTH:
        return site.health
    if site.max_in_flight is not None and site.in_flight >= site.max_in_flight:
        return "overloaded"
    return None


def split_eligible(
    request: RouteRequest, sites: tuple[SiteView, ...], ctx: RoutingContext
) -> tuple[list[SiteView], list[tuple[str, str]]]:
    """(eligible sites in input order, [(excluded site, reason)])."""
    eligible: list[SiteView] = []
    excluded: list[tuple[str, str]] = []
    for site in sites:
        reason = exclusion_reason(request, site, ctx)
        if reason is None:
            eligible.append(site)
        else:
            excluded.append((site.name, reason))
    return eligible, excluded
