"""The model's few numeric parameters, each a physical quantity (see README.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkParams:
    """Backbone and variability parameters, fitted on the Azure 2026-07-30 tables.

    - `land_stretch`: terrestrial fiber path / great circle (roads, rail, IXP detours).
    - `sea_stretch`: submarine path / great circle where no cable geometry is baked in.
    - `path_overhead_ms`: fixed RTT cost of any path (switching, serialisation, DC fabric,
      the metro legs at both ends); the same-metro floor of the tables.
    - `hub_ms`: RTT added per gateway hub a path transits (cable landing, backhaul,
      operator hand-off, regeneration).
    - `tail_fraction`, `tail_ms`: p95 − p50 of the RTT = tail_fraction × p50 + tail_ms
      (queueing and route changes grow with path length; a floor for short paths).
    """

    land_stretch: float = 1.660
    sea_stretch: float = 1.238
    path_overhead_ms: float = 6.87
    hub_ms: float = 1.91
    tail_fraction: float = 0.0909
    tail_ms: float = 0.81

    def __post_init__(self) -> None:
        if self.land_stretch < 1.0 or self.sea_stretch < 1.0:
            raise ValueError("stretch factors must be >= 1 (a path cannot beat the great circle)")
        if min(self.path_overhead_ms, self.hub_ms, self.tail_fraction, self.tail_ms) < 0:
            raise ValueError("overheads and tail parameters must be >= 0")
