"""The relay passes SSE events through whole whatever the site's write boundaries:
events split across reads, several events in one read, the final `georoute` chunk
split too (rewritten with the router's breakdown either way), with and without the
simulated network (the timed reader task and the inline read)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from routerkit import MODEL, site

from router.config import RouterConfig, RouterSettings
from router.daemon import make_app

TOKENS = ["Hel", "lo", " wor", "ld", "!"]


def site_events() -> bytes:
    def chunk(delta: dict, **extra: object) -> bytes:
        body = {"id": "c1", "object": "chat.completion.chunk", "model": MODEL}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
        body.update(extra)
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    out = [chunk({"role": "assistant"})] + [chunk({"content": t}) for t in TOKENS]
    out.append(
        chunk(
            {},
            usage={"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
            georoute={"ttft_ms": 12.0, "queue_ms": 2.0, "energy_j": 1.5, "cost_usd": 0.001},
        )
    )
    return b"".join(out) + b"data: [DONE]\n\n"


def fake_site(piece_bytes: int) -> web.Application:
    """A site whose stream arrives in `piece_bytes` writes (0: all in one write)."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def chat(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        data = site_events()
        step = piece_bytes or len(data)
        for i in range(0, len(data), step):
            await resp.write(data[i : i + step])
            await asyncio.sleep(0.001)  # separate reads at the router
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.mark.parametrize("simulate_network", [False, True])
@pytest.mark.parametrize("piece_bytes", [0, 7, 61])
async def test_events_pass_whole_and_the_final_chunk_is_rewritten(piece_bytes, simulate_network):
    """The router frames HTTP/1.1 chunks itself, straight onto the transport."""
    site_server = TestServer(fake_site(piece_bytes), host="127.0.0.1")
    await site_server.start_server()
    config = RouterConfig(
        file="<test>",
        sites=(site("fake", "Dublin", "h100-sxm"),),
        router=RouterSettings(simulate_network=simulate_network, health_interval_s=60.0),
    )
    app = make_app(config, site_urls={"fake": str(site_server.make_url("")).rstrip("/")})
    router_server = TestServer(app, host="127.0.0.1")
    await router_server.start_server()
    try:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
            "stream": True,
        }
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                str(router_server.make_url("/v1/chat/completions")),
                json=body,
                headers={"X-Client-Location": "Paris"},
            ) as r,
        ):
            assert r.status == 200
            assert r.headers["X-Georoute-Site"] == "fake"
            assert r.headers.get("Transfer-Encoding") == "chunked"
            raw = await r.read()
        assert raw.endswith(b"data: [DONE]\n\n")
        events = raw.split(b"\n\n")[:-1]
        assert all(e.startswith(b"data: ") for e in events)
        chunks = [json.loads(e[6:]) for e in events[:-1]]
        assert len(chunks) == len(TOKENS) + 2
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert text == "".join(TOKENS)
        breakdown = chunks[-1]["georoute"]
        assert breakdown["site"] == "fake"
        assert breakdown["queue_ms"] == 2.0
        assert breakdown["site_ttft_ms"] == 12.0
        assert "router_ms" in breakdown
        assert (breakdown["net_down_ms"] > 0) == simulate_network
        assert chunks[-1]["usage"]["completion_tokens"] == 5
    finally:
        await router_server.close()
        await site_server.close()
