"""Timing fidelity of live sites (prints figures; not a pytest test).

Two sites run in one server process: a GPU site (h100-sxm) and an LPU site
(groq-lpu), both serving llama-3.3-70b. A client process keeps `--concurrency`
streams open to EACH site in a closed loop for `--duration` seconds, with the timing
request extension on, so every chunk carries the scheduled time of its last token
(server `time.monotonic()`; the client reads the same system-wide clock). The client
parses raw bytes in asyncio protocols (`LeanStream`) so that the measuring instrument
adds microseconds, not the milliseconds of a full HTTP client (`--aiohttp-client` to
compare). Figures:

- chunk lag: client arrival of each chunk minus the scheduled time of its last token;
- TTFT error: client-measured TTFT minus the site's own TTFT (the engine's schedule,
  from the `georoute` object), i.e. request transit + handling + first-chunk lag;
- server writes: the sites' own histogram of write time minus schedule (/metrics);
- TTFT error split: intake (the site's arrival stamp `arrived_t` minus the client's
  send: connection, HTTP parsing, the handler's loop passes) + the first token's lag
  (client arrival minus its scheduled time, arrival + the site's TTFT);
- a baseline: the lateness of as many bare asyncio timers firing together, measured
  just before, i.e. what the machine allows at that moment;
- `--floor`: the same client against a bare server (no HTTP library, no engine, no
  pacer) writing one chunk to every stream at each boundary, all due at once: this
  host's floor for N writes due at one instant. Each site's p99 is then printed as
  floor + what the site adds.

Configuration (print both when reporting): the server process runs on uvloop like
`georoute site` (`--server-loop asyncio` for the standard loop), the client on uvloop
(`--client-loop`); `--pin` puts the server and the client on different CPUs
(`os.sched_setaffinity`), so the client waking to read a burst never preempts the
server writing it (other processes on the host still share both cores). The server
runs GC generations 1-2 between bursts, as `georoute site` does (`--no-quiet-gc`:
automatic thresholds). Each site ends with a target line: p99 of the absolute
disagreement (chunks, TTFT) against the 2 ms goal.

Nothing in the first `--warmup` seconds is measured (chunks arriving then, TTFT of
requests sent then): every client starts at once, a burst no real population makes.
`--sweep` raises the concurrency per site (25, 50, 100, 200, ...) until the p99
chunk lag passes 5 ms, and reports where. `--same-process` runs the clients inside
the server process instead (they then compete for the same event loop).

Run: .venv/bin/python tests/perf/bench_site_timing.py [--concurrency 200] [--duration 20]
     .venv/bin/python tests/perf/bench_site_timing.py --floor [--pin]
     .venv/bin/python tests/perf/bench_site_timing.py --sweep [--floor]
     .venv/bin/python tests/perf/bench_site_timing.py --baseline-rev REV [--rounds 4]
         (before/after: this tree's sites and REV's, alternated round by round)
     .venv/bin/python tests/perf/bench_site_timing.py --trace FILE
         (what the server's late writes waited for: tests/perf/looptrace.py)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import numpy as np
from revtree import extract_rev  # tests/perf/revtree.py, beside this script

MODEL = "llama-3.3-70b"


@dataclass
class SiteFigures:
    chunk_lag_ms: list[float] = field(default_factory=list)
    ttft_err_ms: list[float] = field(default_factory=list)
    intake_ms: list[float] = field(default_factory=list)  # server arrival - client send
    first_lag_ms: list[float] = field(default_factory=list)  # first token's lag
    chunks: int = 0
    tokens: int = 0
    requests: int = 0
    errors: int = 0


async def stream_once(
    session: aiohttp.ClientSession, url: str, prompt: int, output: int, fig: SiteFigures
) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "bench"}],
        "max_tokens": output,
        "stream": True,
        "georoute": {"prompt_tokens": prompt, "timing": True},
    }
    sent = time.monotonic()
    first = None
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        if resp.status != 200:
            fig.errors += 1
            await resp.read()
            return
        async for line in resp.content:
            if not line.startswith(b"data: {"):
                continue
            now = time.monotonic()
            at = line.rfind(b'"georoute_t":')
            if at < 0:  # the usage/last chunk without a stamp (none expected)
                continue
            end = line.find(b"}", at)
            comma = line.find(b",", at)
            stop = min(x for x in (end, comma) if x > 0)
            sched = float(line[at + 13 : stop])
            fig.chunk_lag_ms.append((now - sched) * 1000.0)
            fig.chunks += 1
            if first is None:
                first = now
            if b'"georoute":{' in line:
                site = json.loads(line[6:])["georoute"]
                fig.ttft_err_ms.append((first - sent) * 1000.0 - site["ttft_ms"])
                fig.tokens += site["output_tokens"]
                fig.requests += 1


def _number_after(buf: bytes, key: bytes) -> float | None:
    """The JSON number following the last `key` in `buf` (None if absent)."""
    at = buf.rfind(key)
    if at < 0:
        return None
    start = stop = at + len(key)
    while stop < len(buf) and buf[stop] in b"0123456789.-e":
        stop += 1
    return float(buf[start:stop])


class LeanStream(asyncio.Protocol):
    """One keep-alive connection running a closed loop of streamed requests, parsing
    the bytes in `data_received` (no task switch, no SSE decoding per chunk): the
    measuring instrument should add microseconds, not milliseconds, to what it sees."""

    def __init__(
        self,
        host: str,
        body: bytes,
        fig: SiteFigures,
        deadline: float,
        done: asyncio.Future[None],
        warm_until: float = 0.0,
    ) -> None:
        self.request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %b\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
            % (host.encode(), len(body), body)
        )
        self.fig = fig
        self.deadline = deadline
        self.done = done
        self.warm_until = warm_until  # nothing before this is measured
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.first_at: float | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.deadline:
            self.transport.close()
            return
        self.sent_at = time.monotonic()
        self.first_at = None
        self.tail = b""
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.tail + data
        # chunks count once warm; TTFT only for requests sent once warm
        fig = self.fig if now >= self.warm_until else SiteFigures()
        ttft_fig = self.fig if self.sent_at >= self.warm_until else SiteFigures()
        pos = 0
        while (at := buf.find(b'"georoute_t":', pos)) >= 0:
            start = stop = at + 13
            while stop < len(buf) and buf[stop] in b"0123456789.":
                stop += 1
            if stop >= len(buf):
                break  # the number continues in the next packet
            fig.chunk_lag_ms.append((now - float(buf[start:stop])) * 1000.0)
            fig.chunks += 1
            if self.first_at is None:
                self.first_at = now
            pos = stop
        if b"data: [DONE]" in buf and buf.endswith(b"0\r\n\r\n"):
            ttft = buf.rfind(b'"ttft_ms":')
            out = buf.rfind(b'"output_tokens":')
            if ttft >= 0 and out >= 0 and self.first_at is not None:
                site_ttft = float(buf[ttft + 10 : buf.find(b",", ttft)])
                ttft_fig.ttft_err_ms.append((self.first_at - self.sent_at) * 1000.0 - site_ttft)
                arrived = _number_after(buf, b'"arrived_t":')
                if arrived is not None:  # the first token's lag: vs its own schedule (a late
                    # first chunk may also carry later tokens, and then its stamp is theirs)
                    ttft_fig.intake_ms.append((arrived - self.sent_at) * 1000.0)
                    first_due = arrived + site_ttft / 1000.0
                    ttft_fig.first_lag_ms.append((self.first_at - first_due) * 1000.0)
                fig.tokens += int(buf[out + 16 : buf.find(b",", out)])
                fig.requests += 1
            self.send()
            return
        self.tail = buf[max(pos, len(buf) - 8192) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def lean_closed_loop(
    url: str, concurrency: int, duration_s: float, prompt: int, output: int, warmup_s: float = 0.0
) -> SiteFigures:
    """`closed_loop` over raw asyncio protocols instead of aiohttp's client."""
    fig = SiteFigures()
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "bench"}],
            "max_tokens": output,
            "stream": True,
            "georoute": {"prompt_tokens": prompt, "timing": True},
        }
    ).encode()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    loop = asyncio.get_running_loop()
    warm_until = time.monotonic() + warmup_s
    deadline = warm_until + duration_s
    dones: list[asyncio.Future[None]] = [loop.create_future() for _ in range(concurrency)]
    transports = []
    for done in dones:
        transport, _ = await loop.create_connection(
            lambda d=done: LeanStream(host, body, fig, deadline, d, warm_until), host, int(port)
        )
        transports.append(transport)
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    for t in transports:
        t.close()
    await asyncio.gather(*dones)
    return fig


