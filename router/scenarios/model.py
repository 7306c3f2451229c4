"""Scenario values: everything a benchmark run needs, validated and resolved.

A scenario is data. The simulator (`router.sim`) and the live driver
(`router.bench`) both read it; `Scenario.requests(seed)` gives both the same client
request stream for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from router.policies import ResidencyRule
from router.traffic import ClientRequest, Population, TrafficConfig, generate
from sites.topology import ConfigError, SiteConfig

EventAction = Literal["fail", "restore", "drain", "undrain"]
EVENT_ACTIONS: tuple[EventAction, ...] = ("fail", "restore", "drain", "undrain")

# Independent random streams derived from a run's seed: the traffic never depends on
# anything downstream of it (policy, network draws, engines).
STREAM_TRAFFIC = 0
STREAM_NETWORK = 1
STREAM_CONNECTIONS = 2


class ScenarioError(ConfigError):
    """A bad scenario: the message names the file, the dotted key and what is allowed."""


def stream_rng(seed: int, stream: int) -> np.random.Generator:
    """The generator of one named stream of a seeded run."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(stream,)))


@dataclass(frozen=True, slots=True, kw_only=True)
class SLO:
    """Per-request service-level objectives (client side); None = no objective."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, ttft_ms: float | None, tpot_ms: float | None, e2e_ms: float | None) -> bool:
        """True when every set objective holds (a missing measurement fails it)."""
        for limit, value in (
            (self.ttft_ms, ttft_ms),
            (self.tpot_ms, tpot_ms),
            (self.e2e_ms, e2e_ms),
        ):
            if limit is not None and (value is None or value > limit):
                return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingSettings:
    """The router as the scenario runs it. `stats_interval_s` is how old the site
    state a policy sees may be (the live router polls `/health` this often)."""

    policy: str = "fastest"
    stats_interval_s: float = 1.0
    max_attempts: int = 3
    max_in_flight_per_site: int | None = 256  # the live router's default
    latency_ceiling_ms: float = 10_000.0
    weights: dict[str, float] = field(default_factory=dict)
    residency: tuple[ResidencyRule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSettings:
    """Client-side connection behaviour. Each request reuses a warm connection to its
    site with probability `connection_reuse` (HTTP keep-alive); otherwise it pays the
    TCP + TLS handshake (`tls`) at that site's RTT."""

    connection_reuse: float = 0.0
    tls: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteEvent:
    """A scripted change at virtual time `at_s`: a site fails, is restored, drained or
    undrained. Requests in flight at a failing site fail and are retried elsewhere."""

    at_s: float
    site: str
    action: EventAction


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    file: str
    description: str
    sites: tuple[SiteConfig, ...]
    population: Population
    traffic: TrafficConfig
    routing: RoutingSettings
    network: NetworkSettings
    duration_s: float
    seed: int
    slo: SLO
    events: tuple[SiteEvent, ...] = ()
    sample_interval_s: float = 1.0
    scale: float = 1.0  # the scenario is a 1/scale slice of the system it stands for

    def requests(self, seed: int | None = None) -> Iterator[ClientRequest]:
        """The client requests of a run with this seed (the scenario's by default):
        the same for every policy and for sim and live mode."""
        rng = stream_rng(self.seed if seed is None else seed, STREAM_TRAFFIC)
        return generate(self.traffic, self.population, rng, self.duration_s)

    def site(self, name: str) -> SiteConfig:
        for s in self.sites:
            if s.name == name:
                return s
        raise KeyError(name)
