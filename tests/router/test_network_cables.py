"""Along-cable path lengths: the graph method on toy geometry, and (when the
TeleGeography snapshot sits next to the repo) the lengths baked into the topology."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from router.geo.distance import haversine_km
from router.network.cables import CableGraph, derive
from router.network.topology import LINKS

CABLE_DIR = Path(
    os.environ.get(
        "GEOROUTE_CABLE_DIR",
        Path(__file__).resolve().parents[3] / "shared/calibration/network/submarine_cables",
    )
)


def km(lon1, lat1, lon2, lat2):
    return float(haversine_km(lat1, lon1, lat2, lon2))


def test_path_follows_the_polyline_not_the_great_circle():
    # An L-shaped cable from (0,0) to (10,10) via (10,0).
    line = [[0.0, 0.0], [5.0, 0.0], [10.0, 0.0], [10.0, 5.0], [10.0, 10.0]]
    g = CableGraph.build([line], {"A": (0.0, 0.0), "B": (10.0, 10.0)})
    expected = km(0, 0, 10, 0) + km(10, 0, 10, 10)
    assert g.path_km("A", "B") == pytest.approx(expected, rel=1e-9)
    assert g.path_km("A", "B") > km(0, 0, 10, 10)


def test_branches_joined_at_touching_ends_and_shortest_branch_wins():
    trunk = [[0.0, 0.0], [10.0, 0.0]]
    long_branch = [[10.0, 0.0], [10.0, 10.0], [20.0, 10.0]]
    short_branch = [[10.0, 0.01], [20.0, 10.0]]  # starts ~1 km from the trunk end
    g = CableGraph.build([trunk, long_branch, short_branch], {"A": (0.0, 0.0), "B": (20.0, 10.0)})
    assert g.path_km("A", "B") < km(0, 0, 10, 0) + km(10, 0, 10, 10) + km(10, 10, 20, 10)
    assert g.path_km("A", "B") == pytest.approx(
        km(0, 0, 10, 0) + km(10, 0, 10, 0.01) + km(10, 0.01, 20, 10), rel=1e-9
    )


def test_egyptian_land_crossing_links_the_two_coasts():
    med = [[5.37, 43.29], [29.89, 31.19]]  # Marseille -> Alexandria
    red = [[32.55, 29.97], [39.19, 21.49]]  # Suez -> Jeddah
    landings = {
        "Marseille, France": (5.37, 43.29),
        "Alexandria, Egypt": (29.89, 31.19),
        "Suez, Egypt": (32.55, 29.97),
        "Jeddah, Saudi Arabia": (39.19, 21.49),
    }
    g = CableGraph.build([med, red], landings)
    expected = (
        km(5.37, 43.29, 29.89, 31.19)
        + km(29.89, 31.19, 32.55, 29.97)
        + km(32.55, 29.97, 39.19, 21.49)
    )
    assert g.path_km("Marseille, France", "Jeddah, Saudi Arabia") == pytest.approx(
        expected, rel=1e-9
    )


def test_disconnected_landings_raise():
    g = CableGraph.build(
        [[[0, 0], [1, 0]], [[50, 50], [51, 50]]], {"A": (0.0, 0.0), "B": (51.0, 50.0)}
    )
    with pytest.raises(ValueError, match="no path"):
        g.path_km("A", "B")


@pytest.mark.skipif(
    not (CABLE_DIR / "cable-geo.json").is_file(), reason=f"no cable data in {CABLE_DIR}"
)
def test_baked_link_lengths_are_the_shortest_derived_systems():
    shortest: dict[str, float] = {}
    for link, _slug, _a, _b, path_km, gc_km in derive(CABLE_DIR):
        assert path_km >= gc_km
        shortest[link] = min(path_km, shortest.get(link, float("inf")))
    baked = {f"{link.a}-{link.b}": link.length_km for link in LINKS if link.length_km is not None}
    assert set(baked) == set(shortest)
    for name, length in baked.items():
        assert length == pytest.approx(shortest[name], abs=1.0), name
