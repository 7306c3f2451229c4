"""Fault injection and drain state of one site (pure: parsing and the state machine).

`POST /admin/fault` bodies, validated by `parse_fault`:
- `{"mode": "fail"}`: new requests get 503 (`site_failed`), /health says failed;
  open streams continue unless `drop_streams` is also set.
- `{"mode": "hang"}`: the site accepts connections and requests and never sends a
  byte (new requests, /health and open streams all stall) until the fault is cleared;
  simulated time is frozen meanwhile, so a cleared hang resumes where it stopped.
- `{"mode": "slow", "factor": F}`: every engine time (iterations, token gaps) is
  stretched by F > 0 from now on, open streams included (F < 1 speeds up).
- `"drop_streams": true` (with any mode, or alone): cuts every open stream at once,
  without the terminating chunk, and cancels those requests in the engine. It is an
  action, not a lasting mode.
`DELETE /admin/fault` clears the mode. Draining (`POST /admin/drain`) is separate:
new requests get 503 (`site_draining`), open streams finish, /health says draining.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

FaultMode = Literal["fail", "hang", "slow"]
FAULT_MODES: tuple[FaultMode, ...] = ("fail", "hang", "slow")
MAX_SLOW_FACTOR = 1000.0


class FaultSpecError(ValueError):
    """A bad fault body; `param` names the offending field."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """A requested fault: a lasting mode (or None) plus the one-shot stream cut."""

    mode: FaultMode | None
    factor: float = 1.0
    drop_streams: bool = False


def parse_fault(body: object) -> Fault:
    """Validate a `POST /admin/fault` JSON body."""
    if not isinstance(body, dict):
        raise FaultSpecError("", "the body must be a JSON object")
    unknown = sorted(set(body) - {"mode", "factor", "drop_streams"})
    if unknown:
        raise FaultSpecError(
            unknown[0], f"unknown field {unknown[0]!r}; allowed: mode, factor, drop_streams"
        )
    mode = body.get("mode")
    if mode is not None and mode not in FAULT_MODES:
        raise FaultSpecError("mode", f"mode must be one of {', '.join(FAULT_MODES)} (or null)")
    drop = body.get("drop_streams", False)
    if not isinstance(drop, bool):
        raise FaultSpecError("drop_streams", "drop_streams must be true or false")
    if mode is None and not drop:
        raise FaultSpecError("mode", "give a mode, drop_streams: true, or both")
    factor = body.get("factor", 1.0)
    if mode == "slow":
        if "factor" not in body:
            raise FaultSpecError("factor", "mode 'slow' needs a factor")
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | float)
            or not math.isfinite(factor)
            or not 0 < factor <= MAX_SLOW_FACTOR
        ):
            raise FaultSpecError(
                "factor", f"factor must be a number in (0, {MAX_SLOW_FACTOR:g}], got {factor!r}"
            )
    elif "factor" in body:
        raise FaultSpecError("factor", "factor applies only to mode 'slow'")
    return Fault(mode=mode, factor=float(factor) if mode == "slow" else 1.0, drop_streams=drop)


@dataclass(slots=True)
class SiteState:
    """What the site is doing: its lasting fault (if any) and whether it drains."""

    mode: FaultMode | None = None
    factor: float = 1.0
    draining: bool = False

    @property
    def status(self) -> Literal["ready", "draining", "failed"]:
        """The /health status: a failed or hung site is `failed`, before draining."""
        if self.mode in ("fail", "hang"):
            return "failed"
        if self.draining:
            return "draining"
        return "ready"

    @property
    def time_factor(self) -> float:
        """How much wall time one engine second takes (inf while hung)."""
        if self.mode == "hang":
            return math.inf
        if self.mode == "slow":
            return self.factor
        return 1.0

    def apply(self, fault: Fault) -> None:
        if fault.mode is not None:
            self.mode = fault.mode
            self.factor = fault.factor

    def clear(self) -> None:
        self.mode = None
        self.factor = 1.0

    def describe(self) -> dict[str, object] | None:
        if self.mode is None:
            return None
        return {"mode": self.mode, "factor": self.factor}
