"""A lean HTTP/1.1 client for the router's forwards to the sites (the hot path only;
health checks and admin calls keep aiohttp's ClientSession).

Why not aiohttp's client here: per forward it builds a ClientRequest, a connector
lease, a ClientResponse and a StreamReader, and every chunk the site sends wakes the
relaying task through a future: a loop pass per chunk, queued behind every other
stream's work on the one loop that relays them all. Here a connection is an
`asyncio.Protocol`: the request goes out as one prebuilt write, the response is parsed
in `data_received` by httptools (llhttp, the C parser uvicorn uses), and body bytes go
to a `BodySink` from that same callback: the relay writes them to the client with no
task switch at all. Only the response head (status and headers) wakes the handler,
which needs it to choose between failover, pass-through and relay.

Connections are kept alive in a pool per site (origin), bounded; a connection whose
response was not read to its end (client gone, error, timeout) is closed, never
reused. A read timeout (no byte from the site for `read_timeout_s`) covers the wait
for the head (the first-byte timeout) and every gap after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools


class UpstreamError(Exception):
    """A forward failed at the transport or HTTP level (before or after the head)."""


class UpstreamConnectError(UpstreamError):
    """No connection to the site (refused, unreachable, or the connect timed out)."""


class UpstreamTimeoutError(UpstreamError, TimeoutError):
    """The site sent nothing for the read timeout."""


class UpstreamClosedError(UpstreamError):
    """The site closed the connection before the response ended."""


class UpstreamProtocolError(UpstreamError):
    """The site's bytes are not a valid HTTP/1.1 response."""


class BodySink(Protocol):
    """Where a relayed body goes, called from the connection's callbacks (no task
    switch): `feed` for each read's body bytes with the read's `time.monotonic()`,
    then `end` once (None: the body ended cleanly). Neither may raise."""

    def feed(self, data: bytes, read_at: float) -> None: ...
    def end(self, error: UpstreamError | None) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a site's base URL points, and the request-line prefix of its forwards."""

    host: str
    port: int
    tls: bool
    path_prefix: str
    host_header: bytes


def parse_origin(base_url: str) -> Origin:
    parts = urlsplit(base_url)
    want = f"site url {base_url!r}: want http[s]://host[:port][/prefix]"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(want)
    tls = parts.scheme == "https"
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:  # a port that is not a number in 0-65535
        raise ValueError(want) from None
    return Origin(
        host=parts.hostname,
        port=port,
        tls=tls,
        path_prefix=parts.path.rstrip("/"),
        host_header=parts.netloc.encode("idna"),
    )


class UpstreamResponse:
    """One forward's response: `status` and `content_type` once the head is in, then the
    body either read whole (`read`) or pushed to a sink (`relay`)."""

    __slots__ = (
        "_buffered",
        "_conn",
        "_framed",
        "_head",
        "_loop",
        "_pieces",
        "_sink",
        "_timeout_s",
        "_timer",
        "_waiter",
        "complete",
        "content_type",
        "error",
        "last_read_at",
        "status",
    )

    def __init__(self, conn: _Connection, loop: asyncio.AbstractEventLoop, timeout_s: float):
        self._conn: _Connection | None = conn
        self._loop = loop
        self._head: asyncio.Future[None] = loop.create_future()
        self._buffered: list[tuple[float, bytes]] = []  # body read before a sink is attached
        self._pieces: list[bytes] = []  # body parsed from the current read
        self._sink: BodySink | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timeout_s = timeout_s
        self.last_read_at = time.monotonic()
        self._timer: asyncio.TimerHandle | None = loop.call_later(timeout_s, self._check_idle)
        self._framed = False  # a Content-Length or chunked body (not read-until-close)
        self.complete = False
        self.error: UpstreamError | None = None
        self.status = 0
        self.content_type = "application/octet-stream"

    async def head(self) -> None:
        """Until the status and headers are in (raises the UpstreamError otherwise)."""
        await self._head

    async def read(self) -> bytes:
        """The whole body (raises the UpstreamError that cut it short)."""
        while not self.complete and self.error is None:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.error is not None:
            raise self.error
        return b"".join(data for _, data in self._buffered)

    def relay(self, sink: BodySink) -> None:
        """From now on the body goes to `sink` from the connection's callbacks; what was
        read already is fed first, with its own read times."""
        buffered, self._buffered = self._buffered, []
        for read_at, data in buffered:
            sink.feed(data, read_at)
        if self.complete or self.error is not None:
            sink.end(self.error)
        else:
            self._sink = sink

    def pause_reading(self) -> None:
        """Backpressure: stop reading from the site (the client is slow)."""
        conn = self._conn
        if conn is not None and conn.transport is not None:
            conn.transport.pause_reading()

    def resume_reading(self) -> None:
        conn = self._conn
        if conn is not None and conn.transport is not None:
            conn.transport.resume_reading()

    def close(self) -> None:
        """Done with this response: a connection still carrying its unread rest is
        closed (the site sees the disconnect and frees the request's slot)."""
        self._sink = None
        if not self.complete and self.error is None:
            self._fail(UpstreamClosedError("response abandoned by the router"))

    # Called by the connection.

    def _data(self, read_at: float) -> None:
        """After a read was parsed: its body bytes, as one piece, to the sink or buffer."""
        pieces = self._pieces
        if not pieces:
            return
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        pieces.clear()
        sink = self._sink
        if sink is not None:
            sink.feed(data, read_at)
        else:
            self._buffered.append((read_at, data))

    def _headed(self, status: int, content_type: str | None, framed: bool) -> None:
        self.status = status
        if content_type:
            self.content_type = content_type.split(";", 1)[0].strip().lower()
        self._framed = framed
        if not self._head.done():
            self._head.set_result(None)

    def _ended(self) -> None:
        """The response ended cleanly."""
        self._data(self.last_read_at)
        self.complete = True
        self._stop_timer()
        self._conn = None
        if not self._head.done():  # a response ended before its head: cannot happen
            self._head.set_result(None)
        self._wake()
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.end(None)

    def _fail(self, error: UpstreamError) -> None:
        if self.complete or self.error is not None:
            return
        self.error = error
        self._stop_timer()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abandon()
        self._pieces.clear()
        if not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved: nobody may await a cancelled forward
        self._wake()
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.end(error)

    def _lost(self, exc: Exception | None) -> None:
        """The connection closed under the response."""
        if self._head.done() and not self._framed and self.status:
            self._ended()  # a body delimited by the close itself (no length, not chunked)
            return
        why = f": {exc}" if exc else ""
        self._fail(UpstreamClosedError(f"the site closed the connection{why}"))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_idle(self) -> None:
        """One timer per response, re-armed only when it fires (not on every read)."""
        idle_s = time.monotonic() - self.last_read_at
        if idle_s >= self._timeout_s - 0.002:  # uvloop's timers have 1 ms steps
            self._timer = None
            self._fail(UpstreamTimeoutError(f"no byte from the site for {self._timeout_s:g} s"))
        else:
            self._timer = self._loop.call_later(self._timeout_s - idle_s, self._check_idle)