async def closed_loop(
    url: str, concurrency: int, duration_s: float, prompt: int, output: int
) -> SiteFigures:
    fig = SiteFigures()
    deadline = time.monotonic() + duration_s
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def warm() -> None:
            async with session.get(url + "/health") as r:
                await r.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))

        async def user() -> None:
            while time.monotonic() < deadline:
                await stream_once(session, url, prompt, output, fig)

        tasks = [asyncio.ensure_future(user()) for _ in range(concurrency)]
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return fig


async def timer_baseline(tasks: int, period_s: float = 0.03, rounds: int = 60) -> list[float]:
    """Lateness of bare asyncio timers (`tasks` of them firing together every period,
    no I/O): what this machine's scheduler and event loop allow at best right now."""
    lags: list[float] = []
    start = time.monotonic() + 0.05

    async def sleeper() -> None:
        for k in range(rounds):
            at = start + k * period_s
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            lags.append((time.monotonic() - at) * 1000.0)

    await asyncio.gather(*(sleeper() for _ in range(tasks)))
    return lags


def pct(values: list[float]) -> str:
    if not values:
        return "n/a"
    a = np.asarray(values)
    return f"p50 {np.percentile(a, 50):6.2f}  p99 {np.percentile(a, 99):7.2f}  max {a.max():8.2f}"


