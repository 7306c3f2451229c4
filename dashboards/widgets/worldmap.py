"""The world map panel: sites (◆, coloured per site), client cities (●, coloured by the
site serving most of their requests) and flows from each city to the sites it uses."""

from __future__ import annotations

import math

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from dashboards.geo_map import Flow, Marker, Viewport, fit_viewport, render_map
from dashboards.widgets.palette import map_style, site_colour
from router.stats_schema import RouterStats

MIN_FLOW_SHARE = 0.05


def _ok(lat: float, lon: float) -> bool:
    return not (math.isnan(lat) or math.isnan(lon))


def map_layers(stats: RouterStats) -> tuple[list[Marker], list[Flow]]:
    """Markers and flows for one snapshot (cities first so site glyphs win a shared cell)."""
    index = {s["name"]: i for i, s in enumerate(stats["sites"])}
    where = {s["name"]: (s["lat"], s["lon"]) for s in stats["sites"] if _ok(s["lat"], s["lon"])}
    markers: list[Marker] = []
    flows: list[Flow] = []
    for region in stats["regions"]:
        for city in region["cities"]:
            if not _ok(city["lat"], city["lon"]):
                continue
            share = city["share"]
            top = max(share, key=lambda n: share[n]) if share else None
            style = f"site-{index[top]}" if top in index else "city"
            markers.append(Marker(lat=city["lat"], lon=city["lon"], glyph="●", style=style))
            for served_by, frac in share.items():
                if frac >= MIN_FLOW_SHARE and served_by in where:
                    lat, lon = where[served_by]
                    flows.append(
                        Flow(
                            from_lat=city["lat"],
                            from_lon=city["lon"],
                            to_lat=lat,
                            to_lon=lon,
                            style=f"flow-{index[served_by]}",
                            weight=frac,
                        )
                    )
    for i, site in enumerate(stats["sites"]):
        if site["name"] not in where:
            continue
        health = site["health"]
        glyph, style = "◆", f"site-{i}"
        if health in ("failed", "ejected"):
            glyph, style = "✖", "site-failed"
        elif health == "draining":
            glyph, style = "◇", "site-draining"
        markers.append(
            Marker(
                lat=site["lat"],
                lon=site["lon"],
                glyph=glyph,
                style=style,
                label=site["name"],
                label_style=f"site-{i}",
            )
        )
    return markers, flows


class WorldMap(Widget):
    """Redrawn on every snapshot; the land layer is cached per size."""

    DEFAULT_CSS = """
    WorldMap { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.stats: RouterStats | None = None
        self._viewport_key: tuple[object, ...] = ()
        self._viewport: Viewport | None = None

    def show(self, stats: RouterStats) -> None:
        self.stats = stats
        self.refresh()

    def _fit(self, width: int, height: int) -> Viewport:
        stats = self.stats
        points: list[tuple[float, float]] = []
        if stats is not None:
            points += [(s["lat"], s["lon"]) for s in stats["sites"] if _ok(s["lat"], s["lon"])]
            points += [
                (c["lat"], c["lon"])
                for r in stats["regions"]
                for c in r["cities"]
                if _ok(c["lat"], c["lon"])
            ]
        key = (width, height, tuple(sorted((round(a, 1), round(b, 1)) for a, b in points)))
        if key != self._viewport_key or self._viewport is None:
            self._viewport = fit_viewport(points, width, height, margin_deg=8.0)
            self._viewport_key = key
        return self._viewport

    def render(self) -> RenderableType:
        width, height = self.content_size.width, self.content_size.height
        if width < 10 or height < 3:
            return Text("(map: too small)", style="dim")
        legend = self._legend()
        rows_h = height - 1 if legend else height
        viewport = self._fit(width, rows_h)
        markers, flows = map_layers(self.stats) if self.stats else ([], [])
        text = Text(no_wrap=True, overflow="crop")
        for y, row in enumerate(render_map(viewport, markers=markers, flows=flows)):
            if y:
                text.append("\n")
            for chunk, style in row:
                text.append(chunk, style=map_style(style))
        if legend:
            text.append("\n")
            text.append_text(legend)
        return text

    def _legend(self) -> Text | None:
        if self.stats is None:
            return None
        legend = Text(no_wrap=True, overflow="ellipsis")
        for i, site in enumerate(self.stats["sites"]):
            legend.append("◆", style=f"bold {site_colour(i)}")
            legend.append(f"{site['name']} ")
        legend.append("● city ", style="white")
        legend.append("─ ≥30% ╌ <30%", style="dim")
        return legend
