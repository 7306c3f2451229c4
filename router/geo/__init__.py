"""Geography: places, an offline gazetteer, and distances (pure, no I/O beyond package data)."""

from router.geo.distance import EARTH_MEAN_RADIUS_KM, distance_km, haversine_km
from router.geo.gazetteer import (
    builtin_places,
    parse_latlon,
    place_at,
    places_in_region,
    preload,
    resolve_place,
)
from router.geo.place import (
    EU_COUNTRIES,
    REGIONS,
    BadCoordinatesError,
    Place,
    UnknownPlaceError,
    region_for_country,
)

__all__ = [
    "EARTH_MEAN_RADIUS_KM",
    "EU_COUNTRIES",
    "REGIONS",
    "BadCoordinatesError",
    "Place",
    "UnknownPlaceError",
    "builtin_places",
    "distance_km",
    "haversine_km",
    "parse_latlon",
    "place_at",
    "places_in_region",
    "preload",
    "region_for_country",
    "resolve_place",
]
