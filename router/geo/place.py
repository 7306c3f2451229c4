"""Place values and the jurisdiction facts attached to them (region, country, EU).

Regions are coarse network/business regions, not strict continents: the Gulf and
Levant are "Middle East" (their routing and data-residency story differs from the
rest of Asia), Turkey and Russia are "Europe" (their transit is European).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


def _codes(text: str) -> list[str]:
    return text.split()


REGIONS: Final = (
    "Europe",
    "Asia",
    "Middle East",
    "North America",
    "South America",
    "Africa",
    "Oceania",
    "Antarctica",
)

# European Union member states (ISO 3166-1 alpha-2), 27 since 2020-02-01.
EU_COUNTRIES: Final = frozenset(
    _codes("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE")
)

MIDDLE_EAST_COUNTRIES: Final = frozenset(_codes("AE BH EG IL IQ IR JO KW LB OM PS QA SA SY YE"))

# Countries whose GeoNames continent code we override (see module docstring).
_REGION_OVERRIDES: Final = {"TR": "Europe", "RU": "Europe", "CY": "Europe", "GE": "Europe"}

# Enough countries to classify the built-in gazetteer without loading the city
# database; anything else falls back to GeoNames' continent code.
_STATIC_REGION: Final = {
    **dict.fromkeys(
        _codes(
            "AD AL AT BA BE BG BY CH CZ DE DK EE ES FI FO FR GB GI GR HR HU IE IS IT LI LT LU LV "
            "MC MD ME MK MT NL NO PL PT RO RS SE SI SK SM UA VA XK"
        ),
        "Europe",
    ),
    **dict.fromkeys(
        _codes(
            "AF BD BN BT CN HK ID IN JP KG KH KP KR KZ LA LK MM MN MO MV MY NP PH PK SG TH "
            "TJ TM TW UZ VN"
        ),
        "Asia",
    ),
    **dict.fromkeys(_codes("BM CA GL MX PM US"), "North America"),
    **dict.fromkeys(_codes("AR BO BR CL CO EC GY PE PY SR UY VE"), "South America"),
    **dict.fromkeys(_codes("DZ DJ ET KE LY MA NG SD SO TN TZ ZA"), "Africa"),
    **dict.fromkeys(_codes("AU FJ NZ PG"), "Oceania"),
}

_CONTINENT_REGION: Final = {
    "EU": "Europe",
    "AS": "Asia",
    "NA": "North America",
    "SA": "South America",
    "AF": "Africa",
    "OC": "Oceania",
    "AN": "Antarctica",
}


class UnknownPlaceError(ValueError):
    """A place name that neither the gazetteer nor the city database knows."""


class BadCoordinatesError(ValueError):
    """A `lat,lon` string that does not parse or is out of range."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """A point clients or sites sit at, with the facts routing constraints need."""

    name: str
    lat: float
    lon: float
    region: str
    country: str
    eu: bool
    timezone: str

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise BadCoordinatesError(f"latitude {self.lat} out of range [-90, 90]")
        if not -180.0 <= self.lon <= 180.0:
            raise BadCoordinatesError(f"longitude {self.lon} out of range [-180, 180]")

    @property
    def latlon(self) -> tuple[float, float]:
        return (self.lat, self.lon)


def region_for_country(country: str, continent: str | None = None) -> str:
    """Map an ISO country code (and its GeoNames continent code) to a region."""
    if country in MIDDLE_EAST_COUNTRIES:
        return "Middle East"
    if country in _REGION_OVERRIDES:
        return _REGION_OVERRIDES[country]
    if continent is None and country in _STATIC_REGION:
        return _STATIC_REGION[country]
    if continent is None:
        from router.geo.citydb import country_continent

        continent = country_continent(country)
    region = _CONTINENT_REGION.get(continent or "")
    if region is None:
        raise ValueError(f"unknown continent code {continent!r} for country {country!r}")
    return region
