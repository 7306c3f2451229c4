"""Relaying a site's response to the client: pass-through without buffering beyond one
SSE event, the simulated site->client delay on every chunk (timed from each chunk's
arrival, so delays do not accumulate), the `georoute` breakdown written into the final
chunk, and the end of the stream: ok, an SSE error event when the site breaks after
the first byte, or a cancelled row when the client goes away.

A streamed body is relayed by `_StreamSink` from the upstream connection's own
callback (router.daemon.upstream): no task switch between a chunk's arrival and its
write to the client. With the simulated delay, writes are scheduled on the loop's
timers instead. The handler task only wakes for the end, for backpressure (the
client's buffer past _DRAIN_BYTES: reading from the site pauses until it drains) and
for HTTP/1.0 clients (aiohttp's writer, which must be awaited).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from aiohttp import HttpVersion11, web

from router.daemon.breakdown import Flow, breakdown, rewrite_final
from router.daemon.errors import error_body, error_response
from router.daemon.state import LiveSite, RouterState
from router.daemon.upstream import UpstreamError, UpstreamResponse

__all__ = ["SITE_HEADER", "Flow", "relay_stream", "relay_whole"]

SITE_HEADER = "X-Georoute-Site"
_DRAIN_BYTES = 0x10000  # as aiohttp's own writer


async def relay_whole(
    state: RouterState, site: LiveSite, resp: UpstreamResponse, flow: Flow
) -> web.StreamResponse:
    try:
        body = await resp.read()
    except UpstreamError as exc:
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
        payload["georoute"] = breakdown(state, site, flow, site_info)
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


class _StreamSink:
    """One stream's body sink (upstream.BodySink): whole SSE events, the final one
    rewritten, framed as HTTP/1.1 chunks straight onto the client's transport, or
    handed to the handler task (`writes`) when there is no transport to write to."""

    __slots__ = (
        "buffer",
        "delayed",
        "down_s",
        "drain",
        "ended",
        "error",
        "flow",
        "gone",
        "loop",
        "resp",
        "saw_done",
        "site",
        "state",
        "timer",
        "transport",
        "waiter",
        "writes",
    )

    def __init__(
        self,
        state: RouterState,
        site: LiveSite,
        flow: Flow,
        resp: UpstreamResponse,
        transport: asyncio.Transport | None,
        down_s: float,
    ) -> None:
        self.state = state
        self.site = site
        self.flow = flow
        self.resp = resp
        self.transport = transport
        self.down_s = down_s
        self.loop = asyncio.get_running_loop()
        self.buffer = b""
        self.saw_done = False  # the site's [DONE] went through
        self.ended = False  # the body ended and everything before the end is written
        self.error: UpstreamError | None = None
        self.gone: str | None = None  # the client went away (why)
        self.writes: list[bytes] = []
        self.drain = False
        self.waiter: asyncio.Future[None] | None = None
        # With a simulated delay: (read_at, data) in arrival order; data None: the end.
        self.delayed: deque[tuple[float, bytes | None, UpstreamError | None]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    # upstream.BodySink

    def feed(self, data: bytes, read_at: float) -> None:
        if self.gone is not None or self.ended:
            return
        flow = self.flow
        if flow.t_first_read is None:
            flow.t_first_read = read_at
            self.state.site_ok(self.site)
        if self.down_s:
            self.delayed.append((read_at, data, None))
            if self.timer is None:
                self._arm()
        else:
            self._events(data, read_at, read_at)

    def end(self, error: UpstreamError | None) -> None:
        if self.delayed:  # after the chunks still waiting for their delay
            self.delayed.append((0.0, None, error))
        else:
            self._finish(error)

    # the handler's side

    async def wait(self) -> None:
        """Until the handler has something to do (writes, drain, the end, client gone)."""
        if self.writes or self.drain or self.ended or self.gone is not None:
            return
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def stop(self) -> None:
        """The handler is leaving: no timed write may run after it."""
        self.ended = True
        self.delayed.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    # internals

    def _events(self, data: bytes, read_at: float, due: float) -> None:
        buffer = self.buffer + data if self.buffer else data
        if buffer.endswith(b"\n\n"):  # the usual case: whole events, no copy
            events, self.buffer = buffer, b""
        else:
            cut = buffer.rfind(b"\n\n") + 2
            if cut == 1:  # no complete event yet
                self.buffer = buffer
                return
            events, self.buffer = buffer[:cut], buffer[cut:]
        flow = self.flow
        if b'"georoute"' in events:
            flow.t_final_read = read_at
            events = rewrite_final(self.state, self.site, flow, events, due)
        if b"[DONE]" in events:
            self.saw_done = True
        transport = self.transport
        if transport is None:
            self.writes.append(events)
            self._wake()
        else:
            if transport.is_closing():
                self._client_gone("Cannot write to closing transport")
                return
            transport.write(b"%x\r\n%b\r\n" % (len(events), events))
            if not self.drain and transport.get_write_buffer_size() > _DRAIN_BYTES:
                self.drain = True
                self.resp.pause_reading()
                self._wake()
        now = time.monotonic()
        if flow.t_first_write is None:
            flow.t_first_write = now
        flow.t_last_write = now

    def _arm(self) -> None:
        read_at, data, _ = self.delayed[0]
        delay_s = read_at + self.down_s - time.monotonic() if data is not None else 0.0
        self.timer = self.loop.call_later(max(0.0, delay_s), self._flush)

    def _flush(self) -> None:
        """The timer of the oldest waiting chunk fired: write it, and every later one
        due by now, in arrival order; the end goes right after the chunks before it."""
        self.timer = None
        first = True
        delayed = self.delayed
        while delayed:
            read_at, data, error = delayed[0]
            if data is None:
                delayed.popleft()
                self._finish(error)
                return
            due = read_at + self.down_s
            if not first and due > time.monotonic():
                break
            delayed.popleft()
            first = False
            self._events(data, read_at, due)
            if self.gone is not None:
                return
        if delayed:
            self._arm()

    def _finish(self, error: UpstreamError | None) -> None:
        if not self.ended:
            self.ended = True
            self.error = error
            self._wake()

    def _client_gone(self, why: str) -> None:
        self.gone = why
        self.stop()
        self.resp.close()  # the site sees the disconnect and frees the request's slot
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def relay_stream(
    request: web.Request,
    state: RouterState,
    site: LiveSite,
    resp: UpstreamResponse,
    flow: Flow,
) -> web.StreamResponse:
    down_s = flow.down_ms / 1000.0
    out = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            SITE_HEADER: site.name,
        },
    )
    # HTTP/1.1 (every client but a bare 1.0 one): chunked framing, each chunk written
    # straight to the transport by the sink, as the sites do; 1.0: aiohttp's writer.
    direct = request.version == HttpVersion11
    if direct:
        out.enable_chunked_encoding()
    sink: _StreamSink | None = None
    try:
        if down_s:
            await asyncio.sleep(down_s)  # the response headers travel back too
        await out.prepare(request)
        transport = request.transport if direct else None
        sink = _StreamSink(state, site, flow, resp, transport, down_s)
        resp.relay(sink)
        while True:
            await sink.wait()
            while sink.writes:
                writes, sink.writes = sink.writes, []
                for events in writes:
                    await out.write(events)
            if sink.gone is not None:
                raise ConnectionResetError(sink.gone)
            if sink.drain:
                await request.writer.drain()
                sink.drain = False
                resp.resume_reading()
            if sink.ended and not sink.writes:
                break
    except ConnectionResetError as exc:  # the client went away mid-stream
        if sink is not None:
            sink.stop()
        resp.close()
        flow.row["site"] = site.name
        flow.row["status"], flow.row["error"] = "cancelled", f"client disconnected: {exc}"[:500]
        return out
    except BaseException:
        if sink is not None:
            sink.stop()
        resp.close()
        raise
    if not sink.saw_done:
        why = f"{site.name}: stream ended before [DONE]"
        if sink.error is not None:
            why = f"{site.name}: stream broke: {type(sink.error).__name__}: {sink.error}"
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
