"""The router's lean forward client (router.daemon.upstream) against raw sockets that
write exactly the bytes each test wants: keep-alive reuse, chunked bodies split at
every byte, broken and closed connections, timeouts before and after the head, the
pool's bound, abandoning a response (the site must see the close), shutdown. Each
test runs under asyncio's loop and under uvloop (the router's default)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from router.daemon.upstream import (
    UpstreamClosedError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamTimeoutError,
    parse_origin,
)

LOOPS = ["asyncio", "uvloop"]


def run(loop: str, main: Callable[[], Awaitable[None]]) -> None:
    factory = None
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(main(), 20))


@dataclass
class Req:
    head: bytes
    body: bytes


Responder = Callable[[Req, asyncio.StreamWriter, int], Awaitable[bool]]


@dataclass
class RawSite:
    """A site speaking raw bytes: `respond(req, writer, n)` answers the n-th request
    of the server (from 0) and returns whether to keep the connection."""

    respond: Responder
    connections: int = 0
    requests: list[Req] = field(default_factory=list)
    closed_by_peer: int = 0  # connections the client closed (EOF seen by the site)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def start(self) -> RawSite:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def peer_closes(self, timeout_s: float = 2.0) -> int:
        """`closed_by_peer` once the site has seen a close, or after `timeout_s`."""
        for _ in range(int(timeout_s / 0.01)):
            if self.closed_by_peer:
                break
            await asyncio.sleep(0.01)
        return self.closed_by_peer

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_peer += 1
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                req = Req(head, await reader.readexactly(length))
                self.requests.append(req)
                if not await self.respond(req, writer, len(self.requests) - 1):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_peer += 1
        finally:
            writer.close()


def run_with(
    loop: str,
    respond: Responder,
    check: Callable[[RawSite, UpstreamPool], Awaitable[None]],
    **pool_args: float,
) -> None:
    """`check(site, pool)` against a RawSite answering with `respond` and a fresh pool
    (`UpstreamPool(**pool_args)`), both closed after it, on `loop`."""

    async def main() -> None:
        site = await RawSite(respond).start()
        pool = UpstreamPool(**pool_args)  # type: ignore[arg-type]
        try:
            await check(site, pool)
        finally:
            await pool.close()
            await site.close()

    run(loop, main)


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def json_response(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 %b\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Content-Length: %d\r\n%b\r\n%b" % (status.encode(), len(body), extra, body)
    )


class Sink:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.ends: list[UpstreamError | None] = []
        self.done = asyncio.Event()
        self.fed = asyncio.Event()

    def feed(self, data: bytes, read_at: float) -> None:
        assert not self.ends
        self.data.append(data)
        self.fed.set()

    def end(self, error: UpstreamError | None) -> None:
        self.ends.append(error)
        self.done.set()


async def echo(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
    writer.write(json_response(b'{"n": %d, "got": %b}' % (n, req.body)))
    await writer.drain()
    return True


@pytest.mark.parametrize("loop", LOOPS)
def test_kept_alive_connection_is_reused_and_the_request_is_well_formed(loop):
    async def check(site: RawSite, pool: UpstreamPool) -> None:
        for i in range(3):
            resp = await pool.post(site.url, "/v1/x", b'"%d"' % i, read_timeout_s=5)
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert await resp.read() == b'{"n": %d, "got": "%d"}' % (i, i)
            resp.close()
        assert site.connections == 1
        assert pool.connects == 1
        assert pool.idle_connections(site.url) == 1
        head = site.requests[0].head
        assert head.startswith(b"POST /v1/x HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in head
        assert b"\r\nContent-Type: application/json\r\n" in head
        assert b"\r\nContent-Length: 3\r\n" in head

    run_with(loop, echo, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_connection_idle_past_the_idle_timeout_is_closed_not_reused(loop):
    async def check(site: RawSite, pool: UpstreamPool) -> None:
        async def forward(i: int) -> None:
            resp = await pool.post(site.url, "/v1/x", b'"%d"' % i, read_timeout_s=5)
            assert await resp.read() == b'{"n": %d, "got": "%d"}' % (i, i)

        await forward(0)
        await forward(1)  # at once: the kept-alive connection
        assert (site.connections, pool.connects) == (1, 1)
        await asyncio.sleep(0.3)  # idle longer than the pool keeps a connection
        await forward(2)
        assert (site.connections, pool.connects) == (2, 2)
        assert await site.peer_closes() == 1
        assert pool.open_connections(site.url) == 1
        assert pool.idle_connections(site.url) == 1

    run_with(loop, echo, check, idle_timeout_s=0.2)


@pytest.mark.parametrize("loop", LOOPS)
def test_chunked_body_split_at_every_byte_reaches_the_sink_whole(loop):
    events = [b'data: {"a": %d}\n\n' % i for i in range(5)] + [b"data: [DONE]\n\n"]
    wire = SSE_HEAD + chunked(*events)

    async def dribble(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        for i in range(len(wire)):  # one byte per packet (NODELAY on the site side too)
            writer.write(wire[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0)
        return True

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        for _ in range(2):  # the second on the same connection: the parser is reset
            resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
            assert resp.status == 200
            assert resp.content_type == "text/event-stream"
            sink = Sink()
            resp.relay(sink)
            await sink.done.wait()
            assert b"".join(sink.data) == b"".join(events)
            assert sink.ends == [None]
        assert site.connections == 1

    run_with(loop, dribble, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_body_read_before_the_sink_is_attached_is_fed_first(loop):
    async def at_once(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(SSE_HEAD + chunked(b"data: 1\n\n", b"data: 2\n\n"))
        await writer.drain()
        return True

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
        await asyncio.sleep(0.05)  # the whole body is in before relay()
        assert resp.complete
        sink = Sink()
        resp.relay(sink)
        assert b"".join(sink.data) == b"data: 1\n\ndata: 2\n\n"
        assert sink.ends == [None]

    run_with(loop, at_once, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_connection_broken_mid_body_ends_the_sink_with_an_error_and_is_not_reused(loop):
    async def break_first(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        if n == 0:
            writer.write(SSE_HEAD + b"9\r\ndata: 1\n\n\r\n")  # then the site dies
            await writer.drain()
            return False
        return await echo(req, writer, n)

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
        sink = Sink()
        resp.relay(sink)
        await sink.done.wait()
        assert sink.data == [b"data: 1\n\n"]
        assert isinstance(sink.ends[0], UpstreamClosedError)
        assert pool.open_connections(site.url) == 0
        resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
        assert await resp.read() == b'{"n": 1, "got": {}}'
        assert (site.connections, pool.connects) == (2, 2)

    run_with(loop, break_first, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_connection_close_response_is_not_reused_and_an_unframed_body_ends_at_close(loop):
    async def unframed(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()
        return False

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        for _ in range(2):
            resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
            assert await resp.read() == b"all of it"
        assert site.connections == 2
        assert pool.idle_connections(site.url) == 0

    run_with(loop, unframed, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_silent_site_times_out_before_the_head_and_the_connection_is_closed(loop):
    async def silent(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        return True  # reads the next request (the router's close ends it)

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        with pytest.raises(UpstreamTimeoutError):
            await pool.post(site.url, "/s", b"{}", read_timeout_s=0.2)
        assert await site.peer_closes() == 1
        assert pool.open_connections(site.url) == 0

    run_with(loop, silent, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_read_timeout_counts_from_the_last_byte_not_from_the_request(loop):
    """Chunks every 0.1 s for 0.5 s with a 0.25 s timeout: no timeout; then silence."""

    async def slow(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(SSE_HEAD)
        for i in range(5):
            await asyncio.sleep(0.1)
            writer.write(b"8\r\ndata: %d\n\r\n" % i)
            await writer.drain()
        await asyncio.sleep(5)
        return False

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=0.25)
        sink = Sink()
        resp.relay(sink)
        await sink.done.wait()
        assert b"".join(sink.data) == b"".join(b"data: %d\n" % i for i in range(5))
        assert isinstance(sink.ends[0], UpstreamTimeoutError)
        assert isinstance(sink.ends[0], TimeoutError)

    run_with(loop, slow, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_refused_connect_and_garbage_response(loop):
    async def garbage(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        return True

    async def main() -> None:
        site = await RawSite(garbage).start()
        url = site.url
        pool = UpstreamPool()
        try:
            with pytest.raises(UpstreamProtocolError):
                await pool.post(url, "/s", b"{}", read_timeout_s=5)
            await site.close()
            with pytest.raises(UpstreamConnectError, match="cannot connect"):
                await pool.post(url, "/s", b"{}", read_timeout_s=5)
            assert pool.open_connections(url) == 0
        finally:
            await pool.close()

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_pool_bound_makes_a_forward_wait_for_a_free_connection(loop):
    async def main() -> None:
        release = asyncio.Event()

        async def held(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
            writer.write(SSE_HEAD)
            await writer.drain()
            if n == 0:
                await release.wait()
            writer.write(chunked(b"data: [DONE]\n\n"))
            await writer.drain()
            return True

        site = await RawSite(held).start()
        pool = UpstreamPool(max_connections_per_site=1, connect_timeout_s=0.3)
        try:
            first = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
            with pytest.raises(UpstreamConnectError, match="no free connection"):
                await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
            waiting = asyncio.create_task(pool.post(site.url, "/s", b"{}", read_timeout_s=5))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            release.set()
            assert await first.read() == b"data: [DONE]\n\n"
            second = await waiting
            assert await second.read() == b"data: [DONE]\n\n"
            assert (site.connections, pool.connects) == (1, 1)
        finally:
            await pool.close()
            await site.close()

    run(loop, main)


@pytest.mark.parametrize("loop", LOOPS)
def test_abandoned_response_closes_its_connection_so_the_site_frees_the_slot(loop):
    async def endless(req: Req, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(SSE_HEAD)
        while True:
            writer.write(b"8\r\ndata: x\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    async def check(site: RawSite, pool: UpstreamPool) -> None:
        resp = await pool.post(site.url, "/s", b"{}", read_timeout_s=5)
        sink = Sink()
        resp.relay(sink)
        await sink.fed.wait()
        resp.close()
        assert await site.peer_closes() == 1
        assert pool.open_connections(site.url) == 0
        assert sink.ends == []  # the owner closed it: no callback after close()

    run_with(loop, endless, check)


@pytest.mark.parametrize("loop", LOOPS)
def test_close_shuts_idle_connections_and_refuses_new_forwards(loop):
    async def main() -> None:
        site = await RawSite(echo).start()
        pool = UpstreamPool()
        try:
            resp = await pool.post(site.url, "/s", b"1", read_timeout_s=5)
            await resp.read()
            assert pool.idle_connections(site.url) == 1
            await pool.close()
            assert await site.peer_closes() == 1
            assert pool.open_connections(site.url) == 0
            with pytest.raises(UpstreamConnectError, match="shutting down"):
                await pool.post(site.url, "/s", b"1", read_timeout_s=5)
        finally:
            await site.close()

    run(loop, main)


def test_origin_of_a_site_url():
    o = parse_origin("http://10.0.0.7:8001/prefix/")
    assert (o.host, o.port, o.tls, o.path_prefix, o.host_header) == (
        "10.0.0.7",
        8001,
        False,
        "/prefix",
        b"10.0.0.7:8001",
    )
    assert parse_origin("https://site.example").port == 443
    for bad in ("ftp://x", "http://x:port", "http://:80"):
        with pytest.raises(ValueError, match="want http"):
            parse_origin(bad)


def test_a_site_url_the_client_cannot_use_fails_at_start_naming_the_site():
    from routerkit import site

    from router.config import RouterConfig, RouterSettings
    from router.daemon import make_app
    from router.daemon.app import SetupError

    config = RouterConfig(
        file="topo.toml", sites=(site("ireland", "Dublin", "h100-sxm"),), router=RouterSettings()
    )
    with pytest.raises(SetupError, match=r"topo.toml: sites: ireland: site url .*want http"):
        make_app(config, site_urls={"ireland": "http://10.0.0.5:eighty"})
