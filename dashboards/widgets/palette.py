"""Colours shared by the panels: one per site (flows, markers, share columns), health, events."""

from __future__ import annotations

SITE_COLOURS = ("#4fc3f7", "#ffb74d", "#f06292", "#aed581", "#ba68c8", "#fff176")
HEALTH_STYLES = {
    "healthy": "bold green",
    "draining": "bold yellow",
    "failed": "bold white on red",
    "ejected": "bold magenta",
    "unknown": "dim",
}
EVENT_STYLES = {
    "site-failed": "bold red",
    "site-restored": "bold green",
    "site-drained": "yellow",
    "failover": "bold magenta",
    "policy-changed": "bold cyan",
    "overload": "bold yellow",
    "rate-changed": "cyan",
    "info": "dim",
}
MAP_STYLES = {
    "land": "#4a6b52",
    "city": "bold white",
    "label": "white",
    "site-failed": "bold red",
    "site-draining": "bold yellow",
}
SERIES_STYLES = {
    "p50": "#4fc3f7",
    "p95": "#3d5a80",
    "p50-on-p95": "#4fc3f7 on #3d5a80",
    "axis": "dim",
}


def site_colour(index: int) -> str:
    return SITE_COLOURS[index % len(SITE_COLOURS)]


def map_style(name: str) -> str:
    """Rich style for a semantic map style: `site-N` / `flow-N` are site colours."""
    if name.startswith(("site-", "flow-")):
        tail = name.split("-", 1)[1]
        if tail.isdigit():
            colour = site_colour(int(tail))
            return f"bold {colour}" if name.startswith("site-") else colour
    return MAP_STYLES.get(name, "")
