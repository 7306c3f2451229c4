"""Derive along-cable path lengths from TeleGeography's submarine-cable map data.

Used once, at fit time, to get the few lengths baked into `topology.LINKS`; the
data stay where the user keeps them (read by path, never copied):

    python -m router.network.cables [--dir ../shared/calibration/network/submarine_cables]

Method (the one NETWORK_FACTS §8 describes): a cable's MultiLineString becomes a
graph (vertices = polyline points, edges = great-circle segments; polyline ends
within `SNAP_KM` of another vertex are joined); landing points are snapped to their
nearest vertex; where a cable lands on both Egyptian coasts, the Mediterranean and
Red Sea landings are joined by a great-circle land link (a lower bound on the real
terrestrial route). The shortest path between two landings is the path length.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from router.geo.distance import haversine_km

SNAP_KM: Final = 5.0
EGYPT_MED: Final = frozenset(
    {"Alexandria, Egypt", "Abu Talat, Egypt", "Port Said, Egypt", "Sidi Kerir, Egypt"}
)
EGYPT_RED_SEA: Final = frozenset({"Suez, Egypt", "Zafarana, Egypt", "Ras Ghareb, Egypt"})
DEFAULT_DIR: Final = Path("../shared/calibration/network/submarine_cables")

# (hub link, cable slug, from landing, to landing): the links baked into topology.LINKS.
DERIVED: Final = (
    ("MRS-JED", "asia-africa-europe-1-aae-1", "Marseille, France", "Jeddah, Saudi Arabia"),
    ("MRS-JED", "imewe", "Marseille, France", "Jeddah, Saudi Arabia"),
    ("MRS-JED", "seamewe-4", "Marseille, France", "Jeddah, Saudi Arabia"),
    (
        "MRS-FJR",
        "asia-africa-europe-1-aae-1",
        "Marseille, France",
        "Fujairah, United Arab Emirates",
    ),
    ("JED-BOM", "seamewe-4", "Jeddah, Saudi Arabia", "Mumbai, India"),
    ("JED-BOM", "imewe", "Jeddah, Saudi Arabia", "Mumbai, India"),
    ("JED-BOM", "asia-africa-europe-1-aae-1", "Jeddah, Saudi Arabia", "Mumbai, India"),
    ("DMM-BOM", "falcon", "Al Khobar, Saudi Arabia", "Mumbai, India"),
    (
        "DMM-BOM",
        "gulf-bridge-international-cable-system-gbicsmiddle-east-north-africa-mena-cable-system",
        "Al Khobar, Saudi Arabia",
        "Mumbai, India",
    ),
    ("DMM-FJR", "tata-tgn-gulf", "Al Khobar, Saudi Arabia", "Fujairah, United Arab Emirates"),
    ("FJR-BOM", "seamewe-4", "Fujairah, United Arab Emirates", "Mumbai, India"),
    ("FJR-BOM", "imewe", "Fujairah, United Arab Emirates", "Mumbai, India"),
    ("BOM-SIN", "seamewe-4", "Mumbai, India", "Tuas, Singapore"),
    ("MAA-SIN", "seamewe-4", "Chennai, India", "Tuas, Singapore"),
)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle km between (lon, lat) points, as GeoJSON orders them."""
    return float(haversine_km(a[1], a[0], b[1], b[0]))


