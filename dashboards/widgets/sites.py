"""The sites panel: one row per site with health, load, latency, throughput and cost."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from dashboards.fmt import fmt_count, fmt_joules, fmt_ms, fmt_pair, fmt_pct, fmt_usd
from dashboards.widgets.palette import HEALTH_STYLES, site_colour
from dashboards.widgets.tables import Cell, LiveTable
from router.stats_schema import SiteStats

WIDE = (
    ("site", "Site"),
    ("kind", "Kind"),
    ("place", "Place"),
    ("health", "Health"),
    ("in_flight", "In-fl"),
    ("queued", "Queue"),
    ("util", "Util"),
    ("share", "Share"),
    ("ttft", "TTFT p50/95"),
    ("tpot", "TPOT p50/95"),
    ("tok_s", "Tok/s"),
    ("j_tok", "J/tok"),
    ("usd", "$/Mtok"),
)
COMPACT = (
    ("site", "Site"),
    ("health", "Health"),
    ("in_flight", "InF"),
    ("queued", "Q"),
    ("util", "Util"),
    ("ttft", "TTFT 50/95"),
    ("tpot", "TPOT"),
    ("tok_s", "Tok/s"),
    ("usd", "$/M"),
)


def site_cells(site: SiteStats, index: int) -> dict[str, Cell]:
    ttft, tpot = site["ttft_ms"], site["tpot_ms"]
    health = site["health"]
    return {
        "site": Text(site["name"], style=f"bold {site_colour(index)}"),
        "kind": Text(site["kind"].upper(), style="bold" if site["kind"] == "lpu" else ""),
        "place": site["place"],
        "health": Text(health, style=HEALTH_STYLES.get(health, "")),
        "in_flight": Text(str(site["in_flight"]), justify="right"),
        "queued": Text(str(site["queued"]), justify="right"),
        "util": Text(fmt_pct(site["utilisation"]), justify="right"),
        "share": Text(fmt_pct(site["share"]), justify="right"),
        "ttft": Text(fmt_pair(ttft["p50"], ttft["p95"]), justify="right"),
        "tpot": Text(fmt_pair(tpot["p50"], tpot["p95"]), justify="right"),
        "tok_s": Text(fmt_count(site["tokens_per_s"]), justify="right"),
        "j_tok": Text(fmt_joules(site["j_per_token"]), justify="right"),
        "usd": Text(fmt_usd(site["usd_per_mtok"]), justify="right"),
    }


class SitesTable(LiveTable):
    """Select a row to fail, drain or restore that site."""

    def update_sites(self, sites: Sequence[SiteStats], *, compact: bool) -> None:
        columns = COMPACT if compact else WIDE
        rows = []
        for i, site in enumerate(sites):
            cells = site_cells(site, i)
            if compact:
                tpot = site["tpot_ms"]["p50"]
                cells["tpot"] = Text(fmt_ms(tpot), justify="right")
            rows.append((site["name"], [cells[key] for key, _ in columns]))
        self.set_data(columns, rows)

    def selected_site(self) -> str | None:
        return self.current_row_key()
