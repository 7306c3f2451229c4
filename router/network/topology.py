"""The corridor topology: routing zones, gateway hubs and the links between them.

Long-haul traffic does not follow the great circle. It leaves a zone through a
gateway hub (a submarine-cable landing or a big interconnection city), follows
cables between hubs, and re-enters through another gateway. Places in the same
zone (and zone pairs with direct systems, e.g. Europe–US East across the
Atlantic) are joined directly.

Each zone joins its hubs over land (stretch `s_land`) or sea (`s_sea`); hub links
either carry a measured along-cable length (derived from the TeleGeography
submarine-cable geometry, see README.md) or a great circle times a stretch.
The topology is data; the few numeric parameters live in `params.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["land", "sea"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hub:
    code: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    a: str
    b: str
    kind: Kind
    length_km: float | None = None  # along-cable length when known; else gc × stretch
    via: str = ""  # which systems / why


HUBS: Final = (
    Hub(code="MRS", name="Marseille", lat=43.2965, lon=5.3698),
    Hub(code="LON", name="London", lat=51.5074, lon=-0.1278),
    Hub(code="JED", name="Jeddah", lat=21.4858, lon=39.1925),
    Hub(code="DMM", name="Al Khobar/Dammam", lat=26.2172, lon=50.1971),
    Hub(code="FJR", name="Fujairah", lat=25.1288, lon=56.3265),
    Hub(code="BOM", name="Mumbai", lat=19.0760, lon=72.8777),
    Hub(code="MAA", name="Chennai", lat=13.0827, lon=80.2707),
    Hub(code="SIN", name="Singapore", lat=1.3521, lon=103.8198),
    Hub(code="HKG", name="Hong Kong", lat=22.3193, lon=114.1694),
    Hub(code="TYO", name="Tokyo", lat=35.6762, lon=139.6503),
    Hub(code="LAX", name="Los Angeles", lat=34.0522, lon=-118.2437),
    Hub(code="IAD", name="Ashburn", lat=39.0438, lon=-77.4874),
)
HUB_INDEX: Final = {h.code: i for i, h in enumerate(HUBS)}

LINKS: Final = (
    Link(a="MRS", b="LON", kind="land", via="European terrestrial backbone"),
    Link(a="LON", b="IAD", kind="sea", via="transatlantic systems"),
    # Along-cable lengths from TeleGeography's cable geometry (router/network/cables.py;
    # the shortest of the listed systems; Europe–Red Sea lengths include the Egyptian
    # land crossing as a great circle):
    Link(a="MRS", b="JED", kind="sea", length_km=4346.0, via="AAE-1 (IMEWE 4,352, SMW-4 4,444)"),
    Link(a="MRS", b="FJR", kind="sea", length_km=8607.0, via="AAE-1 around Arabia"),
    Link(a="JED", b="BOM", kind="sea", length_km=4452.0, via="SeaMeWe-4 (IMEWE 4,643)"),
    Link(a="DMM", b="BOM", kind="sea", length_km=3020.0, via="GBICS/MENA"),
    Link(a="DMM", b="FJR", kind="sea", length_km=972.0, via="TGN-Gulf"),
    Link(a="FJR", b="BOM", kind="sea", length_km=2055.0, via="SeaMeWe-4 (IMEWE 2,154)"),
    Link(a="BOM", b="SIN", kind="sea", length_km=6305.0, via="SeaMeWe-4 around Sri Lanka"),
    Link(a="MAA", b="SIN", kind="sea", length_km=3083.0, via="SeaMeWe-4"),
    # Great circle × stretch (no geometry in the calibration snapshot; for
    # Singapore–Hong Kong the snapshot's SeaMeWe-3 runs 3,446 km along the coast, but
    # the newer direct systems it lacks run near the great circle):
    Link(a="SIN", b="HKG", kind="sea", via="South China Sea systems"),
    Link(a="JED", b="DMM", kind="land", via="Saudi terrestrial backbone"),
    Link(a="BOM", b="MAA", kind="land", via="Indian terrestrial backbone"),
    Link(a="HKG", b="TYO", kind="sea", via="intra-Asia systems"),
    Link(a="TYO", b="LAX", kind="sea", via="transpacific systems"),
    Link(a="LAX", b="IAD", kind="land", via="US transcontinental backbone"),
)

ZONES: Final = (
    "EU",
    "LEV",
    "EGY",
    "GSA",
    "GAE",
    "SAS",
    "SEA",
    "EAS",
    "NAE",
    "NAW",
    "SAM",
    "AFR",
    "OCE",
)
ZONE_INDEX: Final = {z: i for i, z in enumerate(ZONES)}
ZONE_NAMES: Final = {
    "EU": "Europe",
    "LEV": "Levant/Israel",
    "EGY": "Egypt",
    "GSA": "Gulf (Saudi, Qatar, Bahrain, Kuwait)",
    "GAE": "Gulf (UAE, Oman)",
    "SAS": "South Asia",
    "SEA": "South-East Asia",
    "EAS": "East Asia",
    "NAE": "North America east",
    "NAW": "North America west",
    "SAM": "South America",
    "AFR": "Africa",
    "OCE": "Oceania",
}
# How paths run inside a zone (and to its gateways).
ZONE_KIND: Final[dict[str, Kind]] = {
    "EU": "land",
    "LEV": "sea",
    "EGY": "land",
    "GSA": "land",
    "GAE": "land",
    "SAS": "land",
    "SEA": "sea",
    "EAS": "sea",
    "NAE": "land",
    "NAW": "land",
    "SAM": "land",
    "AFR": "land",
    "OCE": "sea",
}
# Gateways each zone reaches its long-haul cables through. The UAE is entered at
# Fujairah (its landing stations face the Gulf of Oman), Saudi Arabia, Qatar and
# Bahrain from the Red Sea (Jeddah) or the Gulf (Al Khobar) over Saudi land routes.
ATTACH: Final[dict[str, tuple[tuple[str, Kind], ...]]] = {
    "EU": (("MRS", "land"), ("LON", "land")),
    "LEV": (("MRS", "sea"),),
    "EGY": (("MRS", "sea"), ("JED", "sea")),  # the Europe–Red Sea cables cross Egypt
    "GSA": (("JED", "land"), ("DMM", "land")),
    "GAE": (("FJR", "land"),),
    "SAS": (("BOM", "land"), ("MAA", "land")),
    "SEA": (("SIN", "sea"),),
    "EAS": (("HKG", "sea"), ("TYO", "sea")),
    "NAE": (("IAD", "land"), ("LAX", "land")),
    "NAW": (("LAX", "land"), ("IAD", "land")),
    "SAM": (("IAD", "sea"),),
    "AFR": (("MRS", "sea"), ("JED", "sea")),
    "OCE": (("SIN", "sea"), ("LAX", "sea")),
}
# Zone pairs joined directly (besides each zone with itself).
DIRECT: Final[dict[frozenset[str], Kind]] = {
    frozenset(("EU", "NAE")): "sea",  # transatlantic systems land near both ends
    frozenset(("GSA", "GAE")): "land",  # Saudi–UAE/Qatar terrestrial routes
    frozenset(("NAE", "NAW")): "land",
}

_COUNTRY_ZONE: Final = {
    **dict.fromkeys(("IL", "JO", "LB", "SY", "PS", "IR", "CY"), "LEV"),
    "EG": "EGY",
    **dict.fromkeys(("SA", "QA", "BH", "KW", "IQ"), "GSA"),
    **dict.fromkeys(("AE", "OM", "YE"), "GAE"),
    **dict.fromkeys(("IN", "PK", "LK", "BD", "NP", "BT", "MV", "AF"), "SAS"),
    **dict.fromkeys(("SG", "MY", "ID", "TH", "VN", "PH", "MM", "KH", "LA", "BN", "TL"), "SEA"),
    **dict.fromkeys(("JP", "KR", "KP", "CN", "HK", "MO", "TW", "MN"), "EAS"),
}
_REGION_ZONE: Final = {
    "Europe": "EU",
    "Middle East": "GSA",
    "Asia": "SEA",
    "South America": "SAM",
    "Africa": "AFR",
    "Oceania": "OCE",
    "Antarctica": "OCE",
}
NA_WEST_OF_LON: Final = -100.0  # the US/Canada east-west split for routing

# Extra zone anchors where the built-in gazetteer is sparse (lat, lon, zone).
_EXTRA_ANCHORS: Final = (
    (55.7558, 37.6173, "EU"),
    (64.1466, -21.9426, "EU"),
    (55.0084, 82.9357, "EU"),
    (43.2220, 76.8512, "EU"),  # Almaty: Central Asia's transit runs through Russia
    (41.2995, 69.2401, "EU"),
    (51.1694, 71.4491, "EU"),
    (31.9539, 35.9106, "LEV"),
    (33.8938, 35.5018, "LEV"),
    (35.6892, 51.3890, "LEV"),
    (39.9334, 32.8597, "EU"),
    (33.3152, 44.3661, "GSA"),
    (15.3694, 44.1910, "GAE"),
    (34.5553, 69.2075, "SAS"),
    (23.8103, 90.4125, "SAS"),
    (6.9271, 79.8612, "SAS"),
    (27.7172, 85.3240, "SAS"),
    (16.8409, 96.1735, "SEA"),
    (21.0278, 105.8342, "SEA"),
    (39.9042, 116.4074, "EAS"),
    (30.5728, 104.0668, "EAS"),
    (43.8256, 87.6168, "EAS"),
    (47.8864, 106.9057, "EAS"),
    (6.5244, 3.3792, "AFR"),
    (-1.2921, 36.8219, "AFR"),
    (-4.4419, 15.2663, "AFR"),
    (33.5731, -7.5898, "AFR"),
    (36.8065, 10.1815, "AFR"),
    (-34.6037, -58.3816, "SAM"),
    (-12.0464, -77.0428, "SAM"),
    (4.7110, -74.0721, "SAM"),
    (19.4326, -99.1332, "NAE"),
    (25.7617, -80.1918, "NAE"),
    (32.7767, -96.7970, "NAE"),
    (45.5019, -73.5674, "NAE"),
    (49.2827, -123.1207, "NAW"),
    (39.7392, -104.9903, "NAW"),
    (61.2181, -149.9003, "NAW"),
    (21.3069, -157.8583, "NAW"),
    (-31.9505, 115.8605, "OCE"),
)


def zone_for(country: str, region: str, lon: float) -> str:
    """Routing zone of a place from its jurisdiction (and longitude, for North America)."""
    if country in _COUNTRY_ZONE:
        return _COUNTRY_ZONE[country]
    if region == "North America":
        return "NAW" if lon < NA_WEST_OF_LON else "NAE"
    return _REGION_ZONE.get(region, "EU")


def _unit(lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.float64]:
    la, lo = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, np.float64))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


@cache
def _anchors() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    from router.geo import builtin_places

    rows = [(p.lat, p.lon, zone_for(p.country, p.region, p.lon)) for p in builtin_places()]
    rows += list(_EXTRA_ANCHORS)
    units = _unit([r[0] for r in rows], [r[1] for r in rows])
    zones = np.array([ZONE_INDEX[r[2]] for r in rows], dtype=np.intp)
    return units, zones


def zone_index_of(lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Zone index of each coordinate: the zone of the nearest anchor place.

    Coordinates alone decide (not the Place's country) so that the single-pair and
    matrix paths give identical numbers; anchors are the gazetteer's places.
    """
    units, zones = _anchors()
    nearest = np.argmax(_unit(lat, lon) @ units.T, axis=-1)
    out: npt.NDArray[np.intp] = zones[nearest]
    return out
