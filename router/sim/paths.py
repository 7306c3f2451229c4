"""Network legs for the simulator: one shifted-lognormal one-way delay per (client
group, site) pair, taken from `router.network.NetworkModel` once, then sampled per
request from standard-normal draws.

Each request carries its own draws (z_up, z_down), made from the run's network stream
in arrival order. A leg to site s is then floor[g,s] + exp(mu[g,s] + sigma[g,s] * z):
the same request meets the same network luck whichever site a policy picks, so
policies are compared on common random numbers and the hindsight regret uses the very
delays the request would have seen elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from router.policies.types import PlaceLike


class OneWay(Protocol):
    """A shifted lognormal one-way delay (router.network.variability.ShiftedLogNormal)."""

    @property
    def floor_ms(self) -> float: ...
    @property
    def mu(self) -> float: ...
    @property
    def sigma(self) -> float: ...


class PathModel(Protocol):
    """What the simulator needs of router.network.NetworkModel."""

    def rtt_ms(self, a: Any, b: Any) -> float: ...

    def handshake_ms(self, rtt_ms: float, *, tls: bool = True) -> float: ...

    def one_way_distribution(self, a: Any, b: Any) -> OneWay: ...


class PathTable:
    """Per (group, site): one-way delay parameters both ways and the median RTT."""

    __slots__ = ("down", "rtt_ms", "up")

    def __init__(
        self, network: PathModel, clients: Sequence[PlaceLike], sites: Sequence[PlaceLike]
    ) -> None:
        self.up: list[list[tuple[float, float, float]]] = []
        self.down: list[list[tuple[float, float, float]]] = []
        self.rtt_ms: list[list[float]] = []
        for c in clients:
            ups, downs, rtts = [], [], []
            for s in sites:
                u = network.one_way_distribution(c, s)
                d = network.one_way_distribution(s, c)
                ups.append((u.floor_ms, u.mu, u.sigma))
                downs.append((d.floor_ms, d.mu, d.sigma))
                rtts.append(network.rtt_ms(c, s))
            self.up.append(ups)
            self.down.append(downs)
            self.rtt_ms.append(rtts)

    def legs_ms(self, group: int, site: int, z_up: float, z_down: float) -> tuple[float, float]:
        """(client->site, site->client) one-way delays in ms for these draws."""
        f, m, s = self.up[group][site]
        f2, m2, s2 = self.down[group][site]
        return f + math.exp(m + s * z_up), f2 + math.exp(m2 + s2 * z_down)