class _Connection(asyncio.Protocol):
    """One kept-alive connection to a site; httptools calls back into it."""

    def __init__(self, pool: UpstreamPool, key: Origin) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.resp: UpstreamResponse | None = None
        self.closed = False
        self.counted = False  # in its host's `open` count (set once the connect is done)
        self._content_type: str | None = None
        self._framed = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        resp = self.resp
        if resp is None:  # bytes nobody asked for: the connection cannot be trusted
            self.abandon()
            return
        resp.last_read_at = read_at = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            resp._fail(UpstreamProtocolError(f"bad response from the site: {exc}"))
            return
        if self.resp is resp:
            resp._data(read_at)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self.pool._forget(self)
        resp, self.resp = self.resp, None
        if resp is not None:
            resp._lost(exc)

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    # httptools callbacks (never raise: a raise here surfaces as a parser error)

    def on_message_begin(self) -> None:
        self._content_type = None
        self._framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-type":
            self._content_type = value.decode("latin-1")
        elif lower in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        resp = self.resp
        if resp is not None:
            resp._headed(self.parser.get_status_code(), self._content_type, self._framed)

    def on_body(self, body: bytes) -> None:
        resp = self.resp
        if resp is not None:
            resp._pieces.append(body)

    def on_message_complete(self) -> None:
        resp, self.resp = self.resp, None
        if resp is None:
            return
        keep = self.parser.should_keep_alive()
        resp._ended()
        if keep:
            self.pool._release(self)
        else:
            self.abandon()

    # the pool's side

    def send(self, data: bytes, timeout_s: float) -> UpstreamResponse:
        assert self.transport is not None
        resp = self.resp = UpstreamResponse(self, asyncio.get_running_loop(), timeout_s)
        self.transport.write(data)
        return resp

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def abandon(self) -> None:
        """Close now (a response cut short leaves unread bytes on the connection)."""
        self.resp = None
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows and forgets it


@dataclass(slots=True)
class _Host:
    # connection -> when it went idle (time.monotonic()); popitem(): the most recent
    idle: dict[_Connection, float] = field(default_factory=dict)
    open: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)


