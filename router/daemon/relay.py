"""Relaying a site's response to the client: the simulated site->client delay on every
chunk (pipelined, so delays do not accumulate), pass-through without buffering beyond
one SSE event, the `georoute` breakdown written into the final chunk, and the end of
the stream: ok, an SSE error event when the site breaks after the first byte, or a
cancelled row when the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import HttpVersion11, web

from router.daemon.errors import error_body, error_response
from router.daemon.state import LiveSite, RouterState

SITE_HEADER = "X-Georoute-Site"
_EOF = b""
_DRAIN_BYTES = 0x10000  # as aiohttp's own writer


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


def _breakdown(
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


async def relay_whole(
    state: RouterState, site: LiveSite, resp: aiohttp.ClientResponse, flow: Flow
) -> web.StreamResponse:
    try:
        body = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        why = f"{site.name}: body broke: {type(exc).__name__}"
        state.site_error(site, why, time.monotonic())
        flow.row["status"], flow.row["error"] = "failed", why
        return error_response(502, why, type_="server_error", code="site_stream_broken")
    flow.t_first_read = flow.t_final_read = t_read = time.monotonic()
    state.site_ok(site)
    if flow.down_ms:
        await asyncio.sleep(max(0.0, t_read + flow.down_ms / 1000.0 - time.monotonic()))
    flow.post_ms = max(0.0, (time.monotonic() - t_read) * 1000.0 - flow.down_ms)
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        found = payload.get("georoute")
        site_info: dict[str, Any] = found if isinstance(found, dict) else {}
        payload["georoute"] = _breakdown(state, site, flow, site_info)
        usage = payload.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            flow.row["output_tokens"] = usage["completion_tokens"]
        body = json.dumps(payload).encode()
    now = time.monotonic()
    flow.row.update(
        status="ok", error="", ttft_ms=(now - flow.t0) * 1000.0, e2e_ms=(now - flow.t0) * 1000.0
    )
    return web.Response(
        body=body, content_type="application/json", headers={SITE_HEADER: site.name}
    )


async def _pump(
    resp: aiohttp.ClientResponse, queue: asyncio.Queue[tuple[float, bytes | BaseException]]
) -> None:
    """Timestamp chunks as they arrive from the site (runs beside the writer)."""
    try:
        async for data in resp.content.iter_any():
            queue.put_nowait((time.monotonic(), data))
        queue.put_nowait((time.monotonic(), _EOF))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        queue.put_nowait((time.monotonic(), exc))


async def relay_stream(
    request: web.Request,
    state: RouterState,
    site: LiveSite,
    resp: aiohttp.ClientResponse,
    flow: Flow,
) -> web.StreamResponse:
    down_s = flow.down_ms / 1000.0
    # With a delay to add, a reader task timestamps chunks as they arrive; without
    # one (network simulation off) chunks are read inline: no task, no queue.
    queue: asyncio.Queue[tuple[float, bytes | BaseException]] | None = None
    pump: asyncio.Task[None] | None = None
    inline = None
    if down_s:
        queue = asyncio.Queue()
        pump = asyncio.create_task(_pump(resp, queue))
    else:
        inline = resp.content.iter_any().__aiter__()
    out = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            SITE_HEADER: site.name,
        },
    )
    # HTTP/1.1 (every client but a bare 1.0 one): chunked framing, each chunk written
    # straight to the transport, as the sites do (aiohttp's writer costs several us of
    # Python per chunk on the one loop that relays every stream); backpressure is
    # kept (drained past _DRAIN_BYTES buffered).
    direct = request.version == HttpVersion11
    if direct:
        out.enable_chunked_encoding()
    buffer = b""
    done = False
    item: bytes | BaseException = _EOF
    try:
        if down_s:
            await asyncio.sleep(down_s)  # the response headers travel back too
        await out.prepare(request)
        transport = request.transport if direct else None
        while True:
            if queue is not None:
                t_read, item = await queue.get()
            else:
                assert inline is not None
                try:
                    item = await inline.__anext__()
                except StopAsyncIteration:
                    item = _EOF
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    item = exc
                t_read = time.monotonic()
            if isinstance(item, BaseException) or item == _EOF:
                break
            if flow.t_first_read is None:
                flow.t_first_read = t_read
                state.site_ok(site)
            if down_s:
                delay = t_read + down_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if buffer:
                buffer += item
            else:
                buffer = item
            if buffer.endswith(b"\n\n"):  # the usual case: whole events, no copy
                events, buffer = buffer, b""
            else:
                cut = buffer.rfind(b"\n\n") + 2
                if cut == 1:  # no complete event yet
                    continue
                events, buffer = buffer[:cut], buffer[cut:]
            if b'"georoute"' in events:
                flow.t_final_read = t_read
                events = _rewrite_final(state, site, flow, events, t_read + down_s)
            if b"[DONE]" in events:
                done = True
            if transport is None:
                await out.write(events)
            else:
                if transport.is_closing():
                    raise ConnectionResetError("Cannot write to closing transport")
                transport.write(b"%x\r\n%b\r\n" % (len(events), events))
                if transport.get_write_buffer_size() > _DRAIN_BYTES:
                    await request.writer.drain()
            now = time.monotonic()
            if flow.t_first_write is None:
                flow.t_first_write = now
            flow.t_last_write = now
    except ConnectionResetError as exc:  # the client went away mid-stream
        if pump is not None:
            pump.cancel()
        flow.row["site"] = site.name
        flow.row["status"], flow.row["error"] = "cancelled", f"client disconnected: {exc}"[:500]
        return out
    except BaseException:
        if pump is not None:
            pump.cancel()
        raise
    if pump is not None:
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    if not done:
        why = f"{site.name}: stream ended before [DONE]"
        if isinstance(item, BaseException):
            why = f"{site.name}: stream broke: {type(item).__name__}: {item}"
        state.site_error(site, why, time.monotonic())
        flow.row["site"] = site.name
        flow.row["status"], flow.row["error"] = "failed", why[:500]
        await out.write(
            b"data: "
            + error_body(why, type_="server_error", code="site_stream_broken")
            + b"\n\ndata: [DONE]\n\n"
        )
        await out.write_eof()
        return out
    await out.write_eof()
    now = time.monotonic()
    row = flow.row
    first = flow.t_first_write or now
    n = int(row["output_tokens"] or 0)
    row.update(
        status="ok",
        error="",
        ttft_ms=(first - flow.t0) * 1000.0,
        e2e_ms=(now - flow.t0) * 1000.0,
        tpot_ms=((flow.t_last_write or now) - first) * 1000.0 / (n - 1) if n > 1 else 0.0,
    )
    return out


def _rewrite_final(
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
            chunk["georoute"] = _breakdown(state, site, flow, site_info)
            event = b"data: " + json.dumps(chunk, separators=(",", ":")).encode()
        out.append(event)
    return b"\n\n".join(out)
