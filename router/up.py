"""`georoute up` and `georoute router`: orchestration (shell).

`up` starts, in one process and one event loop: the topology's sites on free loopback
ports (sites.server.runner), the router on `--port`, and the traffic generator. It
prints where everything listens, a status line every few seconds, and on SIGINT or
SIGTERM (or after `--duration`) stops the generator, waits for every open request,
closes the router (which flushes the database), stops the sites and returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from aiohttp import web

from router.config import RouterConfig
from router.daemon import make_app
from router.daemon.keys import RECORDER, ROUTER
from router.stats_schema import RouterStats
from router.traffic import Population
from router.up_traffic import TrafficGenerator, lengths_for

ADMIN_TOKEN_ENV = "GEOROUTE_ADMIN_TOKEN"
SWITCH_INTERVAL_ENV = "GEOROUTE_SWITCH_INTERVAL_MS"  # see _tune_runtime
GC_GEN0_ENV = "GEOROUTE_GC_GEN0"  # see _tune_runtime
Print = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpOptions:
    port: int = 8080
    host: str = "127.0.0.1"
    db_path: Path | None = Path("georoute.db")
    traffic: bool = True
    rate_rps: float | None = None
    # Share of generated requests from a new user on a fresh connection (paying the
    # simulated handshakes); the rest reuse their place's keep-alive pool.
    new_connection_share: float = 0.1
    duration_s: float | None = None
    status_every_s: float = 5.0
    drain_timeout_s: float = 120.0
    dash: bool = False  # run `georoute dash` in front (see run_dashboard)
    # Freeze the start-up heap out of the cyclic GC and shorten the GIL switch interval
    # (`_tune_runtime`: the CLI does; tests keep CPython's defaults).
    freeze_heap: bool = False
    switch_interval_s: float | None = None  # None: CPython's (5 ms)
    gc_gen0_threshold: int | None = None  # None: CPython's (700)


def _fmt_s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}"


def status_line(stats: RouterStats, sent: int | None) -> str:
    """`t=15s sent 30 done 28 (ok 28 failed 0 rejected 0) | Europe E2E p50/p95 1.21/2.90 s ...`"""
    req = stats["requests"]
    head = f"t={stats['uptime_s']:.0f}s"
    if sent is not None:
        head += f" sent {sent}"
    done = req["ok"] + req["failed"] + req["rejected"]
    head += f" done {done} (ok {req['ok']} failed {req['failed']} rejected {req['rejected']})"
    regions = " | ".join(
        f"{r['region']} E2E p50/p95 {_fmt_s(r['e2e_ms']['p50'])}/{_fmt_s(r['e2e_ms']['p95'])} s"
        for r in stats["regions"]
    )
    share = " ".join(f"{s['name']} {s['share'] * 100:.0f}%" for s in stats["sites"])
    return " | ".join(part for part in (head, regions, f"share {share}") if part)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def _remove_signal_handlers() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(sig)


def _tune_runtime(switch_interval_s: float | None, gc_gen0_threshold: int | None) -> None:
    """Process settings for a long-running router (the CLI applies them; tests keep
    CPython's defaults).

    The heap: move what start-up allocated (modules, gazetteer, catalogues: ~58k
    objects) out of the cyclic GC's reach, so a full collection scans only what
    traffic allocates: measured in the router under 200 streams, 42 -> 5 ms per full
    collection, a stall every open stream would otherwise wait out.

    The GIL switch interval: the router's worker threads (stats snapshots: tens of ms
    of pure Python with a full window; the recorder's SQLite batches: ~3 ms per 100
    rows) hold the GIL while the event loop thread waits up to one switch interval
    for it each time, and every open stream with it. CPython's 5 ms is the size of the
    whole p99 target; 0.5 ms bounds that wait (a loop beside a thread running 30 ms
    of pure Python every 100 ms, tests/perf/bench_router_overhead.py --gil-demo: p99
    loop lag 5.4 -> 2.3 ms).
    The CLI passes 0.5 ms (`GEOROUTE_SWITCH_INTERVAL_MS` overrides it).

    The young generation's threshold: at CPython's 700 net allocations, the router
    under 200 streams ran ~30 gen-0 collections a second (no cyclic garbage found:
    each one only traverses live request objects), ~1% of the time paused, pauses p99
    ~5.5 ms, gen-1 p99 ~8-17 ms: right in the p99 of every stream. At 5000, ~35x fewer
    collections and ~5x less GC CPU (pauses p50 ~2-4 ms, p99 ~10 ms: ~0.2% of the time,
    below the p99 of chunks). Measured with tests/perf/bench_router_overhead.py
    --gc-probe. The CLI passes 5000 (`GEOROUTE_GC_GEN0` overrides it)."""
    gc.collect()
    gc.freeze()
    if gc_gen0_threshold is not None:
        gc.set_threshold(gc_gen0_threshold, *gc.get_threshold()[1:])
    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)


class ListenError(OSError):
    """The router's port cannot be bound (in use, not permitted, bad address)."""

    def __init__(self, host: str, port: int, why: str) -> None:
        super().__init__(f"--port {port}: cannot listen on {host}:{port}: {why}")
        self.port = port