@dataclass(slots=True)
class CableGraph:
    """Undirected graph of one cable's geometry plus its landing points."""

    points: list[tuple[float, float]]  # (lon, lat)
    edges: dict[int, list[tuple[int, float]]]
    landings: dict[str, int]

    @classmethod
    def build(
        cls, lines: Sequence[Sequence[Sequence[float]]], landings: dict[str, tuple[float, float]]
    ) -> CableGraph:
        points: list[tuple[float, float]] = []
        edges: dict[int, list[tuple[int, float]]] = {}
        ends: list[int] = []

        def link(i: int, j: int, km: float) -> None:
            edges.setdefault(i, []).append((j, km))
            edges.setdefault(j, []).append((i, km))

        for line in lines:
            start = len(points)
            points.extend((float(p[0]), float(p[1])) for p in line)
            for i in range(start, len(points) - 1):
                link(i, i + 1, _km(points[i], points[i + 1]))
            ends += [start, len(points) - 1]
        for e in ends:  # join branching units / touching polylines
            for j, p in enumerate(points):
                if j != e and (d := _km(points[e], p)) <= SNAP_KM:
                    link(e, j, d)
        graph = cls(points=points, edges=edges, landings={})
        for name, lonlat in landings.items():
            nearest = min(range(len(points)), key=lambda k: _km(points[k], lonlat))
            node = len(graph.points)
            graph.points.append(lonlat)
            link(node, nearest, _km(lonlat, points[nearest]))
            graph.landings[name] = node
        med = [n for n in graph.landings if n in EGYPT_MED]
        red = [n for n in graph.landings if n in EGYPT_RED_SEA]
        for a in med:  # the Egyptian land crossing
            for b in red:
                ia, ib = graph.landings[a], graph.landings[b]
                link(ia, ib, _km(graph.points[ia], graph.points[ib]))
        return graph

    def path_km(self, a: str, b: str) -> float:
        """Shortest along-cable distance between two named landings (Dijkstra)."""
        src, dst = self.landings[a], self.landings[b]
        best = {src: 0.0}
        heap = [(0.0, src)]
        while heap:
            d, node = heapq.heappop(heap)
            if node == dst:
                return d
            if d > best.get(node, float("inf")):
                continue
            for nxt, w in self.edges.get(node, ()):
                nd = d + w
                if nd < best.get(nxt, float("inf")):
                    best[nxt] = nd
                    heapq.heappush(heap, (nd, nxt))
        raise ValueError(f"no path from {a!r} to {b!r} on this cable")


def load_cable(directory: Path, slug: str, geo: dict[str, Any]) -> CableGraph:
    meta = json.loads((directory / "cable" / f"{slug}.json").read_text(encoding="utf-8"))
    landings = {}
    for lp in meta["landing_points"]:
        lat, lon = (float(x) for x in lp["latlon"].split(","))
        landings[lp["name"]] = (lon, lat)
    features = [f for f in geo["features"] if f["properties"].get("slug") == slug]
    if not features:
        raise ValueError(f"cable {slug!r} has no geometry in cable-geo.json")
    lines = [line for f in features for line in f["geometry"]["coordinates"]]
    return CableGraph.build(lines, landings)


def derive(directory: Path) -> Iterable[tuple[str, str, str, str, float, float]]:
    """(link, cable, from, to, path km, great-circle km) for each DERIVED row."""
    geo = json.loads((directory / "cable-geo.json").read_text(encoding="utf-8"))
    cache: dict[str, CableGraph] = {}
    for link, slug, a, b in DERIVED:
        graph = cache.get(slug) or cache.setdefault(slug, load_cable(directory, slug, geo))
        gc = _km(graph.points[graph.landings[a]], graph.points[graph.landings[b]])
        yield link, slug, a, b, graph.path_km(a, b), gc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router.network.cables", description=__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
    args = parser.parse_args(argv)
    if not (args.dir / "cable-geo.json").is_file():
        parser.error(f"--dir: no cable-geo.json in {str(args.dir)!r}")
    print(f"{'link':<8}{'cable':<28}{'from -> to':<48}{'path km':>9}{'gc km':>8}{'ratio':>7}")
    for link, slug, a, b, km, gc in derive(args.dir):
        ends = f"{a.split(',')[0]} -> {b.split(',')[0]}"
        print(f"{link:<8}{slug[:27]:<28}{ends:<48}{km:>9,.0f}{gc:>8,.0f}{km / gc:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