async def server_lag_buckets(urls: dict[str, str]) -> dict[str, dict[float, float]]:
    """The sites' own histogram of chunk write lag (cumulative bucket counts)."""
    out: dict[str, dict[float, float]] = {}
    async with aiohttp.ClientSession() as session:
        for name, url in urls.items():
            async with session.get(url + "/metrics") as resp:
                text = await resp.text()
            buckets: dict[float, float] = {}
            for line in text.splitlines():
                if line.startswith("georoute_site_chunk_lag_seconds_bucket"):
                    le = line.split('le="')[1].split('"')[0]
                    buckets[float(le)] = float(line.rsplit(" ", 1)[1])
            out[name] = buckets
    return out


def lag_shares(before: dict[float, float], after: dict[float, float]) -> str:
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    if total <= 0:
        return "n/a"
    parts = []
    for le in (0.001, 0.002, 0.005, 0.02):
        share = (after[le] - before.get(le, 0.0)) / total
        parts.append(f"<={le * 1000:g} ms {share:7.2%}")
    return "  ".join(parts)


async def run_clients(
    urls: dict[str, str], args: argparse.Namespace, concurrency: int
) -> dict[str, SiteFigures]:
    names = list(urls)
    if args.aiohttp_client:
        runs = [
            closed_loop(urls[n], concurrency, args.duration, args.input_tokens, args.output_tokens)
            for n in names
        ]
    else:
        runs = [
            lean_closed_loop(
                urls[n],
                concurrency,
                args.duration,
                args.input_tokens,
                args.output_tokens,
                args.warmup,
            )
            for n in names
        ]
    figs = await asyncio.gather(*runs)
    return dict(zip(names, figs, strict=True))


def report(
    concurrency: int,
    figs: dict[str, SiteFigures],
    duration_s: float,
    server: dict[str, str],
) -> dict[str, float]:
    """Print one level's figures; returns each site's p99 chunk lag (ms)."""
    p99: dict[str, float] = {}
    for name, f in figs.items():
        print(
            f"  {name:4s} c={concurrency:4d}  requests {f.requests:5d}  "
            f"chunks/s {f.chunks / duration_s:7.0f}  "
            f"tokens/s {f.tokens / duration_s:8.0f}  errors {f.errors}"
        )
        print(f"       chunk lag ms   {pct(f.chunk_lag_ms)}   (client arrival - schedule)")
        print(f"       server writes  {server[name]}   (write - schedule)")
        print(f"       TTFT error ms  {pct(f.ttft_err_ms)}")
        print(f"        = intake ms   {pct(f.intake_ms)}   (site's arrival - client send)")
        print(f"        + 1st token   {pct(f.first_lag_ms)}   (client arrival - its schedule)")
        p99[name] = float(np.percentile(np.asarray(f.chunk_lag_ms), 99)) if f.chunk_lag_ms else 0.0
        print(
            f"       target (2 ms at p99): {verdict(f.chunk_lag_ms, 'chunks')}, "
            f"{verdict(f.ttft_err_ms, 'TTFT')}"
        )
    return p99


def verdict(values: list[float], what: str) -> str:
    """p99 of the absolute disagreement (early counts as much as late) vs 2 ms."""
    if not values:
        return f"{what} n/a"
    worst = float(np.percentile(np.abs(np.asarray(values)), 99))
    return f"{what} p99 |err| {worst:.2f} ms {'met' if worst <= 2.0 else 'NOT met'}"


