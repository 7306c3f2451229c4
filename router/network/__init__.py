"""Network latency model: physics of fiber, corridor topology, fitted overheads (pure).

See README.md in this package for the model, its parameters and its validation.
"""

from router.network.access import ACCESS_RTT_MS, access_rtt_ms, handshake_ms
from router.network.model import NetworkModel
from router.network.params import NetworkParams
from router.network.physics import FIBER_KM_PER_MS, fiber_rtt_ms
from router.network.variability import ShiftedLogNormal

__all__ = [
    "ACCESS_RTT_MS",
    "FIBER_KM_PER_MS",
    "NetworkModel",
    "NetworkParams",
    "ShiftedLogNormal",
    "access_rtt_ms",
    "fiber_rtt_ms",
    "handshake_ms",
]
