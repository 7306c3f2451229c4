"""The client regions panel: each region, then its cities indented, with latency and shares."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from dashboards.fmt import fmt_count, fmt_ms, fmt_pct, short_site, top_shares
from dashboards.widgets.palette import site_colour
from dashboards.widgets.tables import Cell, LiveTable
from router.stats_schema import CityStats, RegionStats


def _right(text: str, style: str = "") -> Text:
    return Text(text, justify="right", style=style)


class RegionsTable(LiveTable):
    """E2E p50/p95/p99, TTFT p50, modelled RTT and where each region's requests went."""

    def update_regions(
        self, regions: Sequence[RegionStats], site_names: Sequence[str], *, compact: bool
    ) -> None:
        columns: list[tuple[str, Cell]] = [("name", "Region/city"), ("req", "Req")]
        if compact:
            columns += [("e2e", "E2E 50/95/99"), ("rtt", "RTT"), ("share", "Served by")]
        else:
            columns += [
                ("e50", "p50"),
                ("e95", "p95"),
                ("e99", "p99"),
                ("ttft", "TTFT"),
                ("rtt", "RTT"),
            ]
            columns += [
                (f"s:{name}", Text(short_site(name, 8), style=f"bold {site_colour(i)}"))
                for i, name in enumerate(site_names)
            ]
        rows: list[tuple[str, list[Cell]]] = []
        for region in regions:
            rows.append(
                (
                    f"r:{region['region']}",
                    self._cells(region, region["region"], True, site_names, compact),
                )
            )
            for city in region["cities"]:
                rows.append(
                    (
                        f"c:{region['region']}:{city['name']}",
                        self._cells(city, "  " + city["name"], False, site_names, compact),
                    )
                )
        self.set_data(columns, rows)

    @staticmethod
    def _cells(
        item: RegionStats | CityStats,
        label: str,
        is_region: bool,
        site_names: Sequence[str],
        compact: bool,
    ) -> list[Cell]:
        style = "bold" if is_region else ""
        e2e = item["e2e_ms"]
        cells: list[Cell] = [
            Text(label, style=style),
            _right(fmt_count(item["requests"]), style),
        ]
        if compact:
            trio = f"{fmt_ms(e2e['p50'])}/{fmt_ms(e2e['p95'])}/{fmt_ms(e2e['p99'])}"
            cells += [
                _right(trio, style),
                _right(fmt_ms(item["rtt_ms"]), style),
                Text(top_shares(item["share"], 2, width=6)),
            ]
            return cells
        cells += [
            _right(fmt_ms(e2e["p50"]), style),
            _right(fmt_ms(e2e["p95"]), style),
            _right(fmt_ms(e2e["p99"]), style),
            _right(fmt_ms(item["ttft_ms"]["p50"]), style),
            _right(fmt_ms(item["rtt_ms"]), style),
        ]
        for i, name in enumerate(site_names):
            share = item["share"].get(name, 0.0)
            cells.append(
                _right(fmt_pct(share) if share else "·", site_colour(i) if share else "dim")
            )
        return cells
