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
    attach_stretch: Array  # (Z, H) stretch to attach a zone to a hub, inf if not attached
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
        for k in range(n_hubs):  # Floyd–Warshall on a dozen nodes
            cost = np.minimum(cost, cost[:, k : k + 1] + cost[k : k + 1, :])
        attach = np.full((n_zones, n_hubs), np.inf)
        for zone, hubs in ATTACH.items():
            for code, kind in hubs:
                attach[ZONE_INDEX[zone], HUB_INDEX[code]] = stretch[kind]
        direct = np.full((n_zones, n_zones), np.inf)
        for zone in ZONES:
            direct[ZONE_INDEX[zone], ZONE_INDEX[zone]] = stretch[ZONE_KIND[zone]]
        for pair, kind in DIRECT.items():
            a, b = sorted(pair)
            direct[ZONE_INDEX[a], ZONE_INDEX[b]] = direct[ZONE_INDEX[b], ZONE_INDEX[a]] = stretch[
                kind
            ]
        return cls(params, hub_lat, hub_lon, cost, attach, direct)

    def _attach_ms(self, lat: Array, lon: Array, zones: npt.NDArray[np.intp]) -> Array:
        gc = haversine_km(lat[:, None], lon[:, None], self.hub_lat[None, :], self.hub_lon[None, :])
        out: Array = gc * self.attach_stretch[zones] * _MS_PER_KM_RTT
        return out

    def rtt_pairs_ms(
        self, lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
    ) -> Array:
        """Median backbone RTT (ms) element-wise: pair i joins point 1[i] and point 2[i]."""
        la1, lo1 = (
            np.atleast_1d(np.asarray(lat1, np.float64)),
            np.atleast_1d(np.asarray(lon1, np.float64)),
        )
        la2, lo2 = (
            np.atleast_1d(np.asarray(lat2, np.float64)),
            np.atleast_1d(np.asarray(lon2, np.float64)),
        )
        z1, z2 = zone_index_of(la1, lo1), zone_index_of(la2, lo2)
        a1, a2 = self._attach_ms(la1, lo1, z1), self._attach_ms(la2, lo2, z2)
        via = np.min(a1[:, :, None] + self.hub_cost_ms[None, :, :] + a2[:, None, :], axis=(1, 2))
        gc = haversine_km(la1, lo1, la2, lo2)
        direct = gc * self.direct_stretch[z1, z2] * _MS_PER_KM_RTT
        out: Array = self.params.path_overhead_ms + np.minimum(direct, via + self.params.hub_ms)
        return out

    def rtt_ms(
        self, lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
    ) -> Array:
        """Median backbone RTT (ms), (N,) x (M,) coordinates -> (N, M)."""
        la1, lo1 = (
            np.atleast_1d(np.asarray(lat1, np.float64)),
            np.atleast_1d(np.asarray(lon1, np.float64)),
        )
        la2, lo2 = (
            np.atleast_1d(np.asarray(lat2, np.float64)),
            np.atleast_1d(np.asarray(lon2, np.float64)),
        )
        z1, z2 = zone_index_of(la1, lo1), zone_index_of(la2, lo2)
        a1, a2 = self._attach_ms(la1, lo1, z1), self._attach_ms(la2, lo2, z2)
        to_hub = np.min(a1[:, :, None] + self.hub_cost_ms[None, :, :], axis=1)  # (N, H)
        via: Array = np.min(to_hub[:, None, :] + a2[None, :, :], axis=2)  # (N, M)
        gc = haversine_km(la1[:, None], lo1[:, None], la2[None, :], lo2[None, :])
        direct = gc * self.direct_stretch[z1[:, None], z2[None, :]] * _MS_PER_KM_RTT
        out: Array = self.params.path_overhead_ms + np.minimum(direct, via + self.params.hub_ms)
        return out
