"""A scenario's whole system on 127.0.0.1: one site server per `[[sites]]` and the
router in front, configured like the simulator runs it (policy, stats interval as the
health-poll interval, attempts, residency, weights).

Live benchmarks use it with `--router local`, and the sim-vs-live agreement test and
benchmark use it to compare the two modes on the same scenario and seed.

Process layouts (`LAYOUTS`), because a live measurement on a small machine includes
whatever else shares the measuring event loop:
- `one`: sites, router and the caller's client in this process and event loop (tests).
- `system`: sites and router together in one child process.
- `split`: the sites in one child process, the router in another, like a deployment
  where the router and the sites are separate servers.
Child processes run on the event loop `georoute up` uses (uvloop when installed,
`GEOROUTE_EVENT_LOOP=asyncio` for the standard loop) and freeze their start-up heap out
of the cyclic GC, as `georoute up` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import queue
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from router.config import RouterConfig, RouterSettings
from router.scenarios import Scenario

LAYOUTS = ("one", "system", "split")

#: Keep-alive of the router's client connections (aiohttp's default is 75 s): a
#: modelled client's kept-alive connection must not be closed under it in a long run.
ROUTER_KEEPALIVE_S = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSystem:
    router_url: str
    site_urls: dict[str, str]
    layout: str = "one"
    event_loop: str = ""  # the loop the sites and router run on


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


async def _serve(
    app: web.Application, stack: contextlib.AsyncExitStack, **runner_kwargs: Any
) -> str:
    runner = web.AppRunner(app, handler_cancellation=True, **runner_kwargs)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, known before the site starts
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    return f"http://127.0.0.1:{port}"


async def _start_sites(
    scenario: Scenario, stack: contextlib.AsyncExitStack, admin_token: str | None
) -> dict[str, str]:
    from sites.server.app import make_app as make_site

    return {
        site.name: await _serve(make_site(site, admin_token=admin_token), stack)
        for site in scenario.sites
    }


async def _start_router(
    scenario: Scenario,
    stack: contextlib.AsyncExitStack,
    *,
    policy: str,
    seed: int,
    site_urls: dict[str, str],
    admin_token: str | None,
) -> str:
    from router.daemon.app import make_app as make_router

    router = make_router(
        router_config(scenario, policy=policy, seed=seed),
        site_urls=site_urls,
        admin_token=admin_token,
        mode="live",
        scenario=scenario.name,
    )
    return await _serve(router, stack, keepalive_timeout=ROUTER_KEEPALIVE_S)


def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


@contextlib.asynccontextmanager
async def local_system(
    scenario: Scenario, *, policy: str, seed: int, admin_token: str | None = None
) -> AsyncIterator[LocalSystem]:
    """Start the sites and the router in this process; stop them (router first) on exit."""
    async with contextlib.AsyncExitStack() as stack:
        site_urls = await _start_sites(scenario, stack, admin_token)
        url = await _start_router(
            scenario,
            stack,
            policy=policy,
            seed=seed,
            site_urls=site_urls,
            admin_token=admin_token,
        )
        yield LocalSystem(
            router_url=url, site_urls=site_urls, layout="one", event_loop=_loop_name()
        )


# --- child processes ---------------------------------------------------------------


def _run_child(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    from sites.server.runner import event_loop_factory

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(body())


async def _hold(out: Any, stop: Any, answer: dict[str, Any]) -> None:
    """Report what was started, freeze the start-up heap, block until `stop` is set."""
    gc.collect()
    gc.freeze()  # like `georoute up`: full collections no longer walk the start-up heap
    out.put({**answer, "event_loop": _loop_name()})
    await asyncio.to_thread(stop.wait)  # a multiprocessing Event: block off the loop


def _system_child(scenario: Scenario, policy: str, seed: int, out: Any, stop: Any) -> None:
    """Child body (layout `system`): sites and router until the parent sets `stop`."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            site_urls = await _start_sites(scenario, stack, None)
            url = await _start_router(
                scenario, stack, policy=policy, seed=seed, site_urls=site_urls, admin_token=None
            )
            await _hold(out, stop, {"router_url": url, "site_urls": site_urls})

    _run_child(main)


def _sites_child(scenario: Scenario, out: Any, stop: Any) -> None:
    """Child body (layout `split`): the sites only."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            site_urls = await _start_sites(scenario, stack, None)
            await _hold(out, stop, {"site_urls": site_urls})

    _run_child(main)


def _router_child(
    scenario: Scenario,
    policy: str,
    seed: int,
    site_urls: dict[str, str],
    out: Any,
    stop: Any,
) -> None:
    """Child body (layout `split`): the router only, in front of the sites' child."""

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            url = await _start_router(
                scenario, stack, policy=policy, seed=seed, site_urls=site_urls, admin_token=None
            )
            await _hold(out, stop, {"router_url": url})

    _run_child(main)


@contextlib.asynccontextmanager
async def local_system_process(
    scenario: Scenario,
    *,
    policy: str,
    seed: int,
    layout: str = "system",
    start_timeout_s: float = 60.0,
) -> AsyncIterator[LocalSystem]:
    """The sites and router in child processes (`layout` "system" or "split"), so they
    do not share an event loop (or, given the cores, a core) with the client that
    measures them. Children inherit this process's niceness and are stopped (router
    first) on exit."""
    if layout not in ("system", "split"):
        raise ValueError(f"layout must be 'system' or 'split' for child processes: {layout!r}")
    ctx = multiprocessing.get_context("spawn")
    children: list[tuple[Any, Any]] = []  # (process, its stop event)

    async def start(target: Callable[..., None], *args: Any) -> dict[str, Any]:
        out, stop = ctx.Queue(), ctx.Event()
        child = ctx.Process(target=target, args=(*args, out, stop), daemon=True)
        child.start()
        children.append((child, stop))
        try:
            answer: dict[str, Any] = await asyncio.to_thread(out.get, True, start_timeout_s)
        except queue.Empty:
            raise RuntimeError(
                f"the local {target.__name__.strip('_').removesuffix('_child')} did not "
                f"start within {start_timeout_s:g} s (child exit code {child.exitcode})"
            ) from None
        return answer

    try:
        if layout == "system":
            answer = await start(_system_child, scenario, policy, seed)
            site_urls = answer["site_urls"]
        else:
            sites = await start(_sites_child, scenario)
            site_urls = sites["site_urls"]
            answer = await start(_router_child, scenario, policy, seed, site_urls)
        yield LocalSystem(
            router_url=answer["router_url"],
            site_urls=dict(site_urls),
            layout=layout,
            event_loop=str(answer["event_loop"]),
        )
    finally:
        for child, stop in reversed(children):  # the router first
            stop.set()
            await asyncio.to_thread(child.join, 30.0)
            if child.is_alive():
                child.terminate()
                await asyncio.to_thread(child.join, 5.0)
