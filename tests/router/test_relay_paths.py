"""The relay's less common paths, end to end through the router: an HTTP/1.0 client
(aiohttp's writer instead of the router's own chunked framing), a client that stops
reading (backpressure reaches the site: the router pauses reading instead of
buffering the stream), and a client that leaves mid-stream with the handler
cancellation the real router runs with (the site sees the upstream connection close)."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from routerkit import MODEL, site

from router.config import RouterConfig, RouterSettings
from router.daemon import make_app
from router.daemon.keys import ROUTER

BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}


def event(i: int, pad: int = 0) -> bytes:
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": f"t{i}"}}], "p": "x" * pad}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


FINAL = (
    b"data: "
    + json.dumps({"id": "c", "choices": [], "georoute": {"ttft_ms": 1.0, "queue_ms": 0.5}}).encode()
    + b"\n\ndata: [DONE]\n\n"
)


class FakeSite:
    """A site whose stream is `events` events of `pad` bytes (or endless), counting
    what it wrote and whether its client (the router) went away."""

    def __init__(self, events: int | None, pad: int = 0) -> None:
        self.events, self.pad = events, pad
        self.written = 0
        self.finished = asyncio.Event()
        self.peer_gone = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_get("/health", self.health)
        self.app.router.add_post("/v1/chat/completions", self.chat)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        i = 0
        try:
            while self.events is None or i < self.events:
                await resp.write(event(i, self.pad))
                self.written += 1
                i += 1
                if self.events is None:
                    await asyncio.sleep(0.005)
            await resp.write(FINAL)
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.peer_gone.set()
            raise
        self.finished.set()
        return resp


async def start(fake: FakeSite, *, handler_cancellation: bool = False):
    site_server = TestServer(fake.app, host="127.0.0.1")
    await site_server.start_server()
    config = RouterConfig(
        file="<test>",
        sites=(site("fake", "Dublin", "h100-sxm"),),
        router=RouterSettings(simulate_network=False, health_interval_s=60.0),
    )
    app = make_app(config, site_urls={"fake": str(site_server.make_url("")).rstrip("/")})
    runner = web.AppRunner(app, handler_cancellation=handler_cancellation, shutdown_timeout=2.0)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = runner.addresses[0][1]

    async def stop() -> None:
        await runner.cleanup()
        await site_server.close()

    return app, port, stop


async def raw_request(port: int, version: str, rcvbuf: int | None = None):
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
    body = json.dumps(BODY).encode()
    writer.write(
        f"POST /v1/chat/completions HTTP/{version}\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Client-Location: Paris\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    return reader, writer


async def test_http10_client_gets_a_plain_body_ended_by_the_close():
    fake = FakeSite(events=5)
    _, port, stop = await start(fake)
    try:
        reader, writer = await raw_request(port, "1.0")
        raw = await asyncio.wait_for(reader.read(), 10)  # to EOF: the router closes
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200")
        assert b"Transfer-Encoding" not in head
        assert b"X-Georoute-Site: fake" in head
        events = body.split(b"\n\n")
        assert events[-2:] == [b"data: [DONE]", b""]
        chunks = [json.loads(e[6:]) for e in events[:-2]]
        assert [c["choices"][0]["delta"]["content"] for c in chunks[:5]] == [
            f"t{i}" for i in range(5)
        ]
        assert chunks[-1]["georoute"]["site"] == "fake"
        assert chunks[-1]["georoute"]["queue_ms"] == 0.5
    finally:
        await stop()


async def test_a_client_that_stops_reading_holds_the_site_back():
    """64 KiB events, 40 MB in all: far beyond the socket buffers on the way, so the
    site can only finish if the router keeps reading and buffers it all."""
    total = 640
    fake = FakeSite(events=total, pad=1 << 16)
    _, port, stop = await start(fake)
    try:
        reader, writer = await raw_request(port, "1.1", rcvbuf=1 << 16)
        try:
            await asyncio.sleep(0.8)  # the client reads nothing meanwhile
            assert not fake.finished.is_set()
            assert fake.written < total
            # a read can end anywhere, even inside "data: ": count in what was read
            # so far, not per read
            got = bytearray()
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
                got += chunk
                if b"data: [DONE]" in got[-(len(chunk) + 16) :]:
                    break
            assert got.count(b"data: ") == total + 2  # every event, the final chunk, [DONE]
            await asyncio.wait_for(fake.finished.wait(), 10)
        finally:
            writer.close()
    finally:
        await stop()


async def test_client_leaving_mid_stream_closes_the_upstream_connection():
    fake = FakeSite(events=None)
    app, port, stop = await start(fake, handler_cancellation=True)
    try:
        async with aiohttp.ClientSession() as s:
            resp = await s.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json=BODY,
                headers={"X-Client-Location": "Paris"},
            )
            assert resp.status == 200
            await resp.content.readline()
            resp.close()
        await asyncio.wait_for(fake.peer_gone.wait(), 10)
        state = app[ROUTER]
        for _ in range(1000):  # up to 10 s: a loaded machine
            if state.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert state.in_flight == 0
    finally:
        await stop()
