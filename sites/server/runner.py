"""Start one or several sites in this process (the `georoute site` command, and
`georoute up`, which runs four sites beside the router).

`run_sites` returns a `SiteGroup`: iterate it for `(name, url)` pairs, and
`await group.stop()` to shut down gracefully (every site drains: new requests get
503 while in-flight streams finish, bounded by `shutdown_timeout`).
`serve_sites` runs until SIGINT or SIGTERM, then stops the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from sites.clock import Clock, WallClock
from sites.engine_api import Engine
from sites.server.app import make_app
from sites.server.driver import Pacing
from sites.server.keys import RUNTIME
from sites.server.pacer import Pacer
from sites.topology import SiteConfig

DEFAULT_SHUTDOWN_TIMEOUT_S = 30.0
EVENT_LOOP_ENV = "GEOROUTE_EVENT_LOOP"
_T = TypeVar("_T")


def event_loop_factory(name: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop for a long-running georoute process: uvloop when it is installed, or
    asyncio's own for `name` "asyncio" (None: `GEOROUTE_EVENT_LOOP`, default uvloop).
    uvloop's C transports and timers cut the CPU of every chunk write, which is what
    a burst of GPU tokens due at one instant is made of, and of every request a
    router relays (tests/perf/bench_site_timing.py --server-loop and
    bench_router_overhead.py --router-loop compare)."""
    choice = os.environ.get(EVENT_LOOP_ENV, "uvloop") if name is None else name
    if choice.strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # optional speed-up: the standard loop works the same
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_event_loop(main: Coroutine[object, object, _T], loop: str | None = None) -> _T:
    """`asyncio.run(main)` on the loop `event_loop_factory(loop)` picks."""
    with asyncio.Runner(loop_factory=event_loop_factory(loop)) as runner:
        return runner.run(main)


class QuietCollector:
    """Runs the cyclic garbage collector's older generations between bursts of chunk
    writes instead of whenever an allocation count trips them.

    Measured in a site process under 200 + 200 streams (after `gc.freeze`): a full
    collection over the ~24k tracked objects takes 6-19 ms of CPU and a generation-1
    collection 1.6-8 ms, and each found no garbage at all (streams, responses and
    engine records are freed by reference counting). Either, landing on a GPU batch's
    burst, delays every chunk of it by that much. So generation 0 stays automatic
    (0.1 ms), while generations 1 and 2 are collected here: generation 1 every
    `young_every_s`, a full collection every `full_every_s`, each at the first check
    when no pacer has more than `burst` writes planned for one instant in the next
    `window_s` (at the latest `max_wait_s` after it was due). The thresholds the
    process had are restored by `stop`."""

    def __init__(
        self,
        pacers: Sequence[Pacer],
        clock: Clock,
        *,
        young_every_s: float = 1.0,
        full_every_s: float = 60.0,
        window_s: float = 0.02,
        burst: int = 8,
        max_wait_s: float = 1.0,
        check_s: float = 0.002,
    ) -> None:
        self.pacers = list(pacers)
        self.clock = clock
        self.young_every_s = young_every_s
        self.full_every_s = full_every_s
        self.window_s = window_s
        self.burst = burst
        self.max_wait_s = max_wait_s
        self.check_s = check_s
        self.collections = [0, 0, 0]  # by generation, run here
        self._saved: tuple[int, int, int] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_full = self._due_at = 0.0

    def start(self) -> None:
        self._saved = gc.get_threshold()
        gc.set_threshold(self._saved[0], 1 << 30, 1 << 30)  # older generations: ours
        now = self.clock.now()
        self._last_full = now
        self._schedule(now + self.young_every_s)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def _schedule(self, due_at: float) -> None:
        self._due_at = due_at
        delay = max(0.0, due_at - self.clock.now())
        self._timer = asyncio.get_running_loop().call_later(delay, self.tick)

    def quiet(self, now: float) -> bool:
        until = now + self.window_s
        return all(p.busiest_before(until) <= self.burst for p in self.pacers)

    def tick(self) -> None:
        """Collect if it is quiet (or waited long enough), else look again shortly."""
        now = self.clock.now()
        if not self.quiet(now) and now - self._due_at < self.max_wait_s:
            self._timer = asyncio.get_running_loop().call_later(self.check_s, self.tick)
            return
        generation = 2 if now - self._last_full >= self.full_every_s else 1
        gc.collect(generation)
        self.collections[generation] += 1
        if generation == 2:
            self._last_full = now
        self._schedule(now + self.young_every_s)


