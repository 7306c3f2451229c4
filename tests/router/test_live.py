"""The live client against a fake router on 127.0.0.1: what it sends, how it reads the
stream, and that every request becomes one row of the results schema."""

import json

import numpy as np
from aiohttp import web

from router.bench.live import LiveConfig, drive
from router.geo import resolve_place
from router.store import REQUEST_COLUMNS
from router.traffic import ClientRequest


def _req(i, place="Paris", region="Europe", out=5, prompt=321, at=0.0):
    return ClientRequest(
        request_id=f"r{i}",
        at_s=at,
        place=resolve_place(place),
        region=region,
        prompt_tokens=prompt,
        output_tokens=out,
    )


def fake_router(seen):
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append((dict(request.headers), body))
        loc = request.headers["X-Client-Location"]
        if body["max_tokens"] == 999:
            return web.json_response(
                {
                    "error": {
                        "message": "all sites busy",
                        "type": "overloaded",
                        "param": None,
                        "code": "overloaded",
                    }
                },
                status=429,
                headers={"Retry-After": "1"},
            )
        if body["max_tokens"] == 998:
            return web.json_response(
                {
                    "error": {
                        "message": "bad",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": None,
                    }
                },
                status=400,
            )
        site = "riyadh-1" if loc == "Singapore" else "ireland"
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Georoute-Site": site}
        )
        await resp.prepare(request)
        await resp.write(b'data: {"choices": [{"delta": {"role": "assistant"}}]}\n\n')
        n = body["max_tokens"]
        # tokens coalesced two per chunk: counts come from usage, not chunks
        for i in range(0, n, 2):
            text = "tok " * min(2, n - i)
            await resp.write(
                f"data: {json.dumps({'choices': [{'delta': {'content': text}}]})}\n\n".encode()
            )
        if body["max_tokens"] == 997:
            await resp.write(
                b'data: {"error": {"message": "site failed", "type": "server_error"}}\n\n'
            )
        final = {
            "choices": [],
            "usage": {"prompt_tokens": body["georoute"]["prompt_tokens"], "completion_tokens": n},
            "georoute": {
                "site": site,
                "net_up_ms": 30.5,
                "net_down_ms": 31.0,
                "handshake_ms": 90.0,
                "router_ms": 0.4,
                "queue_ms": 1.0,
                "prefill_ms": 150.0,
                "decode_ms": 40.0,
                "energy_j": 12.0,
                "cost_usd": 0.0001,
                "retries": 1,
            },
        }
        await resp.write(f"data: {json.dumps(final)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def test_live_rows_carry_the_schema_and_the_breakdown(aiohttp_server):
    seen = []
    server = await aiohttp_server(fake_router(seen))
    reqs = [_req(0, out=5), _req(1, "Singapore", "Asia", out=8, at=0.01)]
    cfg = LiveConfig(router_url=str(server.make_url("/")), model="llama-3.3-70b", policy="fastest")
    result = await drive(cfg, reqs)
    assert (result.sent, result.ok, result.failed) == (2, 2, 0)
    rows = {r["request_id"]: r for r in result.rows}
    assert set(rows["r0"]) == set(REQUEST_COLUMNS) - {"run_id"}
    a, b = rows["r0"], rows["r1"]
    assert (a["site"], b["site"]) == ("ireland", "riyadh-1")
    assert (a["output_tokens"], b["output_tokens"]) == (5, 8)
    assert a["client_region"] == "Europe"
    assert b["client_place"] == "Singapore"
    assert a["net_up_ms"] == 30.5
    assert a["handshake_ms"] == 90.0
    assert a["energy_j"] == 12.0
    assert a["retries"] == 1
    assert a["status"] == "ok"
    assert 0 < a["ttft_ms"] <= a["e2e_ms"]
    assert a["tpot_ms"] >= 0
    # what the router was sent: exact lengths, streaming, the client's place
    headers, body = seen[0]
    assert headers["X-Client-Location"] == "Paris"
    assert body["max_tokens"] == 5
    assert body["georoute"] == {"prompt_tokens": 321}
    assert body["stream"] is True
    assert body["model"] == "llama-3.3-70b"
    assert result.chunk_gaps_ms  # gaps between content chunks were measured


async def test_rejections_errors_and_broken_streams_are_rows_too(aiohttp_server):
    server = await aiohttp_server(fake_router([]))
    reqs = [_req(0, out=999), _req(1, out=998), _req(2, out=997)]
    batches = []
    cfg = LiveConfig(
        router_url=str(server.make_url("/")), model="m", policy="nearest", batch_rows=2
    )
    result = await drive(cfg, reqs, on_rows=batches.append)
    assert (result.rejected, result.failed, result.ok) == (1, 2, 0)
    assert [len(b) for b in batches] == [2, 1]
    rows = {r["request_id"]: r for b in batches for r in b}
    assert rows["r0"]["status"] == "rejected"
    assert "429" in rows["r0"]["error"]
    assert "overloaded" in rows["r0"]["error"]
    assert rows["r1"]["status"] == "failed"
    assert "400" in rows["r1"]["error"]
    assert rows["r2"]["status"] == "failed"
    assert "site failed" in rows["r2"]["error"]
    assert result.rows == []  # rows went to the callback


async def test_unreachable_router_fails_every_request_without_raising(unused_tcp_port):
    cfg = LiveConfig(router_url=f"http://127.0.0.1:{unused_tcp_port}", model="m", policy="p")
    result = await drive(cfg, [_req(0), _req(1)])
    assert result.failed == 2
    assert all("ClientConnector" in r["error"] for r in result.rows)


async def test_connection_reuse_follows_the_draws(aiohttp_server):
    peers = []

    @web.middleware
    async def record(request, handler):
        peers.append(request.transport.get_extra_info("peername"))  # client port = connection
        return await handler(request)

    app = fake_router([])
    app.middlewares.append(record)
    server = await aiohttp_server(app)
    reqs = [_req(i, out=2, at=0.3 * i) for i in range(3)]
    url = str(server.make_url("/"))
    await drive(LiveConfig(router_url=url, model="m", policy="p"), reqs)
    assert len(set(peers)) == 3  # no reuse: a new connection each time
    peers.clear()
    cfg = LiveConfig(router_url=url, model="m", policy="p", connection_reuse=1.0)
    await drive(cfg, reqs, reuse_rng=np.random.default_rng(0))
    assert len(set(peers)) == 1  # always reuse: one kept-alive connection
