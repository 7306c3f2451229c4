"""Operational read endpoints: stats JSON, the SSE event stream, Prometheus, models."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from router.daemon.keys import METRICS, ROUTER, SERVED

EVENTS_INTERVAL_S = 1.0


async def handle_stats(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ROUTER].stats_snapshot_async())


async def handle_events(request: web.Request) -> web.StreamResponse:
    """SSE: one RouterStats snapshot per second (`?interval_s=` down to 0.1 s)."""
    try:
        interval_s = max(0.1, float(request.query.get("interval_s", EVENTS_INTERVAL_S)))
    except ValueError:
        interval_s = EVENTS_INTERVAL_S
    out = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await out.prepare(request)
    state = request.app[ROUTER]
    try:
        while True:
            snapshot = await state.stats_snapshot_async()
            await out.write(b"data: " + json.dumps(snapshot).encode() + b"\n\n")
            await asyncio.sleep(interval_s)
    except ConnectionResetError:
        pass  # the client left: nothing to record
    return out


async def handle_metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render(request.app[ROUTER], time.monotonic())
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def handle_models(request: web.Request) -> web.Response:
    created = int(request.app[ROUTER].started_at)
    return web.json_response(
        {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": created, "owned_by": "georoute"}
                for m in request.app[SERVED]
            ],
        }
    )


async def handle_health(request: web.Request) -> web.Response:
    state = request.app[ROUTER]
    now = time.monotonic()
    return web.json_response(
        {"status": "ok", "sites": {s.name: s.health(now) for s in state.sites.values()}}
    )
