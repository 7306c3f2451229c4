"""Resolve user-supplied place text to a `Place`, offline.

Order: the built-in gazetteer (`places.csv`: every client and site city of the
default scenarios plus the Azure regions' cities, with hand-checked coordinates
and time zones), then the GeoNames city database (most populous match), then
`lat,lon`. No geocoding service is ever called.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from functools import cache, lru_cache
from importlib import resources

from router.geo import citydb
from router.geo.place import (
    EU_COUNTRIES,
    REGIONS,
    BadCoordinatesError,
    Place,
    UnknownPlaceError,
    region_for_country,
)

_NUMBER_START = re.compile(r"^\s*[-+.\d]")


def _make_place(name: str, lat: float, lon: float, country: str, timezone: str) -> Place:
    return Place(
        name=name,
        lat=lat,
        lon=lon,
        region=region_for_country(country),
        country=country,
        eu=country in EU_COUNTRIES,
        timezone=timezone,
    )


@cache
def _builtin() -> tuple[tuple[Place, ...], dict[str, Place]]:
    text = resources.files("router.geo").joinpath("places.csv").read_text(encoding="utf-8")
    places: list[Place] = []
    index: dict[str, Place] = {}
    for row in csv.DictReader(text.splitlines()):
        place = _make_place(
            row["name"], float(row["lat"]), float(row["lon"]), row["country"], row["timezone"]
        )
        places.append(place)
        for key in [row["name"], *filter(None, (row["aliases"] or "").split(";"))]:
            index[citydb.normalise(key)] = place
    return tuple(places), index


def preload() -> None:
    """Load the built-in table and the GeoNames city database now (~1 s once), so a
    server's first `lat,lon` or unusual city name does not stall a request."""
    _builtin()
    citydb.load()


def builtin_places() -> tuple[Place, ...]:
    """Every place of the built-in gazetteer, in file order."""
    return _builtin()[0]


def places_in_region(region: str) -> tuple[Place, ...]:
    """Built-in places in a region ("Europe", "Asia", "Middle East", ...)."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {', '.join(REGIONS)}")
    return tuple(p for p in builtin_places() if p.region == region)


def parse_latlon(text: str) -> tuple[float, float]:
    """Parse 'lat,lon' in decimal degrees; errors name the bad value."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise BadCoordinatesError(f"expected 'lat,lon' in decimal degrees, got {text!r}")
    values: list[float] = []
    for label, part in zip(("latitude", "longitude"), parts, strict=True):
        try:
            value = float(part)
        except ValueError:
            raise BadCoordinatesError(f"bad {label} {part!r} in {text!r}: not a number") from None
        if not math.isfinite(value):
            raise BadCoordinatesError(f"bad {label} {part!r} in {text!r}: not finite")
        values.append(value)
    lat, lon = values
    if not -90.0 <= lat <= 90.0:
        raise BadCoordinatesError(f"latitude {parts[0]} out of range [-90, 90] in {text!r}")
    if not -180.0 <= lon <= 180.0:
        raise BadCoordinatesError(f"longitude {parts[1]} out of range [-180, 180] in {text!r}")
    return lat, lon


def place_at(lat: float, lon: float) -> Place:
    """A Place at given coordinates; jurisdiction and time zone from the nearest city."""
    city = citydb.nearest(lat, lon)
    return _make_place(f"{lat:.4f},{lon:.4f}", lat, lon, city.country, city.timezone)


@lru_cache(maxsize=4096)
def resolve_place(text: str) -> Place:
    """A gazetteer name (case/accent-insensitive, aliases, optional ', CC'), or 'lat,lon'."""
    if _NUMBER_START.match(text):
        lat, lon = parse_latlon(text)
        return place_at(lat, lon)
    key = citydb.normalise(text)
    if not key:
        raise UnknownPlaceError("empty place name")
    place = _builtin()[1].get(key)
    if place is not None:
        return place
    name, country = key, None
    if "," in key:
        head, _, tail = key.rpartition(",")
        if len(tail.strip()) == 2:
            name, country = head.strip(), tail.strip().upper()
    if country is not None:
        builtin = _builtin()[1].get(name)
        if builtin is not None and builtin.country == country:
            return builtin
    city = citydb.lookup(name, country)
    if city is None:
        raise UnknownPlaceError(_unknown_message(text))
    return _make_place(city.name, city.lat, city.lon, city.country, city.timezone)


def _unknown_message(text: str) -> str:
    key = citydb.normalise(text)
    builtin_names = {citydb.normalise(p.name): p.name for p in builtin_places()}
    close = difflib.get_close_matches(key, list(builtin_names), n=3, cutoff=0.6)
    suggestions = [builtin_names[k] for k in close]
    if len(suggestions) < 3:
        db = citydb.load()
        for k in difflib.get_close_matches(key, citydb.all_names(), n=5, cutoff=0.75):
            name = db.cities[db.by_key[k][0]].name
            if name not in suggestions:
                suggestions.append(name)
    hint = f"; did you mean {', '.join(suggestions[:5])}?" if suggestions else ""
    where = "not in the gazetteer or city database"
    return f"unknown place {text!r} ({where}){hint or '.'} Or give 'lat,lon'."
