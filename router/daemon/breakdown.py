"""The `georoute` breakdown a response carries: the router's timings of one request
(`Flow`) and the site's own figures, merged into the object the client sees and into
the request's row."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from router.daemon.state import LiveSite, RouterState


@dataclass(slots=True)
class Flow:
    """Timings and outcome of one request as it moves through the router. Times are
    `time.monotonic()`, not `loop.time()`: uvloop's loop clock has whole-millisecond
    steps, which made `router_ms` 0 or 1 ms and rounded every TTFT and E2E."""

    t0: float
    row: dict[str, Any]
    client: Any = None
    handshake_ms: float = 0.0
    up_ms: float = 0.0
    down_ms: float = 0.0
    retries: int = 0
    t_fwd: float = 0.0
    t_first_read: float | None = None
    t_final_read: float | None = None
    t_first_write: float | None = None
    t_last_write: float | None = None
    pre_ms: float = 0.0
    post_ms: float = 0.0
    errors: list[str] = field(default_factory=list)


def breakdown(
    state: RouterState, site: LiveSite, flow: Flow, site_info: dict[str, Any]
) -> dict[str, Any]:
    """The `georoute` object the client sees (the site's own fields, overlaid with the
    router's breakdown) and the matching row fields.

    queue and prefill are the site's own figures (its queue wait, its TTFT minus that);
    decode is the rest of the site time the router observed, from forwarding the
    request to reading the final chunk, so the three add up to what the router saw
    even when several chunks arrive in one read."""
    queue_ms = float(site_info.get("queue_ms") or 0.0)
    t_first = flow.t_first_read or flow.t_fwd
    t_final = flow.t_final_read or t_first
    reported = site_info.get("ttft_ms")
    site_ttft_ms = (
        float(reported) if isinstance(reported, int | float) else (t_first - flow.t_fwd) * 1000.0
    )
    prefill_ms = max(0.0, site_ttft_ms - queue_ms)
    decode_ms = max(0.0, (t_final - flow.t_fwd) * 1000.0 - queue_ms - prefill_ms)
    info = {
        **site_info,
        "site": site.name,
        "policy": flow.row["policy"],
        "retries": flow.retries,
        "handshake_ms": flow.handshake_ms,
        "net_up_ms": flow.up_ms,
        "net_down_ms": flow.down_ms,
        "router_ms": flow.pre_ms + flow.post_ms,
        "queue_ms": queue_ms,
        "prefill_ms": prefill_ms,
        "decode_ms": decode_ms,
        "site_ttft_ms": site_info.get("ttft_ms"),
    }
    info.pop("ttft_ms", None)
    row = flow.row
    row.update(
        site=site.name,
        handshake_ms=flow.handshake_ms,
        net_up_ms=flow.up_ms,
        net_down_ms=flow.down_ms,
        router_ms=info["router_ms"],
        queue_ms=queue_ms,
        prefill_ms=prefill_ms,
        decode_ms=decode_ms,
        energy_j=float(site_info.get("energy_j") or 0.0),
        cost_usd=float(site_info.get("cost_usd") or 0.0),
    )
    for key in ("prompt_tokens", "output_tokens"):
        if isinstance(site_info.get(key), int):
            row[key] = site_info[key]
    return info


def rewrite_final(
    state: RouterState, site: LiveSite, flow: Flow, events: bytes, due: float
) -> bytes:
    """Replace the site's `georoute` object in the final chunk with the breakdown."""
    flow.post_ms = max(0.0, (time.monotonic() - due) * 1000.0)
    out: list[bytes] = []
    for event in events.split(b"\n\n"):
        if b'"georoute"' in event and event.startswith(b"data:"):
            try:
                chunk = json.loads(event[5:])
            except ValueError:
                out.append(event)
                continue
            found = chunk.get("georoute")
            site_info: dict[str, Any] = found if isinstance(found, dict) else {}
            usage = chunk.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                flow.row["output_tokens"] = usage["completion_tokens"]
            chunk["georoute"] = breakdown(state, site, flow, site_info)
            event = b"data: " + json.dumps(chunk, separators=(",", ":")).encode()
        out.append(event)
    return b"\n\n".join(out)
