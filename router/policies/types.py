"""Snapshot and decision types shared by every routing policy.

A policy reads a frozen snapshot (`SiteView` per site, one `RouteRequest`, a
`RoutingContext` with the network model and the latency estimator) and returns a
`Decision`: the eligible sites ranked best first, so the daemon can fail over to the
next one, and the excluded sites with the reason. Nothing here awaits or does I/O,
so the live daemon and the virtual-time simulator call the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sites.engine_api import DeploymentSpec, EngineLoad, LatencyEstimate

Health = Literal["healthy", "draining", "failed", "ejected", "unknown"]

#: Output length assumed when a request gives no `max_tokens`: the median output of
#: the Azure 2023 conversation trace (../shared/traces/README.md, p50 = 129 tokens).
DEFAULT_OUTPUT_TOKENS = 129


class PlaceLike(Protocol):
    """What policies need of a place (router.geo.Place satisfies it)."""

    @property
    def name(self) -> str: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def region(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def eu(self) -> bool: ...


class NetworkLike(Protocol):
    """What policies need of the network model (router.network.NetworkModel). Places
    are `Any` here because the model takes concrete `router.geo.Place`s."""

    def rtt_ms(self, a: Any, b: Any) -> float: ...

    def handshake_ms(self, rtt_ms: float, *, tls: bool = True) -> float: ...


LatencyEstimator = Callable[[DeploymentSpec, EngineLoad, int, int], LatencyEstimate]
DistanceFn = Callable[[Any, Any], float]  # router.geo.distance_km (takes Places)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteView:
    """One site as the router last saw it. `queued`/`running` come from the site's
    `/health` (possibly a poll old); `in_flight` is the router's own live count, so
    policies stay responsive between polls (see `effective_load`)."""

    name: str
    place: PlaceLike
    spec: DeploymentSpec
    health: Health = "healthy"
    in_flight: int = 0
    queued: int = 0
    running: int = 0
    max_running: int = 1
    queued_prompt_tokens: int = 0
    kv_used_fraction: float = 0.0
    tokens_per_s: float = 0.0
    max_in_flight: int | None = None
    weight: float = 1.0
    usd_per_mtok: float | None = None
    jurisdiction: str | None = None  # overrides the place's country (ISO code)

    @property
    def jurisdictions(self) -> frozenset[str]:
        """Legal areas the site's data sits in: its country code, plus "EU" for members."""
        country = (self.jurisdiction or self.place.country).upper()
        return frozenset({country, "EU"} if self.place.eu else {country})

    def effective_load(self, at: float = 0.0) -> EngineLoad:
        """The site's load with the router's in-flight requests folded in: a request
        the router has sent but the last poll has not seen still occupies the site."""
        total = max(self.queued + self.running, self.in_flight)
        running = min(total, max(self.max_running, 1))
        return EngineLoad(
            at=at,
            queued=total - running,
            running=running,
            max_running=max(self.max_running, 1),
            queued_prompt_tokens=self.queued_prompt_tokens,
            kv_used_fraction=self.kv_used_fraction,
            tokens_per_s=self.tokens_per_s,
        )

    @property
    def load_fraction(self) -> float:
        """Occupancy relative to the site's batch capacity (can exceed 1 when queueing)."""
        return max(self.queued + self.running, self.in_flight) / max(self.max_running, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteRequest:
    """One request to place. `max_output_tokens=None` means the client gave no limit."""

    client: PlaceLike
    prompt_tokens: int
    max_output_tokens: int | None = None
    new_connection: bool = True
    request_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidencyRule:
    """Clients matching `clients` ("EU", ISO country codes or region names) may only
    be served by sites whose jurisdictions meet `allowed` ("EU" or ISO country codes)."""

    clients: frozenset[str]
    allowed: frozenset[str]

    def applies_to(self, client: PlaceLike) -> bool:
        keys = {client.country.upper(), client.region.upper()}
        if client.eu:
            keys.add("EU")
        return bool(keys & {c.upper() for c in self.clients})

    def allows(self, site: SiteView) -> bool:
        return bool(site.jurisdictions & {a.upper() for a in self.allowed})


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingContext:
    """Models and knobs every policy may consult. The RTT cache keeps the simulator
    fast: a (client, site) pair is computed once per context."""

    network: NetworkLike
    estimate_latency: LatencyEstimator
    distance_km: DistanceFn
    residency: tuple[ResidencyRule, ...] = ()
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    latency_ceiling_ms: float = 10_000.0  # for `cheapest`: slower sites lose eligibility
    _rtt_cache: dict[tuple[float, float, float, float], float] = field(
        default_factory=dict, repr=False, compare=False
    )
    # Per SiteView (by identity, the view kept beside it): its effective load. The
    # simulator reuses a view until the site's state changes, and a policy reads each
    # view's load once per request; TLS handshakes per RTT.
    _load_cache: dict[int, tuple[SiteView, EngineLoad]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _handshake_cache: dict[float, float] = field(default_factory=dict, repr=False, compare=False)

    def site_load(self, site: SiteView) -> EngineLoad:
        """`site.effective_load()`, computed once per view object."""
        hit = self._load_cache.get(id(site))
        if hit is not None and hit[0] is site:
            return hit[1]
        load = site.effective_load()
        if len(self._load_cache) >= 4096:
            self._load_cache.clear()
        self._load_cache[id(site)] = (site, load)
        return load

    def handshake_ms(self, rtt_ms: float) -> float:
        """`network.handshake_ms(rtt_ms, tls=True)`, cached per RTT."""
        hs = self._handshake_cache.get(rtt_ms)
        if hs is None:
            hs = self.network.handshake_ms(rtt_ms, tls=True)
            if len(self._handshake_cache) < 100_000:
                self._handshake_cache[rtt_ms] = hs
        return hs

    def rtt_ms(self, client: PlaceLike, site: PlaceLike) -> float:
        key = (client.lat, client.lon, site.lat, site.lon)
        rtt = self._rtt_cache.get(key)
        if rtt is None:
            rtt = self.network.rtt_ms(client, site)
            if len(self._rtt_cache) < 100_000:
                self._rtt_cache[key] = rtt
        return rtt

    def output_tokens(self, request: RouteRequest) -> int:
        return request.max_output_tokens or self.default_output_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Eligible sites best first (failover walks this list) and why others were left out.
    `scores` holds each ranked site's policy score (lower is better; for `fastest`
    and `cheapest` the predicted client-side E2E in ms)."""

    policy: str
    ranked: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...] = ()
    scores: tuple[tuple[str, float], ...] = ()

    @property
    def site(self) -> str | None:
        return self.ranked[0] if self.ranked else None

    @property
    def reasons(self) -> dict[str, str]:
        return dict(self.excluded)

    @property
    def all_overloaded(self) -> bool:
        """No eligible site and at least one was only left out for being full: a 429."""
        return not self.ranked and any(r == "overloaded" for _, r in self.excluded)


class Policy(Protocol):
    """A routing policy: pure and synchronous; may keep deterministic internal state."""

    name: str

    def decide(
        self, request: RouteRequest, sites: tuple[SiteView, ...], ctx: RoutingContext
    ) -> Decision: ...
