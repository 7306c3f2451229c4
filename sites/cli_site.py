"""`georoute site`: run one live site (an OpenAI-compatible server paced by its engine).

    georoute site --name riyadh-1 --place Riyadh --hardware groq-lpu --model llama-3.3-70b
    georoute site --config topology.toml --site ireland [--host 0.0.0.0] [--port 8002]

Imports nothing heavy at import time (aiohttp and the engines load in the handler).
"""

from __future__ import annotations

import argparse
from typing import Any

from sites.engine_api import PRECISIONS

_SITE_FLAGS = ("name", "place", "hardware", "model", "devices", "precision", "tp", "framework")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "site",
        help="run one live site: an OpenAI-compatible server paced by its engine simulator",
        description="Run one site: POST /v1/chat/completions and /v1/completions (streaming "
        "and not), GET /v1/models, /health, /metrics; admin faults and drain behind "
        "Authorization: Bearer $GEOROUTE_ADMIN_TOKEN. Either describe the site with flags "
        "or pick it from a topology file.",
    )
    p.add_argument("--name", help="site name (letters, digits, '-', '_', '.')")
    p.add_argument("--place", help="where the site is: gazetteer name or 'lat,lon'")
    p.add_argument("--hardware", help="hardware id, e.g. groq-lpu, h100-sxm, h200")
    p.add_argument("--model", help="model id, e.g. llama-3.3-70b")
    p.add_argument("--devices", type=int, help="device count (default: smallest that fits)")
    p.add_argument("--tp", type=int, help="tensor parallelism (GPUs)")
    p.add_argument("--precision", choices=PRECISIONS, help="numeric precision (default fp8)")
    p.add_argument("--framework", choices=("vllm", "trtllm"), help="GPU serving framework")
    p.add_argument("--config", help="topology TOML file with [[sites]] tables")
    p.add_argument("--site", dest="site_name", help="with --config: the site to run")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: the site's url port, else free)")
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        help="seconds in-flight streams get to finish on SIGTERM (default 30)",
    )
    p.set_defaults(func=run)


def site_from_args(args: argparse.Namespace) -> Any:
    """The SiteConfig the flags describe; CLIError naming the bad flag otherwise."""
    from georoute.cli import CLIError
    from sites.topology import ConfigError, find_site, load_topology, parse_site

    if args.config:
        extra = [f"--{k}" for k in _SITE_FLAGS if getattr(args, k, None) is not None]
        if extra:
            raise CLIError(f"{', '.join(extra)}: not allowed with --config (edit the file)")
        if not args.site_name:
            raise CLIError("--site: required with --config (the name of the site to run)")
        try:
            return find_site(load_topology(args.config), args.site_name, file=args.config)
        except ConfigError as exc:
            raise CLIError(str(exc)) from exc
    if args.site_name:
        raise CLIError("--site: only with --config")
    missing = [f"--{k}" for k in ("name", "place", "hardware", "model") if not getattr(args, k)]
    if missing:
        raise CLIError(f"{', '.join(missing)}: required (or use --config FILE --site NAME)")
    raw = {k: getattr(args, k) for k in _SITE_FLAGS if getattr(args, k, None) is not None}
    try:
        return parse_site(raw, where="", file="georoute site")
    except ConfigError as exc:
        raise CLIError(f"--{exc.key.replace('_', '-')}: {exc.reason}") from exc


def run(args: argparse.Namespace) -> int:
    from georoute.cli import CLIError
    from sites.engine_api import CatalogError, DeploymentError
    from sites.server.runner import run_event_loop, serve_sites

    site = site_from_args(args)
    if args.port is not None and not 0 <= args.port <= 65535:
        raise CLIError(f"--port: must be 0-65535, got {args.port}")
    if args.shutdown_timeout < 0:
        raise CLIError("--shutdown-timeout: must not be negative")
    ports = {site.name: args.port} if args.port is not None else None

    def announce(name: str, url: str) -> None:
        print(
            f"site {name} ({site.hardware} x {site.model} @ {site.place}) listening on {url}",
            flush=True,
        )

    try:
        return run_event_loop(  # uvloop unless GEOROUTE_EVENT_LOOP=asyncio
            serve_sites(
                [site],
                args.host,
                ports=ports,
                shutdown_timeout=args.shutdown_timeout,
                announce=announce,
            )
        )
    except (CatalogError, DeploymentError) as exc:
        raise CLIError(f"cannot build site {site.name}: {exc}") from exc
    except OSError as exc:
        raise CLIError(
            f"--host/--port: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from exc
