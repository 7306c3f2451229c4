"""The event log: site failures and restores, failovers, policy changes, overload."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from dashboards.fmt import fmt_clock
from dashboards.widgets.palette import EVENT_STYLES
from router.stats_schema import Event

EventKey = tuple[float, str, str | None, str]


def event_line(event: Event) -> Text:
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(fmt_clock(event["at"]), style="dim")
    line.append(" ")
    line.append(f"{event['kind']:<14}", style=EVENT_STYLES.get(event["kind"], ""))
    line.append(" ")
    line.append(event["message"])
    return line


class EventLog(RichLog):
    """Appends each event once; snapshots repeat the last 50 events, so it deduplicates."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, max_lines=500, wrap=False, markup=False)
        self._seen: set[EventKey] = set()
        self._order: deque[EventKey] = deque()
        self.count = 0

    def add_events(self, events: Iterable[Event]) -> int:
        added = 0
        for event in events:
            key = (event["at"], event["kind"], event["site"], event["message"])
            if key in self._seen:
                continue
            self._seen.add(key)
            self._order.append(key)
            if len(self._order) > 1000:
                self._seen.discard(self._order.popleft())
            line = event_line(event)
            # An explicit width: the log would otherwise crop to its size at write time.
            self.write(line, width=max(line.cell_len, self.scrollable_content_region.width))
            added += 1
        self.count += added
        return added

    def reset(self) -> None:
        """Forget everything (a replay seek backwards shows the log as it was then)."""
        self.clear()
        self._seen.clear()
        self._order.clear()
        self.count = 0
