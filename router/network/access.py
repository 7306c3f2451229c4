"""The client's access leg and connection set-up costs.

Access RTT defaults (round trip from the client device to the first backbone
router, added on top of the backbone RTT when asked):

- fixed 12 ms: home fiber/cable/DSL to the ISP edge, ~5-25 ms by technology
  (fiber lowest); a mid value, not a measured median.
- mobile 35 ms: 4G/5G radio plus the mobile core. Ookla "multi-server latency"
  medians (which also include a short backbone leg to a nearby test server) run
  from 33 ms (O2 Czechia, Q2 2024) to 59-61 ms (big-three US carriers, Q3 2024);
  the default is Europe-centred.
- cloud 1 ms: a VM to its provider's backbone inside a region (cloud-to-cloud).

Handshakes: a new HTTPS connection costs TCP (SYN / SYN-ACK: 1 RTT before the
client can send) plus TLS 1.3 (ClientHello / ServerHello+Finished: 1 RTT, RFC 8446
§2) before the request can leave; the request itself then costs one more RTT,
which the router models separately. TLS 1.2 would be 2 RTTs; 0-RTT resumption 0.
"""

from __future__ import annotations

from typing import Final, Literal

AccessKind = Literal["fixed", "mobile", "cloud"]

ACCESS_RTT_MS: Final[dict[str, float]] = {"fixed": 12.0, "mobile": 35.0, "cloud": 1.0}
TCP_HANDSHAKE_RTTS: Final = 1
TLS13_HANDSHAKE_RTTS: Final = 1


def access_rtt_ms(kind: str) -> float:
    """Default access-leg RTT for `fixed`, `mobile` or `cloud` clients."""
    try:
        return ACCESS_RTT_MS[kind]
    except KeyError:
        known = ", ".join(ACCESS_RTT_MS)
        raise ValueError(f"unknown access kind {kind!r}; expected one of {known}") from None


def handshake_ms(rtt_ms: float, *, tls: bool = True) -> float:
    """Connection set-up before the first request byte: TCP 1 RTT + TLS 1.3 1 RTT."""
    if rtt_ms < 0:
        raise ValueError(f"rtt_ms must be >= 0, got {rtt_ms}")
    return rtt_ms * (TCP_HANDSHAKE_RTTS + (TLS13_HANDSHAKE_RTTS if tls else 0))
