"""E2E latency history per client region: p50 bars over p95 bars, newest at the right."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from dashboards.fmt import fmt_ms
from dashboards.series import SeriesBuffer, band_rows, value_range
from dashboards.widgets.palette import SERIES_STYLES
from router.stats_schema import RouterStats

AXIS_W = 6


class LatencySeries(Widget):
    """One band chart per region; the rows are shared out among the regions."""

    DEFAULT_CSS = """
    LatencySeries { height: auto; min-height: 3; }
    """

    def __init__(
        self,
        *,
        capacity: int = 300,
        min_interval_s: float = 1.0,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.buffer = SeriesBuffer(capacity, min_interval_s=min_interval_s)
        self.regions: list[str] = []

    def record(self, stats: RouterStats) -> bool:
        """Add one sample per region; True when the chart changed."""
        values: dict[str, float | None] = {}
        for region in stats["regions"]:
            name = region["region"]
            if name not in self.regions:
                self.regions.append(name)
            values[f"{name}:p50"] = region["e2e_ms"]["p50"]
            values[f"{name}:p95"] = region["e2e_ms"]["p95"]
        added = self.buffer.add(stats["at"], values)
        if added:
            self.refresh()
        return added

    def render(self) -> RenderableType:
        width, height = self.content_size.width, self.content_size.height
        if not self.regions:
            return Text("E2E history: waiting for requests", style="dim")
        n = len(self.regions)
        chart_h = max(1, (height - n) // n)  # one title line per region
        chart_w = max(1, width - AXIS_W)
        text = Text(no_wrap=True, overflow="crop")
        for i, region in enumerate(self.regions):
            p50 = self.buffer.values(f"{region}:p50")
            p95 = self.buffer.values(f"{region}:p95")
            lo, hi = value_range([p50[-chart_w:], p95[-chart_w:]])
            if i:
                text.append("\n")
            text.append(f"{region:<14}", style="bold")
            text.append(" p50 ", style=SERIES_STYLES["p50"])
            text.append(f"{fmt_ms(self.buffer.last(f'{region}:p50')):>5}ms", style="bold")
            text.append("  p95 ", style=SERIES_STYLES["p50-on-p95"])
            text.append(f"{fmt_ms(self.buffer.last(f'{region}:p95')):>5}ms", style="bold")
            for y, row in enumerate(band_rows(p50, p95, chart_w, chart_h, lo, hi)):
                text.append("\n")
                if y == 0:
                    axis = f"{fmt_ms(hi):>5}┤"
                elif y == chart_h - 1:
                    axis = f"{'0':>5}┤"
                else:
                    axis = f"{'':>5}│"
                text.append(axis, style=SERIES_STYLES["axis"])
                for chunk, style in row:
                    text.append(chunk, style=SERIES_STYLES.get(style, ""))
        return text