class UpstreamPool:
    """Kept-alive connections per site: at most `max_connections_per_site` open (a
    forward beyond that waits for one, up to the connect timeout), at most
    `max_idle_per_site` idle; closed by `close()`.

    A connection idle for more than `idle_timeout_s` is closed instead of reused: a
    server closes idle connections on its own clock (nginx after 75 s by default), and a
    forward written in the instant that close is on its way fails before its first byte
    (the router then fails over and counts an error against a healthy site). Closing
    ours first leaves that race only to servers that keep connections for less."""

    def __init__(
        self,
        *,
        max_connections_per_site: int = 1024,
        max_idle_per_site: int = 256,
        connect_timeout_s: float = 5.0,
        idle_timeout_s: float = 30.0,
    ) -> None:
        if max_connections_per_site < 1 or max_idle_per_site < 0 or idle_timeout_s < 0:
            raise ValueError(
                "max_connections_per_site >= 1, max_idle_per_site >= 0 and idle_timeout_s >= 0"
            )
        self.max_connections_per_site = max_connections_per_site
        self.max_idle_per_site = max_idle_per_site
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._hosts: dict[Origin, _Host] = {}
        self._origins: dict[str, Origin] = {}
        self._heads: dict[tuple[str, str], tuple[Origin, bytes]] = {}
        self._closed = False
        self.connects = 0  # connections opened (tests and benchmarks read it)

    def open_connections(self, base_url: str) -> int:
        host = self._hosts.get(self._origin(base_url))
        return host.open if host else 0

    def idle_connections(self, base_url: str) -> int:
        host = self._hosts.get(self._origin(base_url))
        return len(host.idle) if host else 0

    async def post(
        self, base_url: str, path: str, body: bytes, *, read_timeout_s: float
    ) -> UpstreamResponse:
        """POST a JSON `body` to `base_url + path`; returns once the response head is in
        (raises an UpstreamError if the connect, the write or the head fails)."""
        key = (base_url, path)
        cached = self._heads.get(key)
        if cached is None:
            origin = self._origin(base_url)
            head = (
                f"POST {origin.path_prefix}{path} HTTP/1.1\r\n".encode()
                + b"Host: "
                + origin.host_header
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
            )
            cached = self._heads[key] = (origin, head)
        origin, head = cached
        conn = await self._acquire(origin)
        resp = conn.send(b"%b%d\r\n\r\n%b" % (head, len(body), body), read_timeout_s)
        try:
            await resp.head()
        except BaseException:
            resp.close()
            raise
        return resp

    async def close(self) -> None:
        """Close every idle connection; busy ones close when their response is done."""
        self._closed = True
        for host in self._hosts.values():
            while host.idle:
                conn, _ = host.idle.popitem()
                conn.abandon()
            while host.waiters:
                waiter = host.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(UpstreamConnectError("the router is shutting down"))
        await asyncio.sleep(0)  # let the transports' connection_lost run

    def _origin(self, base_url: str) -> Origin:
        origin = self._origins.get(base_url)
        if origin is None:
            origin = self._origins[base_url] = parse_origin(base_url)
        return origin

    async def _acquire(self, origin: Origin) -> _Connection:
        if self._closed:
            raise UpstreamConnectError("the router is shutting down")
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = _Host()
        if (conn := self._idle_one(host)) is not None:
            return conn
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        while host.open >= self.max_connections_per_site:
            waiter: asyncio.Future[None] = loop.create_future()
            host.waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise UpstreamConnectError(
                    f"no free connection to {origin.host}:{origin.port} in "
                    f"{self.connect_timeout_s:g} s ({host.open} open, the pool's bound)"
                ) from None
            finally:
                with contextlib.suppress(ValueError):
                    host.waiters.remove(waiter)
            if (conn := self._idle_one(host)) is not None:
                return conn
        host.open += 1
        self.connects += 1
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, origin),
                    origin.host,
                    origin.port,
                    ssl=ssl.create_default_context() if origin.tls else None,
                )
        except (OSError, TimeoutError) as exc:
            host.open -= 1
            self._wake_one(host)
            what = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            raise UpstreamConnectError(
                f"cannot connect to {origin.host}:{origin.port}: {what}"
            ) from exc
        except BaseException:
            host.open -= 1
            self._wake_one(host)
            raise
        if conn.closed or self._closed:  # closed already, before it was counted
            host.open -= 1
            self._wake_one(host)
            conn.abandon()
            raise UpstreamConnectError(f"connection to {origin.host}:{origin.port} closed at once")
        conn.counted = True
        return conn

    def _idle_one(self, host: _Host) -> _Connection | None:
        """The most recently used idle connection, if it is usable and has not been idle
        too long; the stale ones are closed (older ones too: they went idle before)."""
        idle = host.idle
        stale_before = time.monotonic() - self.idle_timeout_s
        while idle:
            conn, since = idle.popitem()
            if since < stale_before:
                conn.abandon()
                while idle:
                    idle.popitem()[0].abandon()
                return None
            if conn.usable():
                return conn
        return None

    def _release(self, conn: _Connection) -> None:
        """A connection whose response ended cleanly: idle again, or closed."""
        host = self._hosts.get(conn.key)
        if (
            host is None
            or self._closed
            or not conn.usable()
            or len(host.idle) >= self.max_idle_per_site
        ):
            conn.abandon()
            return
        host.idle[conn] = time.monotonic()
        self._wake_one(host)

    def _forget(self, conn: _Connection) -> None:
        """A connection closed (by either side): out of the pool and its count."""
        host = self._hosts.get(conn.key)
        if host is None:
            return
        host.idle.pop(conn, None)
        if conn.counted:
            conn.counted = False
            host.open -= 1
            self._wake_one(host)

    @staticmethod
    def _wake_one(host: _Host) -> None:
        while host.waiters:
            waiter = host.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