def bind_listener(host: str, port: int) -> socket.socket:
    """The router's listening socket, bound before anything else starts: a port in use
    then fails `up`/`router` before sites start or a run row is written to the DB."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=1024)
    except socket.gaierror as exc:
        raise ListenError(host, port, f"bad address: {exc.strerror}") from None
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise ListenError(host, port, why) from None


async def _start_router(
    app: web.Application, host: str, sock: socket.socket
) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = sock.getsockname()[1]
    return runner, f"http://{host}:{bound}"


async def _wait(
    stop: asyncio.Event, opts: UpOptions, status: Callable[[], Awaitable[None]]
) -> None:
    started = time.monotonic()
    while not stop.is_set():
        timeout = opts.status_every_s
        if opts.duration_s is not None:
            timeout = min(timeout, max(0.0, opts.duration_s - (time.monotonic() - started)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout)
        if opts.duration_s is not None and time.monotonic() - started >= opts.duration_s:
            break
        if not stop.is_set():
            await status()


async def run_up(config: RouterConfig, opts: UpOptions, out: Print = print) -> int:
    from sites.server.runner import run_sites

    token = os.environ.get(ADMIN_TOKEN_ENV) or secrets.token_urlsafe(16)
    if opts.rate_rps is not None:
        config = replace(config, traffic=replace(config.traffic, rate_rps=opts.rate_rps))
    sock = bind_listener(opts.host, opts.port)  # first: a busy port fails before anything runs
    stop = _stop_event()
    try:
        group = await run_sites(config.sites, opts.host, admin_token=token)
    except BaseException:
        sock.close()
        raise
    generator: TrafficGenerator | None = None
    runner: web.AppRunner | None = None
    try:
        if opts.traffic:
            if not config.clients:
                raise ValueError(f"{config.file}: clients: traffic needs [[clients]] entries")
            population = Population.from_places([(c.place, c.weight, None) for c in config.clients])
            generator = TrafficGenerator(
                f"http://{opts.host}:{opts.port}",
                population=population,
                lengths=lengths_for(config.traffic),
                model=config.sites[0].model,
                rate_rps=config.traffic.rate_rps,
                rng=np.random.default_rng(config.traffic.seed),
                max_output_tokens=config.traffic.max_output_tokens,
                stream=config.traffic.stream,
                new_connection_share=opts.new_connection_share,
            )
        run: dict[str, str] = {}
        app = make_app(
            config,
            site_urls=dict(group),
            db_path=opts.db_path,
            admin_token=token,
            traffic=generator,
            mode="up",
            scenario=Path(config.file).stem,
            on_run=lambda run_id: run.setdefault("id", run_id),
        )
        runner, url = await _start_router(app, opts.host, sock)
        if opts.freeze_heap:
            _tune_runtime(opts.switch_interval_s, opts.gc_gen0_threshold)
        if generator is not None:
            generator.url = url + "/v1/chat/completions"
        _announce(config, dict(group), url, opts, run.get("id", ""), token, out)
        if generator is not None:
            generator.start()
        state = app[ROUTER]

        async def status() -> None:
            snapshot = await state.stats_snapshot_async()
            out(status_line(snapshot, generator.sent if generator else None))

        if opts.dash:  # `up --dash` (issue 7): the dashboard in front instead of status lines
            await run_dashboard(url, token, stop=stop, duration_s=opts.duration_s)
        else:
            await _wait(stop, opts, status)
        out("stopping: no new requests; waiting for open ones ...")
        if generator is not None:
            await generator.stop(opts.drain_timeout_s)
        await status()
        recorder = app[RECORDER]
        await runner.cleanup()
        runner = None
        sent = f"sent {generator.sent}, " if generator is not None else ""
        where = f" in {opts.db_path} (run {run.get('id', '')})" if opts.db_path else ""
        out(f"done: {sent}recorded {recorder.written}{where}")
        return 0
    finally:
        _remove_signal_handlers()
        if generator is not None and generator.in_flight:
            await generator.stop(0.0)
        if runner is not None:
            await runner.cleanup()
        sock.close()
        await group.stop()


def _announce(
    config: RouterConfig,
    urls: dict[str, str],
    router_url: str,
    opts: UpOptions,
    run_id: str,
    token: str,
    out: Print,
) -> None:
    out(
        f"georoute up: {len(config.sites)} sites, policy {config.router.policy}, "
        f"config {config.file}"
    )
    for s in config.sites:
        out(f"  site   {s.name:<10} {s.hardware:<9} {s.model:<14} {s.place:<9} {urls[s.name]}")
    out(
        f"  router {router_url}/v1  (stats {router_url}/v1/router/stats, "
        f"events /v1/router/events, metrics /metrics)"
    )
    if opts.traffic:
        places = ", ".join(c.place for c in config.clients)
        out(f"  traffic {config.traffic.rate_rps:g} req/s Poisson from {places}")
        out(
            "  connections: kept alive per client place; "
            f"{opts.new_connection_share:.0%} of requests from new users on a new connection"
        )
    if opts.db_path:
        out(f"  results {opts.db_path} (run {run_id})")
    if os.environ.get(ADMIN_TOKEN_ENV):
        out(f"  admin token: ${ADMIN_TOKEN_ENV}")
        out(f"  dashboard: georoute dash --router {router_url}")
    else:
        out(f"  admin token: {token} (generated; set ${ADMIN_TOKEN_ENV} to choose it)")
        out(f"  dashboard: georoute dash --router {router_url} --token {token}")
    out("Ctrl-C to stop.")


async def run_router(config: RouterConfig, opts: UpOptions, out: Print = print) -> int:
    """The router alone, against sites given by `url` in the topology."""
    token = os.environ.get(ADMIN_TOKEN_ENV) or None
    sock = bind_listener(opts.host, opts.port)  # first: a busy port fails before the DB
    stop = _stop_event()
    run: dict[str, str] = {}
    try:
        app = make_app(
            config,
            db_path=opts.db_path,
            admin_token=token,
            mode="router",
            scenario=Path(config.file).stem,
            on_run=lambda r: run.setdefault("id", r),
        )
        runner, url = await _start_router(app, opts.host, sock)
        if opts.freeze_heap:
            _tune_runtime(opts.switch_interval_s, opts.gc_gen0_threshold)
        out(f"georoute router: policy {config.router.policy}, {len(config.sites)} sites")
        for s in config.sites:
            out(f"  site   {s.name:<10} {s.url}")
        out(f"  router {url}/v1  (stats {url}/v1/router/stats)")
        if opts.db_path:
            out(f"  results {opts.db_path} (run {run.get('id', '')})")
        if token is None:
            out(f"  admin API disabled (set ${ADMIN_TOKEN_ENV})")
        state = app[ROUTER]

        async def status() -> None:
            out(status_line(await state.stats_snapshot_async(), None))

        await _wait(stop, opts, status)
        out("stopping ...")
        recorder = app[RECORDER]
        await runner.cleanup()
        out(f"done: recorded {recorder.written}")
        return 0
    finally:
        sock.close()
        _remove_signal_handlers()


# ---- `georoute up --dash` (issue 7) -------------------------------------------------


async def run_dashboard(
    router_url: str,
    token: str | None,
    *,
    stop: asyncio.Event | None = None,
    duration_s: float | None = None,
    extra_args: tuple[str, ...] = (),
    terminate_timeout_s: float = 5.0,
) -> int:
    """Run `georoute dash --router URL` on this terminal until it quits, `stop` is set
    or `duration_s` passes; returns its exit status.

    A child process rather than the Textual app in this event loop: drawing a large
    screen takes tens of milliseconds, which would delay the sites' token pacing and the
    router's proxying, i.e. the very latencies on display. Going through the CLI also
    keeps `router/` free of imports from `dashboards/`. The token travels in the
    environment, not on the command line (which `ps` shows); SIGTERM quits it cleanly.
    """
    env = dict(os.environ)
    if token:
        env[ADMIN_TOKEN_ENV] = token
    cmd = [sys.executable, "-m", "georoute", "dash", "--router", router_url, *extra_args]
    proc = await asyncio.create_subprocess_exec(*cmd, env=env)
    waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(proc.wait())}
    if stop is not None:
        waiters.add(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), terminate_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    return int(proc.returncode or 0)
