"""`POST /v1/chat/completions` and `POST /v1/completions`: validate, submit to the
engine, and stream tokens at their scheduled times (or answer once, non-streaming).

Streaming responses over HTTP/1.1 are written by the site's pacer (`SSESink`, one
timer for all streams); the handler awaits the end. It expects cancellation at any
await (aiohttp cancels the handler when the client goes away) and the pacer reports
a closed connection at its next write; either way the request is cancelled in the
engine, which frees its batch slot and KV cache, and counted in
`georoute_site_cancellations`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import HttpVersion11, web

from sites.engine_api import EngineCapacityError
from sites.server import tokens
from sites.server.driver import Chunk, StreamDroppedError, TokenStream
from sites.server.keys import RUNTIME
from sites.server.openai_api import (
    MAX_BODY_BYTES,
    ApiError,
    ChunkFormatter,
    CompletionRequest,
    Kind,
    parse_request,
    usage,
)
from sites.server.pacer import flush_all_due
from sites.server.runtime import SiteRuntime

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, "completion")


def json_error(err: ApiError) -> web.Response:
    return web.json_response(err.body(), status=err.status)


async def read_json(request: web.Request) -> Any:
    """The JSON body, or ApiError 413 (over 1 MiB) / 400 (not JSON)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(
            413, f"request body exceeds {MAX_BODY_BYTES} bytes", code="payload_too_large"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(
            413, f"request body exceeds {MAX_BODY_BYTES} bytes", code="payload_too_large"
        ) from exc
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from exc


def _availability(rt: SiteRuntime) -> None:
    if rt.driver.failure is not None or rt.state.mode == "fail":
        raise ApiError(
            503, f"site {rt.site.name} is failing", type="server_error", code="site_failed"
        )
    if rt.state.draining:
        raise ApiError(
            503, f"site {rt.site.name} is draining", type="server_error", code="site_draining"
        )


async def _complete(request: web.Request, kind: Kind) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    flush_all_due()  # chunks due now go before this request's intake (pacer.py)
    try:
        await rt.wait_unhung()  # a hung site accepts and never answers
        _availability(rt)
        req = parse_request(await read_json(request), kind, rt.served)
        response_id = rt.next_id(kind)
        try:
            stream = rt.driver.submit(
                response_id, prompt_tokens=req.prompt_tokens, output_tokens=req.output_tokens
            )
        except EngineCapacityError as exc:
            raise ApiError(
                400,
                f"this deployment cannot serve the request: {exc}",
                param="messages" if kind == "chat" else "prompt",
                code="context_length_exceeded",
            ) from exc
        except StreamDroppedError as exc:
            raise ApiError(503, str(exc), type="server_error", code="site_failed") from exc
    except ApiError as err:
        rt.metrics.outcome("rejected")
        return json_error(err)
    rt.metrics.prompt_tokens.inc(req.prompt_tokens)
    fmt = ChunkFormatter(req, response_id=response_id, created=rt.created)
    if req.stream:
        return await _stream(request, rt, req, stream, fmt)
    return await _answer(request, rt, req, stream, fmt)


def _cancelled(rt: SiteRuntime, stream: TokenStream) -> None:
    rt.driver.cancel(stream)
    rt.metrics.cancellations.inc()
    rt.metrics.outcome("cancelled")


def _cut(request: web.Request) -> None:
    """Drop the connection without a terminating chunk: the client sees a broken stream."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _observe(rt: SiteRuntime, stream: TokenStream, timing: dict[str, Any]) -> None:
    rt.metrics.outcome("ok")
    rt.metrics.queue.observe(timing["queue_ms"] / 1000.0)
    if stream.output_tokens > 1:
        rt.metrics.tpot.observe(timing["tpot_ms"] / 1000.0)


class SSESink:
    """Writes a stream's chunks straight to its connection for the driver's pacer,
    framed for HTTP/1.1 chunked transfer encoding (aiohttp has sent the headers and
    will send the terminating chunk in `write_eof`)."""

    # a client that stops reading: its chunks wait (and coalesce) above this backlog
    HIGH_WATER_BYTES = 256 * 1024

    def __init__(
        self, rt: SiteRuntime, req: CompletionRequest, fmt: ChunkFormatter, transport: Any
    ) -> None:
        self.rt = rt
        self.req = req
        self.fmt = fmt
        self.transport = transport
        self.timing: dict[str, Any] = {}
        self.chunks = 0
        self.tokens = 0

    def write(self, stream: TokenStream, chunk: Chunk) -> bool:
        transport = self.transport
        if transport.is_closing():
            return False
        rt, req = self.rt, self.req
        text = tokens.filler(chunk.first_index, chunk.count)
        first = chunk.first_index == 0
        stamp = rt.monotonic(chunk.last_at) if req.timing else None
        if first:
            rt.metrics.ttft.observe(chunk.last_at - stream.arrived_at)
        if chunk.final:
            self.timing = rt.timing(stream, stream.result)
            if req.timing:  # lets a client on this host split its TTFT: transit vs pacing
                self.timing["arrived_t"] = round(rt.monotonic(stream.arrived_at), 6)
            usage_ = usage(req.prompt_tokens, req.output_tokens)
            data = self.fmt.final_chunks(
                text, first=first, usage=usage_, georoute=self.timing, at=stamp
            )
        else:
            data = self.fmt.token_chunk(text, first=first, at=stamp)
        rt.metrics.send_lag.observe(max(0.0, rt.clock.now() - chunk.last_at))
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        self.chunks += 1
        self.tokens += chunk.count
        return True


async def _stream(
    request: web.Request,
    rt: SiteRuntime,
    req: CompletionRequest,
    stream: TokenStream,
    fmt: ChunkFormatter,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, "X-Request-Id": fmt.response_id})
    sink: SSESink | None = None
    try:
        await resp.prepare(request)
        flush_all_due()  # the header write was a send: due chunks go before the next one
        if request.version < HttpVersion11 or request.transport is None:
            return await _stream_by_task(request, resp, rt, req, stream, fmt)
        sink = SSESink(rt, req, fmt, request.transport)
        await rt.driver.pacer.attach(stream, sink)
        rt.driver.release(stream)
        _observe(rt, stream, sink.timing)
        await resp.write_eof()
    except asyncio.CancelledError:
        _cancelled(rt, stream)
        raise
    except ConnectionResetError:
        _cancelled(rt, stream)
    except StreamDroppedError:
        if rt.driver.failure is not None:
            rt.metrics.outcome("failed")
        _cut(request)
    finally:
        if sink is not None:
            rt.metrics.chunks.inc(sink.chunks)
            rt.metrics.output_tokens.inc(sink.tokens)
    return resp


async def _stream_by_task(
    request: web.Request,
    resp: web.StreamResponse,
    rt: SiteRuntime,
    req: CompletionRequest,
    stream: TokenStream,
    fmt: ChunkFormatter,
) -> web.StreamResponse:
    """The same stream written by this handler task, chunk by chunk (HTTP/1.0
    clients, which cannot take chunked framing)."""
    clock = rt.clock
    metrics = rt.metrics
    timing: dict[str, Any] = {}
    chunks = sent = 0
    try:
        while (chunk := await stream.next_chunk()) is not None:
            text = tokens.filler(chunk.first_index, chunk.count)
            first = chunk.first_index == 0
            stamp = rt.monotonic(chunk.last_at) if req.timing else None
            if first:
                metrics.ttft.observe(chunk.last_at - stream.arrived_at)
            if chunk.final:
                result = await stream.wait_result()
                timing = rt.timing(stream, result)
                usage_ = usage(req.prompt_tokens, req.output_tokens)
                data = fmt.final_chunks(text, first=first, usage=usage_, georoute=timing, at=stamp)
            else:
                data = fmt.token_chunk(text, first=first, at=stamp)
            metrics.send_lag.observe(max(0.0, clock.now() - chunk.last_at))
            await resp.write(data)
            chunks += 1
            sent += chunk.count
        rt.driver.release(stream)
        _observe(rt, stream, timing)
        await resp.write_eof()
    finally:
        metrics.chunks.inc(chunks)
        metrics.output_tokens.inc(sent)
    return resp


async def _answer(
    request: web.Request,
    rt: SiteRuntime,
    req: CompletionRequest,
    stream: TokenStream,
    fmt: ChunkFormatter,
) -> web.StreamResponse:
    try:
        chunk = await stream.next_chunk(whole=True)
        assert chunk is not None
        result = await stream.wait_result()
    except asyncio.CancelledError:
        _cancelled(rt, stream)
        raise
    except StreamDroppedError:
        if rt.driver.failure is not None:
            rt.metrics.outcome("failed")
        _cut(request)
        return web.Response(status=503)
    rt.driver.release(stream)
    timing = rt.timing(stream, result)
    if stream.first_token_at is not None:
        rt.metrics.ttft.observe(stream.first_token_at - stream.arrived_at)
    rt.metrics.send_lag.observe(max(0.0, rt.clock.now() - chunk.last_at))
    rt.metrics.output_tokens.inc(req.output_tokens)
    _observe(rt, stream, timing)
    body = fmt.full_response(
        tokens.filler(0, req.output_tokens),
        usage=usage(req.prompt_tokens, req.output_tokens),
        georoute=timing,
    )
    return web.json_response(body, headers={"X-Request-Id": fmt.response_id})
