"""Shared machinery: a policy that scores each eligible site (lower is better)."""

from __future__ import annotations

from router.policies.constraints import split_eligible
from router.policies.types import Decision, RouteRequest, RoutingContext, SiteView


class ScoredPolicy:
    """Rank eligible sites by `score` ascending; ties go to the less loaded site (so two
    identical sites at one place share the traffic), then the lower RTT, then the name,
    so rankings are deterministic."""

    name = "scored"

    def score(self, request: RouteRequest, site: SiteView, ctx: RoutingContext) -> float:
        raise NotImplementedError

    def decide(
        self, request: RouteRequest, sites: tuple[SiteView, ...], ctx: RoutingContext
    ) -> Decision:
        eligible, excluded = split_eligible(request, sites, ctx)
        score, rtt_ms, client = self.score, ctx.rtt_ms, request.client
        keyed = sorted(
            [
                (score(request, s, ctx), s.load_fraction, rtt_ms(client, s.place), s.name)
                for s in eligible
            ]
        )
        return Decision(
            policy=self.name,
            ranked=tuple(k[-1] for k in keyed),
            excluded=tuple(excluded),
            scores=tuple((k[-1], k[0]) for k in keyed),
        )


def predicted_e2e_ms(request: RouteRequest, site: SiteView, ctx: RoutingContext) -> float:
    """Client-side end-to-end forecast: the request's trip up and the stream's trip down
    (one RTT), connection set-up when the connection is new, then the site's queue
    wait, TTFT and decode from its engine model at its live load."""
    rtt_ms = ctx.rtt_ms(request.client, site.place)
    handshake_ms = ctx.handshake_ms(rtt_ms) if request.new_connection else 0.0
    output_tokens = ctx.output_tokens(request)
    estimate = ctx.estimate_latency(
        site.spec, ctx.site_load(site), request.prompt_tokens, output_tokens
    )
    # LatencyEstimate.e2e_s, inlined (the same arithmetic).
    e2e_s = estimate.queue_s + estimate.ttft_s + max(output_tokens - 1, 0) * estimate.tpot_s
    return rtt_ms + handshake_ms + e2e_s * 1000.0