async def serve(quiet_gc: bool, trace: str | None = None) -> None:
    import inspect

    if trace:
        import looptrace  # tests/perf/looptrace.py, beside this script

        looptrace.install()

    from sites.server.runner import run_sites
    from sites.topology import SiteConfig

    sites = [
        SiteConfig(name="gpu", place="Ashburn", hardware="h100-sxm", model=MODEL),
        SiteConfig(name="lpu", place="Riyadh", hardware="groq-lpu", model=MODEL),
    ]
    # as `georoute site` runs (an older tree, for before/after, has no quiet_gc)
    known = "quiet_gc" in inspect.signature(run_sites).parameters
    group = await run_sites(sites, **({"quiet_gc": quiet_gc} if known else {}))
    print(json.dumps(dict(group)), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    cpu0 = time.process_time()
    await stop.wait()
    print(json.dumps({"server_cpu_s": time.process_time() - cpu0}), flush=True)
    if trace:
        Path(trace).write_text(looptrace.summary() + "\n")  # noqa: ASYNC240 (at exit)
    await group.stop()


class FloorHub:
    """The machine's floor for the GPU case: a bare asyncio server (no HTTP library,
    no engine, no pacer logic) that writes one pre-built chunk to every open stream
    at each `period` boundary, all due at the same instant, the same bytes on the wire
    as a site's. What the lean client then measures is what this host's scheduler,
    event loop and loopback TCP allow for N writes due at once; a site can only add
    to it."""

    HEAD = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    def __init__(self, period_s: float, output_tokens: int, every: int = 1) -> None:
        self.period_s = period_s
        self.output_tokens = output_tokens
        self.every = every  # each stream writes at every `every`-th boundary (its phase)
        self.ticks = 0
        self.active: dict[FloorConn, int] = {}  # stream -> tokens sent
        self.phases = itertools.count()
        self.loop = asyncio.get_running_loop()
        self.next_at = time.monotonic() + period_s
        self.loop.call_later(period_s, self.tick)

    def tick(self) -> None:
        due = self.next_at
        self.next_at += self.period_s
        self.loop.call_later(max(0.0, self.next_at - time.monotonic()), self.tick)
        stamp = b"%.6f" % due
        body = (
            b'data: {"id":"chatcmpl-floor","object":"chat.completion.chunk","created":0,'
            b'"model":"m","choices":[{"index":0,"delta":{"content":" fox"},'
            b'"logprobs":null,"finish_reason":null}],"georoute_t":' + stamp + b"}\n\n"
        )
        plain = b"%x\r\n%b\r\n" % (len(body), body)
        done = []
        self.ticks += 1
        for conn, sent in self.active.items():
            if (self.ticks + conn.phase) % self.every:
                continue
            if sent == 0:
                conn.first_at = due
            if sent + 1 < self.output_tokens:
                conn.transport.write(plain)
                self.active[conn] = sent + 1
                continue
            ttft_ms = (conn.first_at - conn.arrived_at) * 1000.0
            last = body[:-3] + (
                b',"georoute":{"ttft_ms":%.3f,"output_tokens":%d,"arrived_t":%.6f}}\n\n'
                b"data: [DONE]\n\n" % (ttft_ms, self.output_tokens, conn.arrived_at)
            )
            conn.transport.write(b"%x\r\n%b\r\n0\r\n\r\n" % (len(last), last))
            done.append(conn)
        for conn in done:
            del self.active[conn]


class FloorConn(asyncio.Protocol):
    def __init__(self, hub: FloorHub) -> None:
        self.hub = hub
        self.buf = b""
        self.arrived_at = self.first_at = 0.0
        self.phase = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        length = int(self.buf.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
        if len(self.buf) < end + 4 + length:
            return
        self.buf = self.buf[end + 4 + length :]
        self.arrived_at = time.monotonic()
        self.phase = next(self.hub.phases)
        self.transport.write(FloorHub.HEAD)
        self.hub.active[self] = 0

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.active.pop(self, None)


async def serve_floor(period_s: float, output_tokens: int, every: int) -> None:
    loop = asyncio.get_running_loop()
    hub = FloorHub(period_s, output_tokens, every)
    server = await loop.create_server(lambda: FloorConn(hub), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"floor": f"http://127.0.0.1:{port}"}), flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()


def spawn(
    args: argparse.Namespace, *extra: str, tree: Path | None = None
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A server subprocess (sites, or the floor) on the chosen loop and CPU; with `tree`,
    the sites of that source tree (PYTHONPATH comes before the editable install)."""
    flags = ["--pin"] if args.pin else []
    flags += ["--no-quiet-gc"] if args.no_quiet_gc else []
    flags += ["--trace", args.trace] if args.trace and "--serve" in extra and not tree else []
    env = {**os.environ, "GEOROUTE_EVENT_LOOP": args.server_loop}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    proc = subprocess.Popen(
        [sys.executable, __file__, *extra, *flags],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tree,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def merge(into: dict[str, SiteFigures], more: dict[str, SiteFigures]) -> None:
    """Pool each site's figures of one round into `into` (lists joined, counts added):
    every field of SiteFigures, so a new one cannot be left out."""
    for name, f in more.items():
        g = into.setdefault(name, SiteFigures())
        for fld in dataclasses.fields(SiteFigures):
            setattr(g, fld.name, getattr(g, fld.name) + getattr(f, fld.name))


async def compare_with_base(
    args: argparse.Namespace, urls: dict[str, str], base_urls: dict[str, str], short: str
) -> None:
    """Alternate rounds between this tree's sites and the base revision's (both server
    processes up, one measured at a time), then print each pooled: a before/after
    from one run on a shared machine."""
    pooled: dict[str, dict[str, SiteFigures]] = {"this tree": {}, f"base {short}": {}}
    variants = list(zip(pooled, (urls, base_urls), strict=True))
    for i in range(args.rounds):
        for label, u in variants if i % 2 == 0 else variants[::-1]:
            merge(pooled[label], await run_clients(u, args, args.concurrency))
    for label, figs in pooled.items():
        print(f"  == {label}: {args.rounds} rounds of {args.duration:g} s pooled")
        blank = dict.fromkeys(figs, "(not read)")
        report(args.concurrency, figs, args.duration * args.rounds, blank)


def stop_server(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    assert proc.stdout is not None
    tail = proc.stdout.read()
    proc.wait(timeout=60)
    return tail


def pin_to(which: str) -> str:
    """Pin this process: the server to the last CPU, the client to the first (the
    kernel then never runs them on one core, so a burst of writes is not preempted
    by the client waking to read it; other processes still share both cores)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "not pinned (one CPU)"
    cpu = cpus[-1] if which == "server" else cpus[0]
    os.sched_setaffinity(0, {cpu})
    return f"{which} on CPU {cpu}"


async def main_async(args: argparse.Namespace) -> None:
    server = None
    floor_url: str | None = None
    floor_proc = None
    if args.pin:
        print(f"pinned: {pin_to('client')}, server on the other CPU")
    if args.floor:
        floor_proc, floor = spawn(
            args,
            "--serve-floor",
            "--floor-period-ms",
            str(args.floor_period_ms),
            "--floor-every",
            str(args.floor_every),
            "--output-tokens",
            str(args.output_tokens),
        )
        floor_url = floor["floor"]
    if args.same_process:
        from sites.server.runner import run_sites
        from sites.topology import SiteConfig

        group = await run_sites(
            [
                SiteConfig(name="gpu", place="Ashburn", hardware="h100-sxm", model=MODEL),
                SiteConfig(name="lpu", place="Riyadh", hardware="groq-lpu", model=MODEL),
            ]
        )
        urls = dict(group)
    else:
        server, urls = spawn(args, "--serve")
    base_server = None
    if args.baseline_rev:
        short, tree = extract_rev(args.baseline_rev, Path(tempfile.mkdtemp(prefix="sitebase-")))
        base_server, base_urls = spawn(args, "--serve", tree=tree)
    print(
        f"sites {urls}; clients in "
        f"{'the server process' if args.same_process else 'a separate process'}; "
        f"{args.input_tokens}/{args.output_tokens} tokens, "
        f"{args.warmup:.0f} s warm-up + {args.duration:.0f} s measured per level; "
        f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; server loop {args.server_loop}, "
        f"client loop {args.client_loop}"
    )
    try:
        print(f"  baseline: {args.concurrency} bare asyncio timers firing together, lateness ms")
        print(f"       {pct(await timer_baseline(args.concurrency))}")
        if base_server is not None:
            await compare_with_base(args, urls, base_urls, short)
            return
        levels = [25, 50, 100, 200, 400, 800, 1600] if args.sweep else [args.concurrency]
        passed: dict[str, int | None] = dict.fromkeys(urls)
        failed: set[str] = set()
        for c in levels:
            if floor_url is not None:
                print(
                    f"  floor: a bare server writing at {args.floor_period_ms:g} ms boundaries, "
                    f"each stream at every {args.floor_every} (about "
                    f"{c / args.floor_every:.0f} writes due at each instant)"
                )
                floor_figs = await run_clients({"floor": floor_url}, args, c)
                floor_p99 = report(c, floor_figs, args.duration, {"floor": "(bare writes)"})
            before = await server_lag_buckets(urls)
            figs = await run_clients(urls, args, c)
            after = await server_lag_buckets(urls)
            shares = {n: lag_shares(before[n], after[n]) for n in urls}
            p99 = report(c, figs, args.duration, shares)
            if floor_url is not None:
                for name, value in p99.items():
                    print(
                        f"  {name}: p99 chunk lag {value:.2f} ms = floor {floor_p99['floor']:.2f} "
                        f"ms + {value - floor_p99['floor']:.2f} ms added by the site"
                    )
            if args.sweep:
                for name, value in p99.items():
                    if value > 5.0:
                        failed.add(name)
                    elif name not in failed:
                        passed[name] = c
                if failed >= set(urls):
                    break
        if args.sweep:
            for name, level in passed.items():
                print(f"{name}: highest streams per site with p99 chunk lag <= 5 ms: {level}")
    finally:
        if floor_proc is not None:
            stop_server(floor_proc)
        if base_server is not None:
            stop_server(base_server)
        if server is not None:
            tail = stop_server(server).splitlines()
            cpu = json.loads(tail[0])["server_cpu_s"]
            print(f"server process CPU: {cpu:.1f} s over the whole run")
            if args.trace:
                print(Path(args.trace).read_text(), end="")  # noqa: ASYNC240 (at exit)
        else:
            await group.stop()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--concurrency", type=int, default=200, help="streams per site (default 200)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per level (default 20)")
    p.add_argument("--input-tokens", type=int, default=500)
    p.add_argument("--output-tokens", type=int, default=300)
    p.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds of load before measuring (the first wave arrives all at once; default 3)",
    )
    p.add_argument("--sweep", action="store_true", help="raise concurrency until p99 > 5 ms")
    p.add_argument("--same-process", action="store_true", help="clients share the server's loop")
    p.add_argument(
        "--aiohttp-client", action="store_true", help="measure with aiohttp's client (slower)"
    )
    p.add_argument(
        "--server-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the server process (GEOROUTE_EVENT_LOOP; default uvloop, as "
        "`georoute site`)",
    )
    p.add_argument(
        "--client-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of the measuring client (default uvloop: fewer microseconds per read)",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the server process to the last CPU and the client to the first",
    )
    p.add_argument(
        "--floor",
        action="store_true",
        help="first measure a bare server that writes to every stream at each boundary",
    )
    p.add_argument(
        "--floor-period-ms",
        type=float,
        default=40.0,
        help="the floor server's iteration (default 40 ms)",
    )
    p.add_argument(
        "--floor-every",
        type=int,
        default=1,
        help="each floor stream writes at every K-th boundary (default 1: all streams at "
        "once; 4 writes about as many chunks per instant as the GPU site at 200 streams)",
    )
    p.add_argument(
        "--no-quiet-gc",
        action="store_true",
        help="leave the server's garbage collector on its automatic thresholds (compare)",
    )
    p.add_argument(
        "--trace",
        metavar="FILE",
        help="trace the server's loop (tests/perf/looptrace.py): what the late writes waited "
        "for, written to FILE and printed at the end",
    )
    p.add_argument(
        "--baseline-rev",
        metavar="REV",
        help="A/B: also serve the sites of git revision REV and alternate --rounds rounds "
        "between the two (same machine moments); prints both pooled",
    )
    p.add_argument("--rounds", type=int, default=4, help="rounds with --baseline-rev (default 4)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve or args.serve_floor:
        if args.pin:
            pin_to("server")
        try:
            from sites.server.runner import run_event_loop
        except ImportError:  # an older tree (before/after comparisons): the standard loop
            run_event_loop = asyncio.run  # type: ignore[assignment]

        if args.serve_floor:
            run_event_loop(
                serve_floor(args.floor_period_ms / 1000.0, args.output_tokens, args.floor_every)
            )
        else:
            run_event_loop(serve(not args.no_quiet_gc, args.trace))
        return
    if args.client_loop == "uvloop":
        import uvloop

        uvloop.run(main_async(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
