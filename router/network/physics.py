"""Light in fiber: the physical floor every modelled delay sits on."""

from __future__ import annotations

from typing import Final

SPEED_OF_LIGHT_KM_PER_MS: Final = 299.792458
# Effective group index of G.652.D single-mode fiber at 1550 nm (≈1.467, datasheets).
FIBER_GROUP_INDEX: Final = 1.467
# ≈204.4 km per millisecond one way: RTT ≈ 0.979 ms per 100 km of fiber path.
FIBER_KM_PER_MS: Final = SPEED_OF_LIGHT_KM_PER_MS / FIBER_GROUP_INDEX


def fiber_rtt_ms(path_km: float) -> float:
    """Round trip over `path_km` of fiber at the speed of light in glass, no overheads."""
    return 2.0 * path_km / FIBER_KM_PER_MS
