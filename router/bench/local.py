"""A scenario's whole system in this process on 127.0.0.1: one site server per
`[[sites]]` and the router in front, configured like the simulator runs it (policy,
stats interval as the health-poll interval, attempts, residency, weights).

Live benchmarks use it with `--router local`, and the sim-vs-live agreement test and
benchmark use it to compare the two modes on the same scenario and seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from router.config import RouterConfig, RouterSettings
from router.scenarios import Scenario


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSystem:
    router_url: str
    site_urls: dict[str, str]


def router_config(scenario: Scenario, *, policy: str, seed: int) -> RouterConfig:
    """The router's configuration for this scenario."""
    r = scenario.routing
    defaults = RouterSettings()
    settings = RouterSettings(
        policy=policy,
        health_interval_s=r.stats_interval_s,
        max_attempts=r.max_attempts,
        max_in_flight_per_site=r.max_in_flight_per_site or defaults.max_in_flight_per_site,
        max_in_flight_total=max(
            defaults.max_in_flight_total,
            (r.max_in_flight_per_site or defaults.max_in_flight_per_site) * len(scenario.sites),
        ),
        latency_ceiling_ms=r.latency_ceiling_ms,
        weights=dict(r.weights),
        residency=r.residency,
        seed=seed,
        default_place=scenario.population.groups[0].place.name,
    )
    return RouterConfig(file=scenario.file, sites=scenario.sites, router=settings)


async def _serve(app: web.Application, stack: contextlib.AsyncExitStack) -> str:
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, known before the site starts
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    return f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def local_system(
    scenario: Scenario, *, policy: str, seed: int, admin_token: str | None = None
) -> AsyncIterator[LocalSystem]:
    """Start the sites and the router; stop them (router first) on exit."""
    from router.daemon.app import make_app as make_router
    from sites.server.app import make_app as make_site

    async with contextlib.AsyncExitStack() as stack:
        site_urls: dict[str, str] = {}
        for site in scenario.sites:
            site_urls[site.name] = await _serve(make_site(site, admin_token=admin_token), stack)
        config = router_config(scenario, policy=policy, seed=seed)
        router = make_router(
            config,
            site_urls=site_urls,
            admin_token=admin_token,
            mode="live",
            scenario=scenario.name,
        )
        url = await _serve(router, stack)
        yield LocalSystem(router_url=url, site_urls=site_urls)


def _serve_in_child(scenario: Scenario, policy: str, seed: int, urls: Any, stop: Any) -> None:
    """Child process body: run the system until the parent sets `stop`."""

    async def main() -> None:
        async with local_system(scenario, policy=policy, seed=seed) as system:
            urls.put(system.router_url)
            await asyncio.to_thread(stop.wait)  # a multiprocessing Event: block off the loop

    asyncio.run(main())


@contextlib.asynccontextmanager
async def local_system_process(
    scenario: Scenario, *, policy: str, seed: int, start_timeout_s: float = 60.0
) -> AsyncIterator[LocalSystem]:
    """`local_system` in a child process, so the sites and router do not share a core
    (and an event loop) with the client that measures them."""
    ctx = multiprocessing.get_context("spawn")
    urls = ctx.Queue()
    stop = ctx.Event()
    child = ctx.Process(
        target=_serve_in_child, args=(scenario, policy, seed, urls, stop), daemon=True
    )
    child.start()
    try:
        try:
            url = await asyncio.to_thread(urls.get, True, start_timeout_s)
        except queue.Empty:
            raise RuntimeError(
                f"the local sites and router did not start within {start_timeout_s:g} s "
                f"(child exit code {child.exitcode})"
            ) from None
        yield LocalSystem(router_url=url, site_urls={})
    finally:
        stop.set()
        await asyncio.to_thread(child.join, 30.0)
        if child.is_alive():
            child.terminate()
            await asyncio.to_thread(child.join, 5.0)