@dataclass
class SiteGroup:
    """Sites running in this process; iterating yields `(name, url)`."""

    urls: list[tuple[str, str]] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)
    collector: QuietCollector | None = None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.urls)

    def __len__(self) -> int:
        return len(self.urls)

    def url(self, name: str) -> str:
        return dict(self.urls)[name]

    def apps(self) -> list[web.Application]:
        return [r.app for r in self.runners]

    def drain(self) -> None:
        """Stop admitting requests everywhere (health says draining)."""
        for app in self.apps():
            app[RUNTIME].state.draining = True

    async def stop(self) -> None:
        """Drain, let open streams finish (bounded), then close every site."""
        self.drain()
        runners, self.runners = self.runners, []
        await asyncio.gather(*(r.cleanup() for r in runners))
        if self.collector is not None:
            self.collector.stop()
            self.collector = None


def _port_for(site: SiteConfig, ports: Mapping[str, int] | None) -> int:
    if ports is not None and site.name in ports:
        return ports[site.name]
    if site.url is not None:
        port = urlsplit(site.url).port
        if port is not None:
            return port
    return 0  # a free port


async def run_sites(
    configs: Sequence[SiteConfig],
    host: str = "127.0.0.1",
    *,
    ports: Mapping[str, int] | None = None,
    engines: Mapping[str, Engine] | None = None,
    admin_token: str | None = None,
    pacing: Pacing | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT_S,
    freeze_gc: bool = True,
    quiet_gc: bool = False,
) -> SiteGroup:
    """Start every site on `host` (a free port each unless `ports` or the site's `url`
    names one). Engines default to `sites.engines.build_engine`; all sites share one
    wall clock. On failure, the sites already started are stopped again.

    `freeze_gc` moves every object alive after start-up (modules, catalogs, engines)
    out of the cyclic collector's reach (`gc.freeze`): a full collection over them
    otherwise stalls the event loop for tens of milliseconds (measured up to 76 ms),
    which every open stream would see as token lag. `quiet_gc` hands the older
    generations to a `QuietCollector` for the life of the group (it changes the GC
    thresholds of the whole process: `georoute site` uses it; a process that runs
    other servers beside the sites, like `georoute up`, decides for itself)."""
    group = SiteGroup()
    clock = WallClock()
    try:
        for site in configs:
            engine = engines.get(site.name) if engines is not None else None
            app = make_app(site, engine=engine, clock=clock, admin_token=admin_token, pacing=pacing)
            runner = web.AppRunner(
                app,
                handler_cancellation=True,
                shutdown_timeout=shutdown_timeout,
                access_log=None,
            )
            await runner.setup()
            group.runners.append(runner)
            tcp = web.TCPSite(runner, host, _port_for(site, ports))
            await tcp.start()
            port = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            group.urls.append((site.name, f"http://{shown}:{port}"))
    except BaseException:
        await group.stop()
        raise
    if freeze_gc:
        gc.collect()
        gc.freeze()
    if quiet_gc:
        group.collector = QuietCollector([app[RUNTIME].driver.pacer for app in group.apps()], clock)
        group.collector.start()
    return group


async def serve_sites(
    configs: Sequence[SiteConfig],
    host: str = "127.0.0.1",
    *,
    ports: Mapping[str, int] | None = None,
    admin_token: str | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT_S,
    announce: Callable[[str, str], None] | None = None,
) -> int:
    """Run sites until SIGINT/SIGTERM, then stop gracefully; returns exit code 0."""
    group = await run_sites(
        configs,
        host,
        ports=ports,
        admin_token=admin_token,
        shutdown_timeout=shutdown_timeout,
        quiet_gc=True,
    )
    for name, url in group:
        if announce is not None:
            announce(name, url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await group.stop()
    return 0
