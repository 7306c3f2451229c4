"""The world map in text: equirectangular projection onto braille dots (pure).

Each terminal cell holds a 2×4 braille dot matrix; a cell is about twice as tall as
it is wide, so each dot is square and one degree of longitude takes as many dots as
one degree of latitude. The land comes from a 0.5° mask shipped in
`land_mask.json` (built by `land_mask_build.py` from the `global-land-mask`
package, NOAA GLOBE data). Flows are straight lines on the projection, not great
circles: at this resolution they only say who serves whom.

`render_map` returns rows of `(text, style)` runs with semantic style names
(`land`, `flow-0`, `site-0`, `site-failed`, `city`, ...); the widget maps them to colours.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MASK_PATH = Path(__file__).resolve().parent / "land_mask.json"

# Braille dot bits by (x, y) inside a cell, x in 0..1, y in 0..3 (Unicode U+2800 block).
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
BRAILLE_BASE = 0x2800


@dataclass(frozen=True, slots=True, kw_only=True)
class LandMask:
    """A north-up, west-first grid of land bits."""

    rows: int
    cols: int
    resolution_deg: float
    north_lat: float
    west_lon: float
    bits: bytes

    def is_land(self, lat_deg: float, lon_deg: float) -> bool:
        lon = (lon_deg + 180.0) % 360.0 - 180.0
        r = int((self.north_lat - lat_deg) / self.resolution_deg)
        c = int((lon - self.west_lon) / self.resolution_deg)
        if not (0 <= r < self.rows):
            return False
        c = min(max(c, 0), self.cols - 1)
        i = r * self.cols + c
        return bool(self.bits[i >> 3] & (0x80 >> (i & 7)))


@lru_cache(maxsize=1)
def load_land_mask(path: Path = MASK_PATH) -> LandMask:
    doc = json.loads(path.read_text())
    return LandMask(
        rows=int(doc["rows"]),
        cols=int(doc["cols"]),
        resolution_deg=float(doc["resolution_deg"]),
        north_lat=float(doc["north_lat"]),
        west_lon=float(doc["west_lon"]),
        bits=zlib.decompress(base64.b64decode(doc["data"])),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Viewport:
    """The lon/lat box shown, and the dot grid it maps onto (square dots)."""

    west_lon: float
    north_lat: float
    deg_per_dot: float
    width_dots: int
    height_dots: int

    def to_dot(self, lat_deg: float, lon_deg: float) -> tuple[int, int]:
        """Dot (x, y) of a place; may lie outside the grid."""
        x = math.floor((lon_deg - self.west_lon) / self.deg_per_dot)
        y = math.floor((self.north_lat - lat_deg) / self.deg_per_dot)
        return x, y

    def dot_center(self, x: int, y: int) -> tuple[float, float]:
        """(lat, lon) at the centre of dot (x, y)."""
        return (
            self.north_lat - (y + 0.5) * self.deg_per_dot,
            self.west_lon + (x + 0.5) * self.deg_per_dot,
        )


def fit_viewport(
    points: Iterable[tuple[float, float]],
    width_cells: int,
    height_cells: int,
    *,
    margin_deg: float = 10.0,
) -> Viewport:
    """The smallest square-dot box that holds every (lat, lon) plus a margin, centred.

    With no points, the whole world from 60°S to 80°N. Latitudes stay within ±90.
    """
    w, h = max(width_cells, 1) * 2, max(height_cells, 1) * 4
    pts = list(points)
    if pts:
        lats = [p[0] for p in pts]
        lons = [p[1] for p in pts]
        south, north = min(lats) - margin_deg, max(lats) + margin_deg
        west, east = min(lons) - margin_deg, max(lons) + margin_deg
    else:
        south, north, west, east = -60.0, 80.0, -180.0, 180.0
    deg = max((east - west) / w, (north - south) / h, 1e-6)
    cx, cy = (west + east) / 2, (south + north) / 2
    half_h = deg * h / 2
    cy = min(max(cy, -90.0 + half_h), 90.0 - half_h) if half_h < 90 else 0.0
    return Viewport(
        west_lon=cx - deg * w / 2,
        north_lat=cy + half_h,
        deg_per_dot=deg,
        width_dots=w,
        height_dots=h,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    """A site or a city: one glyph cell plus an optional label to its right (or left)."""

    lat: float
    lon: float
    glyph: str
    style: str
    label: str = ""
    label_style: str = "label"


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """Traffic from a city to a site; `weight` 0..1 (< 0.3 draws dashed)."""

    from_lat: float
    from_lon: float
    to_lat: float
    to_lon: float
    style: str
    weight: float = 1.0


def line_dots(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Bresenham's line, both ends included."""
    dots = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


