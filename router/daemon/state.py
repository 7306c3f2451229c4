"""The router's live, mutable state: sites as last seen, counters, events, policy.

Single-threaded (the event loop), so no locks. `views()` freezes it into the
`SiteView` snapshot a policy reads; `stats()` into the RouterStats JSON.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from router.policies import Policy, RoutingContext, SiteView, make_policy, policy_names
from router.stats import RollingStats, SiteState
from router.stats_schema import Event, EventKind, Health, RouterStats, TrafficState
from sites.engine_api import DeploymentSpec
from sites.topology import SiteConfig


class NetworkSampler(Protocol):
    """The parts of router.network.NetworkModel the data path uses."""

    def rtt_ms(self, a: Any, b: Any) -> float: ...
    def handshake_ms(self, rtt_ms: float, *, tls: bool = True) -> float: ...
    def sample_one_way_ms(
        self, a: Any, b: Any, rng: np.random.Generator, size: int | None = None
    ) -> Any: ...


class TrafficControl(Protocol):
    """The traffic generator, as the admin endpoint and the stats see it."""

    @property
    def rate_rps(self) -> float: ...
    @property
    def paused(self) -> bool: ...
    def set(self, *, rate_rps: float | None = None, paused: bool | None = None) -> None: ...


@dataclass(slots=True)
class LiveSite:
    """One site: its configuration, its last /health, and the router's own counts."""

    config: SiteConfig
    place: Any
    spec: DeploymentSpec
    url: str
    weight: float = 1.0
    usd_per_mtok: float | None = None
    polled: Health = "unknown"
    drained: bool = False
    ejected_until: float = 0.0
    consecutive_errors: int = 0
    in_flight: int = 0
    queued: int = 0
    running: int = 0
    max_running: int = 1
    queued_prompt_tokens: int = 0
    kv_used_fraction: float = 0.0
    tokens_per_s: float = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kind(self) -> str:
        return "lpu" if self.config.hardware.startswith("groq") else "gpu"

    def health(self, now: float) -> Health:
        if self.drained:
            return "draining"
        if now < self.ejected_until:
            return "ejected"
        return self.polled


@dataclass(slots=True)
class RouterState:
    sites: dict[str, LiveSite]
    ctx: RoutingContext
    network: NetworkSampler
    policy: Policy
    rng: np.random.Generator
    default_place: Any
    max_in_flight_per_site: int
    max_in_flight_total: int
    eject_after_errors: int
    eject_cooldown_s: float
    simulate_network: bool = True
    admin_token: str | None = None
    stats: RollingStats = field(default_factory=RollingStats)
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=50))
    in_flight: int = 0
    started_at: float = field(default_factory=time.time)
    traffic: TrafficControl | None = None
    seen_transports: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    last_overload_event_at: float = 0.0
    # Rows finished while a snapshot is computed off the loop (None: none is).
    held_rows: list[dict[str, Any]] | None = None
    snapshot_task: asyncio.Future[RouterStats] | None = None

    def views(self, now: float) -> tuple[SiteView, ...]:
        return tuple(
            SiteView(
                name=s.name,
                place=s.place,
                spec=s.spec,
                health=s.health(now),
                in_flight=s.in_flight,
                queued=s.queued,
                running=s.running,
                max_running=s.max_running,
                queued_prompt_tokens=s.queued_prompt_tokens,
                kv_used_fraction=s.kv_used_fraction,
                tokens_per_s=s.tokens_per_s,
                max_in_flight=self.max_in_flight_per_site,
                weight=s.weight,
                usd_per_mtok=s.usd_per_mtok,
            )
            for s in self.sites.values()
        )

    def set_policy(self, name: str) -> None:
        """Switch the policy in force (raises UnknownPolicyError listing valid names)."""
        old = self.policy.name
        self.policy = make_policy(name)
        self.event("policy-changed", None, f"policy {old} -> {name}")

    def event(self, kind: EventKind, site: str | None, message: str) -> None:
        self.events.append({"at": time.time(), "kind": kind, "site": site, "message": message})

    def site_error(self, site: LiveSite, reason: str, now: float) -> None:
        """Passive health: eject after `eject_after_errors` consecutive errors."""
        site.consecutive_errors += 1
        if site.consecutive_errors >= self.eject_after_errors and now >= site.ejected_until:
            site.ejected_until = now + self.eject_cooldown_s
            site.consecutive_errors = 0
            self.event(
                "site-failed",
                site.name,
                f"{site.name} ejected for {self.eject_cooldown_s:g} s after "
                f"{self.eject_after_errors} consecutive errors ({reason})",
            )

    def site_ok(self, site: LiveSite) -> None:
        site.consecutive_errors = 0

    def record(self, row: dict[str, Any]) -> None:
        """A finished request into the rolling stats (held back while a snapshot reads
        the window on a worker thread)."""
        if self.held_rows is not None:
            self.held_rows.append(row)
        else:
            self.stats.add(row)

    async def stats_snapshot_async(self) -> RouterStats:
        """`stats_snapshot`, computed on a worker thread. With a full window (a minute
        at a few hundred requests/s) it is tens of ms of pure Python: on the loop that
        stalls every open stream that long (every status line, every /events tick).
        On a thread the loop gets the GIL back every switch interval (5 ms). Callers
        arriving meanwhile share the one computation; rows finishing meanwhile are held
        back, so nothing mutates the window the thread reads."""
        if self.snapshot_task is None:
            self.snapshot_task = asyncio.ensure_future(self._snapshot_off_loop())
        return await asyncio.shield(self.snapshot_task)

    async def _snapshot_off_loop(self) -> RouterStats:
        now = time.monotonic()
        sites, events = self._site_states(now), list(self.events)
        self.held_rows = []
        try:
            return await asyncio.to_thread(self._snapshot, sites, events)
        finally:
            held, self.held_rows = self.held_rows, None
            self.stats.add_many(held)
            self.snapshot_task = None

    def stats_snapshot(self, now: float) -> RouterStats:
        return self._snapshot(self._site_states(now), self.events)

    def _site_states(self, now: float) -> list[SiteState]:
        return [
            SiteState(
                name=s.name,
                kind=s.kind,
                hardware=s.config.hardware,
                model=s.config.model,
                place=s.config.place,
                lat=float(s.place.lat),
                lon=float(s.place.lon),
                url=s.url,
                health=s.health(now),
                in_flight=s.in_flight,
                queued=s.queued,
                running=s.running,
                max_running=s.max_running,
            )
            for s in self.sites.values()
        ]

    def _snapshot(self, sites: list[SiteState], events: Iterable[Event]) -> RouterStats:
        traffic: TrafficState | None = None
        if self.traffic is not None:
            traffic = {"rate_rps": self.traffic.rate_rps, "paused": self.traffic.paused}
        return self.stats.snapshot(
            now=time.time(),
            sites=sites,
            policy=self.policy.name,
            policies=policy_names(),
            uptime_s=time.time() - self.started_at,
            in_flight=self.in_flight,
            traffic=traffic,
            events=events,
        )
