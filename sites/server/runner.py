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

from sites.clock import WallClock
from sites.engine_api import Engine
from sites.server.app import make_app
from sites.server.driver import Pacing
from sites.server.keys import RUNTIME
from sites.topology import SiteConfig

DEFAULT_SHUTDOWN_TIMEOUT_S = 30.0
EVENT_LOOP_ENV = "GEOROUTE_EVENT_LOOP"
_T = TypeVar("_T")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for a site process when it is installed (`GEOROUTE_EVENT_LOOP=asyncio`
    picks the standard loop, as for `georoute up`): its C transports and timers cut
    the CPU of every chunk write, which is what a burst of GPU tokens due at one
    instant is made of (tests/perf/bench_site_timing.py --server-loop compares)."""
    if os.environ.get(EVENT_LOOP_ENV, "uvloop").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # optional speed-up: the standard loop works the same
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_event_loop(main: Coroutine[object, object, _T]) -> _T:
    """`asyncio.run(main)` on the loop `event_loop_factory` picks."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


@dataclass
class SiteGroup:
    """Sites running in this process; iterating yields `(name, url)`."""

    urls: list[tuple[str, str]] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)

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
) -> SiteGroup:
    """Start every site on `host` (a free port each unless `ports` or the site's `url`
    names one). Engines default to `sites.engines.build_engine`; all sites share one
    wall clock. On failure, the sites already started are stopped again.

    `freeze_gc` moves every object alive after start-up (modules, catalogs, engines)
    out of the cyclic collector's reach (`gc.freeze`): a full collection over them
    otherwise stalls the event loop for tens of milliseconds (measured up to 76 ms),
    which every open stream would see as token lag."""
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
        configs, host, ports=ports, admin_token=admin_token, shutdown_timeout=shutdown_timeout
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
