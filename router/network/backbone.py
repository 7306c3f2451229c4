"""Vectorised backbone RTT: min over a direct path and gateway-hub routes.

    rtt = path_overhead + min(direct, attach(a, h) + hub_ms + D[h, k] + attach(k, b))

where `attach` is the fiber RTT of the great circle to a zone gateway times the
zone's land or sea stretch, and `D` is the all-pairs shortest hub-to-hub cost
(fiber RTT of each link plus `hub_ms` per further hub). Everything is numpy over
(places × sites), so a 10,000 × 10 matrix costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from router.geo.distance import haversine_km
from router.network.params import NetworkParams
from router.network.physics import FIBER_KM_PER_MS
from router.network.topology import (
    ATTACH,
    DIRECT,
    HUB_INDEX,
    HUBS,
    LINKS,
    ZONE_INDEX,
    ZONE_KIND,
    ZONES,
    zone_index_of,
)

Array = npt.NDArray[np.float64]
_MS_PER_KM_RTT = 2.0 / FIBER_KM_PER_MS


@dataclass(frozen=True, slots=True)
class Backbone:
    """Precomputed tables for one parameter set."""

    params: NetworkParams
    hub_lat: Array
    hub_lon: Array
    hub_cost_ms: Array  # (H, H) shortest hub-to-hub RTT incl. hub_ms per extra hub
    link_cost_ms: Array  # (H, H) single-link costs (inf where no link), for route()
    gateways: npt.NDArray[np.intp]  # (Z, G) each zone's gateway hubs (padded by repetition)
    gateway_stretch: Array  # (Z, G) stretch of the leg to each gateway
    direct_stretch: Array  # (Z, Z) stretch of the direct path, inf if none

    @classmethod
    def build(cls, params: NetworkParams) -> Backbone:
        stretch = {"land": params.land_stretch, "sea": params.sea_stretch}
        n_hubs, n_zones = len(HUBS), len(ZONES)
        hub_lat = np.array([h.lat for h in HUBS])
        hub_lon = np.array([h.lon for h in HUBS])
        cost = np.full((n_hubs, n_hubs), np.inf)
        np.fill_diagonal(cost, 0.0)
        for link in LINKS:
            i, j = HUB_INDEX[link.a], HUB_INDEX[link.b]
            km = link.length_km
            if km is None:
                gc = float(haversine_km(hub_lat[i], hub_lon[i], hub_lat[j], hub_lon[j]))
                km = stretch[link.kind] * gc
            cost[i, j] = cost[j, i] = min(cost[i, j], km * _MS_PER_KM_RTT + params.hub_ms)
        link_cost = cost.copy()
        for k in range(n_hubs):  # Floyd–Warshall on a dozen nodes
            cost = np.minimum(cost, cost[:, k : k + 1] + cost[k : k + 1, :])
        width = max(len(hubs) for hubs in ATTACH.values())
        gateways = np.zeros((n_zones, width), dtype=np.intp)
        gateway_stretch = np.zeros((n_zones, width))
        for zone, hubs in ATTACH.items():
            padded = [*hubs, *[hubs[0]] * (width - len(hubs))]  # repeats are harmless in a min
            gateways[ZONE_INDEX[zone]] = [HUB_INDEX[code] for code, _ in padded]
            gateway_stretch[ZONE_INDEX[zone]] = [stretch[kind] for _, kind in padded]
        direct = np.full((n_zones, n_zones), np.inf)
        for zone in ZONES:
            direct[ZONE_INDEX[zone], ZONE_INDEX[zone]] = stretch[ZONE_KIND[zone]]
        for pair, kind in DIRECT.items():
            a, b = sorted(pair)
            direct[ZONE_INDEX[a], ZONE_INDEX[b]] = direct[ZONE_INDEX[b], ZONE_INDEX[a]] = stretch[
                kind
            ]
        return cls(params, hub_lat, hub_lon, cost, link_cost, gateways, gateway_stretch, direct)

    def _points(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike
    ) -> tuple[Array, Array, npt.NDArray[np.intp], npt.NDArray[np.intp], Array]:
        """Coordinates as 1-d arrays, their zones, their gateway hubs (N, G) and the
        RTT of the leg to each gateway (N, G)."""
        la = np.atleast_1d(np.asarray(lat, np.float64))
        lo = np.atleast_1d(np.asarray(lon, np.float64))
        zones = zone_index_of(la, lo)
        gw = self.gateways[zones]
        gc = haversine_km(la[:, None], lo[:, None], self.hub_lat[gw], self.hub_lon[gw])
        attach: Array = gc * self.gateway_stretch[zones] * _MS_PER_KM_RTT
        return la, lo, zones, gw, attach

    def _total(self, direct: Array, via: Array) -> Array:
        out: Array = self.params.path_overhead_ms + np.minimum(direct, via + self.params.hub_ms)
        return out

    def rtt_pairs_ms(
        self, lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
    ) -> Array:
        """Median backbone RTT (ms) element-wise: pair i joins point 1[i] and point 2[i]."""
        la1, lo1, z1, g1, a1 = self._points(lat1, lon1)
        la2, lo2, z2, g2, a2 = self._points(lat2, lon2)
        hub_to_hub = self.hub_cost_ms[g1[:, :, None], g2[:, None, :]]  # (N, G, G)
        via = np.min(a1[:, :, None] + hub_to_hub + a2[:, None, :], axis=(1, 2))
        direct = haversine_km(la1, lo1, la2, lo2) * self.direct_stretch[z1, z2] * _MS_PER_KM_RTT
        return self._total(direct, via)

    def rtt_ms(
        self, lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
    ) -> Array:
        """Median backbone RTT (ms), (N,) x (M,) coordinates -> (N, M)."""
        la1, lo1, z1, g1, a1 = self._points(lat1, lon1)
        la2, lo2, z2, g2, a2 = self._points(lat2, lon2)
        # Sites are few: first the cost from every hub to each site (H, M) ...
        hub_to_site = np.min(self.hub_cost_ms[:, g2] + a2[None, :, :], axis=2)
        # ... then each place's best gateway (N, G, M) -> (N, M).
        via = np.min(a1[:, :, None] + hub_to_site[g1], axis=1)
        gc = haversine_km(la1[:, None], lo1[:, None], la2[None, :], lo2[None, :])
        direct = gc * self.direct_stretch[z1[:, None], z2[None, :]] * _MS_PER_KM_RTT
        return self._total(direct, via)

    def route(self, lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[str, ...]:
        """The hub codes the modelled median path passes through (empty if direct)."""
        la1, lo1, z1, g1, a1 = self._points(lat1, lon1)
        la2, lo2, z2, g2, a2 = self._points(lat2, lon2)
        total = a1[0, :, None] + self.hub_cost_ms[np.ix_(g1[0], g2[0])] + a2[0, None, :]
        direct = haversine_km(la1, lo1, la2, lo2) * self.direct_stretch[z1, z2] * _MS_PER_KM_RTT
        if float(direct[0]) <= float(total.min()) + self.params.hub_ms:
            return ()
        i, j = np.unravel_index(int(np.argmin(total)), total.shape)
        hub, last = int(g1[0, i]), int(g2[0, j])
        path = [hub]
        while hub != last:  # follow links that stay on a shortest path
            rest = self.link_cost_ms[hub] + self.hub_cost_ms[:, last]
            rest[hub] = np.inf
            hub = int(np.argmin(rest))
            path.append(hub)
        return tuple(HUBS[h].code for h in path)
