"""Kept-alive connections in the live client, which decide whether the router charges a
request the simulated handshake: a reusing request must ride a connection the router
has already seen, as the simulator assumes.

- A stream is read to its end, so its connection goes back to the pool even when the
  end of the body comes a little after `[DONE]` (as it does across processes).
- The warm-up opens the requested number of connections before the schedule, and
  concurrent reusing requests ride them.
- The agreement harness sizes the warm-up from the simulation's peak of reusing
  requests open at once.
"""

import asyncio
import json

import numpy as np
from aiohttp import web

from router.bench.agreement import peak_reusing
from router.bench.live import LiveConfig, drive
from router.geo import resolve_place
from router.traffic import ClientRequest


def _req(i: int, *, at: float = 0.0, out: int = 3) -> ClientRequest:
    return ClientRequest(
        request_id=f"r{i}",
        at_s=at,
        place=resolve_place("Paris"),
        region="europe",
        prompt_tokens=10,
        output_tokens=out,
    )


def router_app(peers: dict[str, list[object]], *, tail_s: float, hold_s: float) -> web.Application:
    """A fake router: streams `max_tokens` chunks, then `[DONE]`, then waits `tail_s`
    before ending the body; non-streamed requests (the warm-up) take `hold_s`. Records
    each request's client port (= its connection) by kind."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        port = request.transport.get_extra_info("peername")[1] if request.transport else None
        if not body.get("stream"):
            peers["warm"].append(port)
            await asyncio.sleep(hold_s)
            return web.json_response({"choices": [], "usage": {"completion_tokens": 1}})
        peers["stream"].append(port)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(body["max_tokens"]):
            chunk = {"choices": [{"delta": {"content": "tok "}}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.005)
        await resp.write(b"data: [DONE]\n\n")
        await asyncio.sleep(tail_s)  # the end of the body comes later than [DONE]
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def test_a_stream_read_past_done_keeps_its_connection(aiohttp_server):
    peers: dict[str, list[object]] = {"warm": [], "stream": []}
    server = await aiohttp_server(router_app(peers, tail_s=0.05, hold_s=0.0))
    cfg = LiveConfig(
        router_url=str(server.make_url("/")), model="m", policy="p", connection_reuse=1.0
    )
    reqs = [_req(i, at=0.2 * i) for i in range(3)]  # one after another
    result = await drive(cfg, reqs, reuse_rng=np.random.default_rng(0))
    assert result.ok == 3
    assert len(peers["stream"]) == 3
    assert len(set(peers["stream"])) == 1  # one kept-alive connection for all three


async def test_warm_up_opens_connections_that_concurrent_requests_ride(aiohttp_server):
    peers: dict[str, list[object]] = {"warm": [], "stream": []}
    server = await aiohttp_server(router_app(peers, tail_s=0.0, hold_s=0.1))
    cfg = LiveConfig(
        router_url=str(server.make_url("/")),
        model="m",
        policy="p",
        connection_reuse=1.0,
        warm_connections=4,
    )
    reqs = [_req(i, out=10) for i in range(4)]  # four at once: four connections
    result = await drive(cfg, reqs, reuse_rng=np.random.default_rng(0))
    assert result.ok == 4
    assert result.warmed == 4
    assert len(set(peers["warm"])) == 4  # the warm-up held four connections open at once
    assert set(peers["stream"]) <= set(peers["warm"])  # no new connection in the run


async def test_no_warm_up_without_reuse(aiohttp_server):
    peers: dict[str, list[object]] = {"warm": [], "stream": []}
    server = await aiohttp_server(router_app(peers, tail_s=0.0, hold_s=0.0))
    cfg = LiveConfig(
        router_url=str(server.make_url("/")), model="m", policy="p", warm_connections=4
    )
    result = await drive(cfg, [_req(0)])
    assert (result.ok, result.warmed, peers["warm"]) == (1, 0, [])


def _row(at: float, e2e_ms: float, handshake_ms: float = 0.0, status: str = "ok") -> dict:
    return {"arrived_at": at, "e2e_ms": e2e_ms, "handshake_ms": handshake_ms, "status": status}


def test_peak_reusing_counts_overlapping_requests_without_a_handshake():
    rows = [
        _row(0.0, 1000.0),  # 0 .. 1 s
        _row(0.5, 1000.0),  # 0.5 .. 1.5 s: two open
        _row(0.6, 100.0, handshake_ms=90.0),  # a new connection: not counted
        _row(0.7, 100.0),  # 0.7 .. 0.8 s: three open
        _row(1.0, 200.0),  # starts as the first ends: still at most three
        _row(0.9, 5000.0, status="failed"),  # not served: not counted
    ]
    assert peak_reusing(rows) == 3
    assert peak_reusing([]) == 0
