"""Distances: WGS-84 geodesic for single pairs, spherical haversine for arrays.

`distance_km` is the reference: geopy's `geodesic`, i.e. Karney's algorithm from
geographiclib, which geopy wraps. We call geographiclib (geopy's own dependency)
directly because `import geopy` loads its geocoder adapters and with them aiohttp,
which the pure core must not import (and we never geocode); a test checks that the
numbers equal `geopy.distance.geodesic(...).km` exactly.
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
from geographiclib.geodesic import Geodesic

from router.geo.place import Place

EARTH_MEAN_RADIUS_KM = 6371.0088  # IUGG mean radius R1


@lru_cache(maxsize=65536)
def distance_km(a: Place, b: Place) -> float:
    """WGS-84 geodesic distance in km (as geopy); cached per pair, Places are hashable."""
    return (
        float(Geodesic.WGS84.Inverse(a.lat, a.lon, b.lat, b.lon, Geodesic.DISTANCE)["s12"]) / 1000.0
    )


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance on the mean sphere; broadcasts like numpy."""
    p1, l1, p2, l2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    km: npt.NDArray[np.float64] = 2.0 * EARTH_MEAN_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
    return km
