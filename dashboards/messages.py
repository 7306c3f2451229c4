"""Messages from the data-source worker to the app (Textualize/toolong `messages.py`).

Snapshots arrive up to several times a second; a newer `StatsUpdated` replaces an
older one still in the queue, so a slow redraw never builds a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from dashboards.actions import ActionResult
from router.stats_schema import RouterStats


@dataclass
class StatsUpdated(Message):
    stats: RouterStats

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatsUpdated)


@dataclass
class ActionDone(Message):
    what: str
    result: ActionResult
