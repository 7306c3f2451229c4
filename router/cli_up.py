"""`georoute up` (the whole system on this machine) and `georoute router` (the router
alone, against sites given by URL). Imports nothing heavy until a command runs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from georoute.cli import CLIError


def register(sub: Any) -> None:
    up = sub.add_parser(
        "up",
        help="run sites, router and client traffic on this machine (the main job)",
        description="Start the topology's sites on free loopback ports, the router on --port "
        "and a Poisson client traffic generator (European and Asian cities); print a status "
        "line every few seconds; Ctrl-C or SIGTERM drains, flushes the database and exits 0.",
    )
    _common(up)
    up.add_argument(
        "--rate",
        type=float,
        metavar="RPS",
        help="client requests per second (default: the config's traffic.rate_rps, 2)",
    )
    up.add_argument(
        "--new-connections",
        type=float,
        default=0.1,
        metavar="SHARE",
        help="share of generated requests from new users on a new connection, paying the "
        "simulated TCP+TLS handshakes (default 0.1); the others reuse their city's "
        "kept-alive connections",
    )
    up.add_argument(
        "--no-traffic",
        action="store_true",
        help="start sites and router only (send your own requests)",
    )
    up.add_argument(
        "--dash",
        action="store_true",
        help="show the terminal dashboard (georoute dash) in front instead of status lines; "
        "quitting it (q) stops everything",
    )
    up.set_defaults(func=_up)

    router = sub.add_parser(
        "router",
        help="run the router alone against sites given by url in the topology",
        description="Run the router against sites that run elsewhere: every [[sites]] entry "
        "needs `url`. Ctrl-C or SIGTERM stops it and flushes the database.",
    )
    _common(router)
    router.set_defaults(func=_router)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="topology TOML ([[sites]], [router], [[clients]], [traffic]); "
        "default: the packaged topology",
    )
    p.add_argument("--port", type=int, default=8080, help="router port (default 8080; 0 = free)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--policy", metavar="NAME", help="routing policy (overrides the config)")
    p.add_argument(
        "--db",
        type=Path,
        default=Path("georoute.db"),
        help="results database (default georoute.db)",
    )
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")


def _options(args: argparse.Namespace) -> Any:
    from router.config import load_config
    from router.policies import policy_names
    from router.up import GC_GEN0_ENV, SWITCH_INTERVAL_ENV, UpOptions
    from sites.topology import ConfigError

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be 0..65535, got {args.port}")
    if args.duration is not None and not args.duration > 0:
        raise CLIError(f"--duration must be positive, got {args.duration}")
    rate = getattr(args, "rate", None)
    if rate is not None and not 0 < rate < float("inf"):
        raise CLIError(f"--rate must be a positive number of requests per second, got {rate}")
    share = getattr(args, "new_connections", 0.1)
    if not 0.0 <= share <= 1.0:
        raise CLIError(f"--new-connections must be a share in 0..1, got {share}")
    switch_ms = os.environ.get(SWITCH_INTERVAL_ENV, "").strip() or "0.5"
    try:
        switch_s = float(switch_ms) / 1000.0
    except ValueError:
        switch_s = -1.0
    if not 0.0 < switch_s < 1.0:  # see router.up._tune_runtime
        raise CLIError(
            f"${SWITCH_INTERVAL_ENV} must be a number of ms in (0, 1000), got {switch_ms!r}"
        )
    gen0 = os.environ.get(GC_GEN0_ENV, "").strip() or "5000"
    if not gen0.isdigit() or not 100 <= int(gen0) <= 1_000_000:  # see router.up._tune_runtime
        raise CLIError(f"${GC_GEN0_ENV} must be an integer in 100..1000000, got {gen0!r}")
    if args.policy is not None and args.policy not in policy_names():
        raise CLIError(
            f"--policy: unknown policy {args.policy!r}; valid: {', '.join(policy_names())}"
        )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise CLIError(str(exc)) from None
    if args.policy is not None:
        from dataclasses import replace

        config = replace(config, router=replace(config.router, policy=args.policy))
    opts = UpOptions(
        port=args.port,
        host=args.host,
        db_path=args.db,
        traffic=not getattr(args, "no_traffic", True),
        rate_rps=rate,
        new_connection_share=share,
        duration_s=args.duration,
        dash=bool(getattr(args, "dash", False)),
        freeze_heap=True,
        switch_interval_s=switch_s,
        gc_gen0_threshold=int(gen0),
    )
    return config, opts


def _loop_factory() -> Any:
    """uvloop for the long-running commands when it is installed: ~19% more router
    requests per CPU-second and 5-13% less CPU per streamed chunk than asyncio's loop
    (tests/perf/bench_router_overhead.py --router-loop). `GEOROUTE_EVENT_LOOP=asyncio`
    picks the standard loop (to compare, or to debug); tests use the standard one.
    The choice is the sites' (imported here, not at start-up: it loads aiohttp)."""
    from sites.server.runner import event_loop_factory

    return event_loop_factory()


def _run(coro: Any, port: int) -> int:
    import asyncio

    from router.up import ListenError

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return int(runner.run(coro))
    except ListenError as exc:  # names the port and why (bound before anything starts)
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot run (port {port}): {exc.strerror or exc}") from None


def _up(args: argparse.Namespace) -> int:
    from router.up import run_up

    config, opts = _options(args)
    return _run(_checked(run_up(config, opts)), args.port)


def _router(args: argparse.Namespace) -> int:
    from router.up import run_router

    config, opts = _options(args)
    return _run(_checked(run_router(config, opts)), args.port)


async def _checked(coro: Any) -> int:
    from router.daemon.app import SetupError
    from sites.engine_api import CatalogError, DeploymentError

    try:
        return int(await coro)
    except (SetupError, CatalogError, DeploymentError) as exc:
        raise CLIError(str(exc)) from None
