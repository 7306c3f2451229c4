"""HTTPSource against in-process aiohttp servers: SSE, polling fallback, reconnects, admin."""

import asyncio
import contextlib
import json

from aiohttp import web
from dash_fakes import FakeRouter

from dashboards.actions import ReplayControl, SetPolicy, SetTraffic, SiteAction
from dashboards.sources import HTTPSource, error_message


def _error(status, message, code):
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    }
    return web.json_response(body, status=status)


SEEN = web.AppKey("seen", list)


def make_router_app(fake: FakeRouter, *, sse: bool = True, token: str = "s3cret"):
    app = web.Application()
    seen: list[tuple[str, dict]] = []
    app[SEEN] = seen

    async def stats(request):
        fake.step += 1
        return web.json_response(fake.snapshot())

    async def events(request):
        assert request.query.get("interval_s") == "0.5"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(3):
            fake.step += 1
            await resp.write(b"data: " + json.dumps(fake.snapshot()).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def admin(request):
        if request.headers.get("Authorization") != f"Bearer {token}":
            return _error(401, "missing or wrong admin token", "unauthorized")
        body = await request.json() if request.can_read_body else {}
        seen.append((request.path, body))
        if request.path.endswith("/policy") and body.get("policy") == "nope":
            return _error(400, "unknown policy 'nope'", "unknown_policy")
        return web.json_response({"message": "done"})

    if sse:
        app.router.add_get("/v1/router/events", events)
    app.router.add_get("/v1/router/stats", stats)
    app.router.add_post("/v1/router/admin/policy", admin)
    app.router.add_post("/v1/router/admin/sites/{name}/{op}", admin)
    app.router.add_post("/v1/router/admin/traffic", admin)
    return app


async def _take(source, n):
    got = []
    async for stats in source.snapshots():
        got.append(stats)
        if len(got) == n:
            break
    return got


async def test_follows_sse_and_reconnects_after_done(aiohttp_server):
    server = await aiohttp_server(make_router_app(FakeRouter()))
    source = HTTPSource(str(server.make_url("/")), "s3cret")
    try:
        got = await asyncio.wait_for(_take(source, 5), 10)
    finally:
        await source.aclose()
    assert [s["uptime_s"] for s in got] == [126.0, 127.0, 128.0, 129.0, 130.0]
    assert source.status.state == "live"
    assert source.use_sse


async def test_falls_back_to_polling_without_event_stream(aiohttp_server):
    server = await aiohttp_server(make_router_app(FakeRouter(), sse=False))
    source = HTTPSource(str(server.make_url("/")), poll_interval_s=0.01)
    try:
        got = await asyncio.wait_for(_take(source, 3), 10)
    finally:
        await source.aclose()
    assert len(got) == 3
    assert got[0]["sites"][0]["name"] == "riyadh-1"
    assert not source.use_sse
    assert source.status.state == "polling"


async def test_unreachable_router_is_reported_then_rejoined(aiohttp_server, unused_tcp_port):
    source = HTTPSource(
        f"http://127.0.0.1:{unused_tcp_port}", poll_interval_s=0.01, max_backoff_s=0.05
    )
    task = asyncio.ensure_future(_take(source, 2))
    try:
        for _ in range(1000):
            if source.status.state == "unreachable":
                break
            await asyncio.sleep(0.01)
        assert source.status.state == "unreachable"
        assert source.status.detail.startswith("retry ")
        assert "cannot connect (" in source.status.detail
        # the router comes up on that port: the source finds it by itself
        server = await aiohttp_server(make_router_app(FakeRouter()), port=unused_tcp_port)
        got = await asyncio.wait_for(task, 10)
        assert len(got) == 2
        assert source.status.state == "live"
        await server.close()
    finally:
        task.cancel()
        await source.aclose()


async def test_admin_actions_post_with_the_token(aiohttp_server):
    server = await aiohttp_server(make_router_app(FakeRouter()))
    source = HTTPSource(str(server.make_url("/")), "s3cret")
    try:
        assert (await source.act(SetPolicy(policy="nearest"))).ok
        assert (await source.act(SiteAction(site="riyadh-1", op="fail"))).ok
        result = await source.act(SetTraffic(rate_rps=10.0, paused=True))
        assert result.ok
        assert result.message == "done"
        refused = await source.act(SetPolicy(policy="nope"))
        replay = await source.act(ReplayControl(paused=True))
    finally:
        await source.aclose()
    assert server.app[SEEN] == [
        ("/v1/router/admin/policy", {"policy": "nearest"}),
        ("/v1/router/admin/sites/riyadh-1/fail", {}),
        ("/v1/router/admin/traffic", {"rate_rps": 10.0, "paused": True}),
        ("/v1/router/admin/policy", {"policy": "nope"}),
    ]
    assert not refused.ok
    assert refused.message == "HTTP 400: unknown policy 'nope'"
    assert refused.code == "unknown_policy"
    assert not replay.ok


async def test_admin_without_token_shows_the_routers_refusal(aiohttp_server):
    server = await aiohttp_server(make_router_app(FakeRouter()))
    source = HTTPSource(str(server.make_url("/")), None)
    try:
        result = await source.act(SiteAction(site="riyadh-1", op="drain"))
    finally:
        await source.aclose()
    assert not result.ok
    assert result.message == "HTTP 401: missing or wrong admin token"


async def test_admin_on_a_dead_router_says_unreachable(unused_tcp_port):
    source = HTTPSource(f"http://127.0.0.1:{unused_tcp_port}", "t")
    try:
        result = await source.act(SetPolicy(policy="nearest"))
    finally:
        await source.aclose()
    assert not result.ok
    assert result.message.startswith("router unreachable")


def test_error_message_reads_openai_bodies_and_plain_text():
    body = json.dumps({"error": {"message": "bad", "type": "x", "param": None, "code": "c"}})
    assert error_message(400, body) == ("bad", "c")
    assert error_message(502, "Bad Gateway") == ("Bad Gateway", None)
    assert error_message(500, "") == ("HTTP 500", None)


async def test_router_dying_mid_stream_is_reported(aiohttp_server):
    fake = FakeRouter()

    async def events(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: " + json.dumps(fake.snapshot()).encode() + b"\n\n")
        await asyncio.sleep(3600)  # until the server goes away
        return resp

    app = web.Application()
    app.router.add_get("/v1/router/events", events)
    server = await aiohttp_server(app)
    source = HTTPSource(
        str(server.make_url("/")), poll_interval_s=0.01, max_backoff_s=0.05, read_timeout_s=1.0
    )
    stream = source.snapshots()
    try:
        first = await asyncio.wait_for(anext(stream), 10)
        assert first["policy"] == "fastest"
        assert source.status.state == "live"
        pending = asyncio.ensure_future(anext(stream))
        await server.close()
        for _ in range(1000):
            if source.status.state == "unreachable":
                break
            await asyncio.sleep(0.01)
        assert source.status.state == "unreachable"
        assert source.status.detail.endswith(("no data for 1s", "connection lost"))
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
    finally:
        await stream.aclose()
        await source.aclose()
