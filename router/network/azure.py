"""Reading the published Azure RTT tables (calibration input; read by path, never copied).

Files (../shared/calibration/network/): `rtt_pairs_azure.csv` (curated pairs with
coordinates, P50 and, in the notes, P95) and the full region × region P50 / P95
matrices of Microsoft's "Azure network round-trip latency statistics" page
(2026-07-30 edition; directional, row = source).

Region coordinates: Azure's region metadata points as used in rtt_pairs_azure.csv
where that file has them, else the city Microsoft names for the region.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_DIR: Final = Path("../shared/calibration/network")
DEFAULT_PAIRS: Final = DEFAULT_DIR / "rtt_pairs_azure.csv"
DEFAULT_P50: Final = DEFAULT_DIR / "azure_rtt_p50_matrix_2026-07-30.csv"
DEFAULT_P95: Final = DEFAULT_DIR / "azure_rtt_p95_matrix_2026-07-30.csv"

# region -> (lat, lon, group); group None = outside the regions of interest.
AZURE_REGIONS: Final[dict[str, tuple[float, float, str | None]]] = {
    "Australia Central": (-35.3075, 149.1244, None),
    "Australia Central 2": (-35.3075, 149.1244, None),
    "Australia East": (-33.86, 151.2094, None),
    "Australia Southeast": (-37.8136, 144.9631, None),
    "Austria East": (48.2082, 16.3738, "Europe"),
    "Belgium Central": (50.8503, 4.3517, "Europe"),
    "Brazil South": (-23.55, -46.633, None),
    "Canada Central": (43.653, -79.383, None),
    "Canada East": (46.817, -71.217, None),
    "Central India": (18.5822, 73.9197, "South Asia"),
    "Central US": (41.5908, -93.6208, None),
    "Denmark East": (55.6761, 12.5683, "Europe"),
    "East Asia": (22.267, 114.188, "East Asia"),
    "East US": (37.3719, -79.8164, "US East"),
    "East US 2": (36.6681, -78.3889, "US East"),
    "France Central": (48.8566, 2.3522, "Europe"),
    "France South": (43.2965, 5.3698, "Europe"),
    "Germany North": (52.52, 13.405, "Europe"),
    "Germany West Central": (50.110924, 8.682127, "Europe"),
    "Indonesia Central": (-6.2088, 106.8456, "East Asia"),
    "Israel Central": (31.9, 34.85, "Israel"),
    "Italy North": (45.4642, 9.19, "Europe"),
    "Japan East": (35.68, 139.77, "East Asia"),
    "Japan West": (34.6939, 135.5022, "East Asia"),
    "Jio India West": (22.470701, 70.05773, "South Asia"),
    "Korea Central": (37.5665, 126.978, "East Asia"),
    "Korea South": (35.1796, 129.0756, "East Asia"),
    "Malaysia West": (3.139, 101.6869, "East Asia"),
    "Mexico Central": (20.5888, -100.3899, None),
    "New Zealand North": (-36.8485, 174.7633, None),
    "North Central US": (41.8819, -87.6278, None),
    "North Europe": (53.3478, -6.2597, "Ireland"),
    "Norway East": (59.9139, 10.7522, "Europe"),
    "Norway West": (58.97, 5.7331, "Europe"),
    "Poland Central": (52.2297, 21.0122, "Europe"),
    "Qatar Central": (25.2854, 51.531, "Gulf"),
    "South Africa North": (-25.73134, 28.21837, None),
    "South Africa West": (-34.1, 18.48, None),
    "South Central US": (29.4167, -98.5, None),
    "South India": (12.9822, 80.1636, "South Asia"),
    "Southeast Asia": (1.283, 103.833, "East Asia"),
    "Spain Central": (40.4168, -3.7038, "Europe"),
    "Sweden Central": (60.6749, 17.1413, "Europe"),
    "Switzerland North": (47.451542, 8.564572, "Europe"),
    "Switzerland West": (46.204391, 6.143158, "Europe"),
    "UAE Central": (24.466667, 54.366669, "Gulf"),
    "UAE North": (25.266666, 55.316666, "Gulf"),
    "UK South": (51.5074, -0.1278, "Europe"),
    "UK West": (51.4816, -3.1791, "Europe"),
    "West Central US": (41.14, -104.8202, None),
    "West Europe": (52.3667, 4.9, "Europe"),
    "West US": (37.783, -122.417, None),
    "West US 2": (47.233, -119.852, None),
    "West US 3": (33.448376, -112.074036, None),
}
GROUP_ORDER: Final = ("Europe", "Ireland", "Israel", "Gulf", "South Asia", "East Asia", "US East")


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One measured directional pair: medians and (when published) 95th percentiles."""

    source: str  # "matrix" or "pairs"
    a: str
    b: str
    lat_a: float
    lon_a: float
    lat_b: float
    lon_b: float
    group_a: str | None
    group_b: str | None
    p50_ms: float
    p95_ms: float | None

    @property
    def corridor(self) -> str:
        ga, gb = sorted((self.group_a or "other", self.group_b or "other"), key=_group_rank)
        return f"{ga}–{gb}"


def _group_rank(group: str) -> int:
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


def read_matrix(path: Path) -> dict[tuple[str, str], float]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0][1:]
    out: dict[tuple[str, str], float] = {}
    for row in rows[1:]:
        for col, cell in zip(header, row[1:], strict=False):
            if cell.strip():
                out[(row[0], col)] = float(cell)
    return out


def matrix_observations(p50_path: Path, p95_path: Path | None) -> list[Observation]:
    p50 = read_matrix(p50_path)
    p95 = read_matrix(p95_path) if p95_path is not None else {}
    obs = []
    for (a, b), med in sorted(p50.items()):
        if a == b or a not in AZURE_REGIONS or b not in AZURE_REGIONS:
            continue
        (la, loa, ga), (lb, lob, gb) = AZURE_REGIONS[a], AZURE_REGIONS[b]
        obs.append(
            Observation(
                source="matrix",
                a=a,
                b=b,
                lat_a=la,
                lon_a=loa,
                lat_b=lb,
                lon_b=lob,
                group_a=ga,
                group_b=gb,
                p50_ms=med,
                p95_ms=p95.get((a, b)),
            )
        )
    return obs


_P95_NOTE = re.compile(r"P95 A->B=(\d+(?:\.\d+)?)")
_P50_NOTE = re.compile(r"same pair P50=(\d+(?:\.\d+)?)")


def pair_observations(path: Path) -> list[Observation]:
    """P50 rows of rtt_pairs_azure.csv, with the P95 from the notes or a P95 row."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    p95_rows = {
        (r["endpoint_a"], r["endpoint_b"]): float(r["rtt_ms"])
        for r in rows
        if r["statistic"].startswith("P95")
    }
    obs = []
    for r in rows:
        if not r["statistic"].startswith("P50"):
            continue
        key = (r["endpoint_a"], r["endpoint_b"])
        note = _P95_NOTE.search(r["notes"])
        p95 = float(note.group(1)) if note else p95_rows.get(key)
        na, nb = (k.removeprefix("azure:") for k in key)
        obs.append(
            Observation(
                source="pairs",
                a=na,
                b=nb,
                lat_a=float(r["lat_a"]),
                lon_a=float(r["lon_a"]),
                lat_b=float(r["lat_b"]),
                lon_b=float(r["lon_b"]),
                group_a=AZURE_REGIONS.get(na, (0, 0, None))[2],
                group_b=AZURE_REGIONS.get(nb, (0, 0, None))[2],
                p50_ms=float(r["rtt_ms"]),
                p95_ms=p95,
            )
        )
    return obs
