"""A lean streaming HTTP/1.1 client that times each chunk twice: when its bytes reached
this process's socket (the kernel's receive timestamp, SO_TIMESTAMPNS) and when this
process read them.

Why both: on a 2-core machine the measuring client shares a CPU with the site or the
router, and the scheduler decides when it runs. A chunk's arrival at the socket is what a
client on a host of its own would see (its own read delay aside, the same on every path);
the read time adds this process's wait for a CPU, which depends on what else runs on its
CPU at that instant (`perf sched timehist` shows it; bench_router_overhead.py says how).
On loopback the kernel stamps a segment while the sender's `send` is still in progress,
so the socket time is the sender's write time plus a few microseconds.

Bytes are read in the reader callback (no task switch per chunk, like an
`asyncio.Protocol`); the waiting request is woken once, at the end of its response. A
read that holds several chunks gives each the timestamp of the last segment in it (the
kernel merges queued segments and keeps the newest time): late, never early.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the cmsg type is the same
_STAMP = b'"georoute_t":'
_ROUTER_MS = b'"router_ms":'


def realtime_minus_monotonic() -> float:
    """time.time() - time.monotonic(), from the tightest of 200 paired reads: kernel
    timestamps are CLOCK_REALTIME, the site's stamps CLOCK_MONOTONIC (both slewed alike
    by NTP, so the offset holds for a run unless the clock is stepped)."""
    best_width, offset = float("inf"), 0.0
    for _ in range(200):
        a = time.monotonic()
        r = time.time()
        b = time.monotonic()
        if b - a < best_width:
            best_width, offset = b - a, r - (a + b) / 2
    return offset


class HTTPStatusError(RuntimeError):
    pass


class StreamConnection:
    """One kept-alive connection; `post` sends a request and returns, per line that carries
    a site stamp, (stamp, arrival at the socket, read by this process), all monotonic s."""

    def __init__(self, host: str, port: int, offset: float) -> None:
        self.host, self.port, self.offset = host, port, offset
        self.sock: socket.socket | None = None
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] | None = None
        self.buf = b""
        self.head_seen = False
        self.close_after = False
        self.rows: list[tuple[float, float, float]] = []
        self.router_ms: float | None = None  # the router's own time, from the breakdown

    async def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        await self.loop.sock_connect(sock, (self.host, self.port))
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    async def post(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> list[tuple[float, float, float]]:
        if self.sock is None:
            await self.connect()
        assert self.sock is not None
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        self.buf, self.head_seen, self.close_after, self.rows = b"", False, False, []
        self.router_ms = None
        self.done = self.loop.create_future()
        await self.loop.sock_sendall(self.sock, "\r\n".join(lines).encode() + body)
        try:
            await self.done
        finally:
            self.done = None
            if self.close_after:
                self.close()
        return self.rows

    def _fail(self, exc: BaseException) -> None:
        self.close_after = True
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc)

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(exc)
            return
        read_at = time.monotonic()
        if not data:
            self._fail(ConnectionResetError("the server closed the connection"))
            return
        at_socket = read_at
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", raw[:16])
                at_socket = sec + nsec * 1e-9 - self.offset
        if self.done is None:  # bytes with no request waiting: a protocol error
            self._fail(RuntimeError("unexpected bytes between responses"))
            return
        self.buf += data
        try:
            self._parse(at_socket, read_at)
        except Exception as exc:  # handed to the waiting request
            self._fail(exc)

    def _parse(self, at_socket: float, read_at: float) -> None:
        buf = self.buf
        if not self.head_seen:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = buf[:end].decode("latin-1").lower()
            status = head.split(" ", 2)[1]
            if status != "200":
                raise HTTPStatusError(f"HTTP {status}")
            if "transfer-encoding: chunked" not in head:
                raise RuntimeError("expected a chunked response")
            self.close_after = "connection: close" in head
            self.head_seen = True
            buf = buf[end + 4 :]
        while True:
            eol = buf.find(b"\r\n")
            if eol < 0:
                break
            size = int(buf[:eol].split(b";", 1)[0], 16)
            if size == 0:  # the last chunk (no trailers are sent)
                if len(buf) < eol + 4:
                    break
                self.buf = b""
                assert self.done is not None
                if not self.done.done():
                    self.done.set_result(None)
                return
            if len(buf) < eol + 2 + size + 2:
                break
            chunk = buf[eol + 2 : eol + 2 + size]
            buf = buf[eol + 2 + size + 2 :]
            for line in chunk.split(b"\n"):
                i = line.rfind(_STAMP)
                if i >= 0:
                    end = i + len(_STAMP)
                    while end < len(line) and line[end] in b"0123456789.":
                        end += 1
                    self.rows.append((float(line[i + len(_STAMP) : end]), at_socket, read_at))
                if (j := line.find(_ROUTER_MS)) >= 0:
                    end = j + len(_ROUTER_MS)
                    while end < len(line) and line[end] in b"0123456789.e-":
                        end += 1
                    self.router_ms = float(line[j + len(_ROUTER_MS) : end])
        self.buf = buf
