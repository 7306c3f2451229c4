"""What the dashboard can ask of its data source, and what comes back (pure values).

Admin actions go to the router's admin API; replay actions steer a `ReplaySource`.
A source refuses what it cannot do with an `ActionResult(ok=False, ...)`, never an
exception, so the app shows every refusal the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SiteOp = Literal["drain", "fail", "restore"]
SourceState = Literal["connecting", "live", "polling", "unreachable", "replay", "ended"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPolicy:
    policy: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteAction:
    site: str
    op: SiteOp


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTraffic:
    rate_rps: float
    paused: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayControl:
    """Pause or resume, seek by a relative number of run seconds, or change speed."""

    paused: bool | None = None
    seek_s: float | None = None
    speed: float | None = None


Action = SetPolicy | SiteAction | SetTraffic | ReplayControl

# Capabilities a source declares, so the app shows only the keys that can work.
ADMIN = "admin"
REPLAY = "replay"


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    ok: bool
    message: str
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceStatus:
    """Where the data comes from right now, for the header: `unreachable` says why."""

    state: SourceState
    detail: str = ""
    since_at: float = 0.0  # when this state began (Unix or run seconds)


def describe(action: Action) -> str:
    """A short human name for notifications: `fail riyadh-1`, `policy fastest`."""
    match action:
        case SetPolicy(policy=p):
            return f"policy {p}"
        case SiteAction(site=s, op=op):
            return f"{op} {s}"
        case SetTraffic(rate_rps=r, paused=p):
            return f"traffic {'paused' if p else f'{r:g} req/s'}"
        case ReplayControl(paused=p, seek_s=s, speed=v):
            parts = []
            if p is not None:
                parts.append("pause" if p else "resume")
            if s is not None:
                parts.append(f"seek {s:+g}s")
            if v is not None:
                parts.append(f"speed ×{v:g}")
            return "replay " + " ".join(parts)
    return repr(action)  # pragma: no cover - Action is closed
