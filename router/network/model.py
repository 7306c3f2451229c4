"""`NetworkModel`: the public face of the backbone, variability and access legs.

Pure and cheap per call: single pairs are cached (the router and the simulator ask
for the same client/site pairs over and over), matrices are vectorised.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from router.geo.distance import haversine_km
from router.geo.place import Place
from router.network import access
from router.network.backbone import Backbone
from router.network.params import NetworkParams
from router.network.physics import FIBER_KM_PER_MS
from router.network.topology import HUBS
from router.network.variability import ShiftedLogNormal

Array = npt.NDArray[np.float64]
HUB_NAMES = {h.code: h.name for h in HUBS}
MAX_CACHED_PAIRS = 100_000  # per cache; cleared when full (a cache miss costs ~0.1 ms)


class NetworkModel:
    """Median and p95 backbone RTT between places, seeded one-way delay samples,
    access legs and handshake costs. Default parameters are the fitted ones."""

    def __init__(self, params: NetworkParams | None = None) -> None:
        self.params = params or NetworkParams()
        self._backbone = Backbone.build(self.params)
        self._pair: dict[tuple[float, float, float, float], tuple[float, float]] = {}
        self._dist: dict[tuple[float, float, float, float], ShiftedLogNormal] = {}

    # -- medians and tails -------------------------------------------------------
    def rtt_matrix_ms(
        self,
        place_lats: npt.ArrayLike,
        place_lons: npt.ArrayLike,
        site_lats: npt.ArrayLike,
        site_lons: npt.ArrayLike,
    ) -> Array:
        """Median backbone RTT (ms) for every place × site, shape (N, M)."""
        return self._backbone.rtt_ms(place_lats, place_lons, site_lats, site_lons)

    def rtt_pairs_ms(
        self,
        lats_a: npt.ArrayLike,
        lons_a: npt.ArrayLike,
        lats_b: npt.ArrayLike,
        lons_b: npt.ArrayLike,
    ) -> Array:
        """Median backbone RTT (ms) element-wise over pairs (a[i], b[i]), shape (N,)."""
        return self._backbone.rtt_pairs_ms(lats_a, lons_a, lats_b, lons_b)

    def p95_from_median_ms(self, rtt_ms: npt.ArrayLike) -> Array:
        """p95 RTT implied by a median RTT (vectorised)."""
        med = np.asarray(rtt_ms, dtype=np.float64)
        out: Array = med * (1.0 + self.params.tail_fraction) + self.params.tail_ms
        return out

    def _pair_ms(self, a: Place, b: Place) -> tuple[float, float]:
        key = (
            (a.lat, a.lon, b.lat, b.lon)
            if (a.lat, a.lon) <= (b.lat, b.lon)
            else (b.lat, b.lon, a.lat, a.lon)
        )
        hit = self._pair.get(key)
        if hit is None:
            med = float(self._backbone.rtt_ms(key[0], key[1], key[2], key[3])[0, 0])
            hit = (med, float(self.p95_from_median_ms(med)))
            if len(self._pair) >= MAX_CACHED_PAIRS:  # clients at arbitrary lat,lon: stay bounded
                self._pair.clear()
            self._pair[key] = hit
        return hit

    def rtt_ms(self, a: Place, b: Place) -> float:
        """Median backbone RTT between two places (ms); symmetric, cached per pair."""
        return self._pair_ms(a, b)[0]

    def rtt_p95_ms(self, a: Place, b: Place) -> float:
        """95th-percentile backbone RTT between two places (ms)."""
        return self._pair_ms(a, b)[1]

    def route(self, a: Place, b: Place) -> tuple[str, ...]:
        """Names of the gateway hubs the modelled path crosses, in order (empty: direct)."""
        codes = self._backbone.route(a.lat, a.lon, b.lat, b.lon)
        return tuple(HUB_NAMES[c] for c in codes)

    def fiber_min_rtt_ms(self, a: Place, b: Place) -> float:
        """Physical floor: fiber RTT over the great circle (no stretch, no overhead)."""
        return 2.0 * float(haversine_km(a.lat, a.lon, b.lat, b.lon)) / FIBER_KM_PER_MS

    # -- sampling ----------------------------------------------------------------
    def one_way_distribution(self, a: Place, b: Place) -> ShiftedLogNormal:
        """One-way delay distribution: median = rtt/2, p95 = rtt_p95/2, floor = fiber/2."""
        key = (a.lat, a.lon, b.lat, b.lon)
        dist = self._dist.get(key)
        if dist is None:
            med, p95 = self._pair_ms(a, b)
            floor = min(self.fiber_min_rtt_ms(a, b), 0.5 * med) / 2.0
            dist = ShiftedLogNormal.from_quantiles(
                floor_ms=floor, median_ms=med / 2.0, p95_ms=p95 / 2.0
            )
            if len(self._dist) >= MAX_CACHED_PAIRS:
                self._dist.clear()
            self._dist[key] = self._dist[(b.lat, b.lon, a.lat, a.lon)] = dist
        return dist

    def sample_one_way_ms(
        self, a: Place, b: Place, rng: np.random.Generator, size: int | None = None
    ) -> float | Array:
        """Seeded one-way backbone delay(s) in ms for a → b."""
        return self.one_way_distribution(a, b).sample(rng, size)

    # -- access and connection set-up --------------------------------------------
    @staticmethod
    def access_rtt_ms(kind: str) -> float:
        """Default RTT of the client's access leg: "fixed", "mobile" or "cloud"."""
        return access.access_rtt_ms(kind)

    @staticmethod
    def handshake_ms(rtt_ms: float, *, tls: bool = True) -> float:
        """TCP (1 RTT) + TLS 1.3 (1 RTT) set-up cost of a new connection."""
        return access.handshake_ms(rtt_ms, tls=tls)
