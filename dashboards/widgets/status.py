"""The one-line header: data source and its state, policy, traffic, request totals."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from dashboards.actions import SourceStatus
from dashboards.fmt import fmt_count, fmt_duration, fmt_rate_rps
from router.stats_schema import RouterStats

STATE_STYLES = {
    "connecting": "bold yellow",
    "live": "bold green",
    "polling": "bold green",
    "unreachable": "bold white on red",
    "replay": "bold cyan",
    "ended": "bold cyan",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    """Everything the status line shows (a value, so an unchanged view is not redrawn)."""

    label: str
    status: SourceStatus
    display_paused: bool
    age_s: float | None
    stats: RouterStats | None


def status_text(view: StatusView) -> Text:
    st = view.status
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" georoute ", style="bold reverse")
    text.append(" ")
    badge = {"unreachable": "ROUTER UNREACHABLE"}.get(st.state, st.state.upper())
    text.append(f" {badge} ", style=STATE_STYLES.get(st.state, ""))
    if st.state in ("unreachable", "replay", "ended") and st.detail:
        text.append(f" {st.detail}", style="red" if st.state == "unreachable" else "cyan")
    if view.display_paused:
        text.append("  ")
        text.append(" DISPLAY PAUSED ", style="bold black on yellow")
    stats = view.stats
    if stats is not None:
        text.append("  policy ", style="dim")
        text.append(stats["policy"] or "–", style="bold cyan")
        traffic = stats["traffic"]
        if traffic is not None:
            text.append("  traffic ", style="dim")
            if traffic["paused"]:
                text.append("PAUSED", style="bold yellow")
                text.append(f" ({fmt_rate_rps(traffic['rate_rps'])})", style="dim")
            else:
                text.append(fmt_rate_rps(traffic["rate_rps"]), style="bold")
        req = stats["requests"]
        text.append("  req ", style="dim")
        text.append(fmt_count(req["total"]), style="bold")
        text.append(f" ok {fmt_count(req['ok'])}", style="green")
        if req["failed"]:
            text.append(f" failed {fmt_count(req['failed'])}", style="red")
        if req["rejected"]:
            text.append(f" rejected {fmt_count(req['rejected'])}", style="yellow")
        text.append(f"  up {fmt_duration(stats['uptime_s'])}", style="dim")
    if view.age_s is not None and st.state in ("live", "polling"):
        text.append(f"  {view.age_s:.1f}s ago", style="dim" if view.age_s < 3 else "bold red")
    text.append(f"  {view.label}", style="dim")
    return text


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; }
    """

    def __init__(self, view: StatusView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view

    def show(self, view: StatusView) -> None:
        if view != self.view:
            self.view = view
            self.refresh()

    def render(self) -> RenderableType:
        return status_text(self.view)
