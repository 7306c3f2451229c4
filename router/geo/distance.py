"""Distances: geopy geodesic for single pairs, spherical haversine for arrays.

`distance_km` is the reference (WGS-84 geodesic, Karney's algorithm via geopy).
The network model uses `haversine_km` (sphere of mean radius 6371.0088 km)
because it vectorises: it is within 0.6 % of the geodesic everywhere (worst on
north-south paths near the equator, where the meridian is most curved), far below
the model's calibration error,
and the model was fitted with it, so single-pair and matrix results are identical.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from geopy.distance import geodesic

from router.geo.place import Place

EARTH_MEAN_RADIUS_KM = 6371.0088  # IUGG mean radius R1


@lru_cache(maxsize=65536)
def distance_km(a: Place, b: Place) -> float:
    """WGS-84 geodesic distance in km (geopy); cached per pair, Places are hashable."""
    return float(geodesic((a.lat, a.lon), (b.lat, b.lon)).km)


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance on the mean sphere; broadcasts like numpy."""
    p1, l1, p2, l2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    km: npt.NDArray[np.float64] = 2.0 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    return km