@dataclass(slots=True)
class _Cell:
    bits: int = 0
    style: str = ""
    char: str = ""


@dataclass(slots=True)
class _Grid:
    width: int
    height: int
    cells: list[list[_Cell]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cells = [[_Cell() for _ in range(self.width)] for _ in range(self.height)]

    def cell(self, cx: int, cy: int) -> _Cell | None:
        if 0 <= cx < self.width and 0 <= cy < self.height:
            return self.cells[cy][cx]
        return None


@lru_cache(maxsize=8)
def land_bits(viewport: Viewport, mask: LandMask) -> tuple[tuple[int, ...], ...]:
    """Braille bits of the land in each cell (cached: the land does not move)."""
    wc, hc = viewport.width_dots // 2, viewport.height_dots // 4
    rows = []
    for cy in range(hc):
        row = []
        for cx in range(wc):
            bits = 0
            for dx in range(2):
                for dy in range(4):
                    lat, lon = viewport.dot_center(cx * 2 + dx, cy * 4 + dy)
                    if mask.is_land(lat, lon):
                        bits |= _DOT_BITS[dx][dy]
            row.append(bits)
        rows.append(tuple(row))
    return tuple(rows)


def render_map(
    viewport: Viewport,
    *,
    markers: Sequence[Marker] = (),
    flows: Sequence[Flow] = (),
    mask: LandMask | None = None,
) -> list[list[tuple[str, str]]]:
    """Rows of (text, style) runs: land, then flows (heaviest on top), then markers."""
    mask = mask or load_land_mask()
    grid = _Grid(viewport.width_dots // 2, viewport.height_dots // 4)
    for cy, row in enumerate(land_bits(viewport, mask)):
        for cx, bits in enumerate(row):
            if bits:
                cell = grid.cells[cy][cx]
                cell.bits, cell.style = bits, "land"
    flow_cells: dict[tuple[int, int], _Cell] = {}
    for flow in sorted(flows, key=lambda f: f.weight):
        x0, y0 = viewport.to_dot(flow.from_lat, flow.from_lon)
        x1, y1 = viewport.to_dot(flow.to_lat, flow.to_lon)
        dashed = flow.weight < 0.3
        touched: dict[tuple[int, int], int] = {}
        for i, (x, y) in enumerate(line_dots(x0, y0, x1, y1)):
            if dashed and (i // 2) % 2:
                continue
            key = (x // 2, y // 4)
            if grid.cell(*key) is None:
                continue
            touched[key] = touched.get(key, 0) | _DOT_BITS[x % 2][y % 4]
        for key, bits in touched.items():
            flow_cells[key] = _Cell(bits=bits, style=flow.style)
    for (cx, cy), fcell in flow_cells.items():
        grid.cells[cy][cx] = fcell
    _place_markers(grid, viewport, markers)
    return _runs(grid)


def _place_markers(grid: _Grid, viewport: Viewport, markers: Sequence[Marker]) -> None:
    taken: set[tuple[int, int]] = set()
    spots = []
    for m in markers:
        x, y = viewport.to_dot(m.lat, m.lon)
        cx, cy = x // 2, y // 4
        if grid.cell(cx, cy) is None:
            continue
        for dy in (0, 1, -1, 2, -2):  # co-located markers stack vertically
            if (cx, cy + dy) not in taken and grid.cell(cx, cy + dy) is not None:
                cy += dy
                break
        grid.cells[cy][cx] = _Cell(char=m.glyph, style=m.style)
        taken.add((cx, cy))
        spots.append((m, cx, cy))
    for m, cx, cy in spots:  # labels after all glyphs, so no label hides a glyph
        if not m.label:
            continue
        n = len(m.label)
        for start in (cx + 1, cx - n):
            span = [(start + i, cy) for i in range(n)]
            if all(grid.cell(*s) is not None and s not in taken for s in span):
                for i, (sx, sy) in enumerate(span):
                    grid.cells[sy][sx] = _Cell(char=m.label[i], style=m.label_style)
                    taken.add((sx, sy))
                break


def _runs(grid: _Grid) -> list[list[tuple[str, str]]]:
    out = []
    for row in grid.cells:
        runs: list[tuple[str, str]] = []
        for cell in row:
            if cell.char:
                ch = cell.char
            elif cell.bits:
                ch = chr(BRAILLE_BASE + cell.bits)
            else:
                ch = " "
            style = cell.style if ch != " " else ""
            if runs and runs[-1][1] == style:
                runs[-1] = (runs[-1][0] + ch, style)
            else:
                runs.append((ch, style))
        out.append(runs)
    return out


def plain_text(rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """The map without styles (tests and logs)."""
    return "\n".join("".join(text for text, _ in row) for row in rows)
