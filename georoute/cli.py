"""The `georoute` entry point: one command, subcommands registered by each part.

Each part owns a module with `register(subparsers)` that adds its subcommands and
sets `func` on them; those modules import nothing heavy at import time, so
`georoute --help` stays fast. A handler returns an exit code or raises `CLIError`,
which is printed as `georoute: error: ...` with exit status 2 (argparse's
convention for bad usage) instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that register subcommands, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "router.cli_up",  # up, router
    "sites.cli",  # predict, calibrate
    "sites.cli_site",  # site
    "router.cli_rtt",  # rtt
    "router.bench.cli",  # bench, crossover
    "dashboards.cli",  # dash
)


class CLIError(Exception):
    """A user error: the message names the bad flag, field or value."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="georoute",
        description="Geographic inference routing and latency benchmarks: "
        "Groq LPU hubs in Riyadh vs GPU sites in Virginia and Ireland.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        result = func(args)
    except CLIError as exc:
        print(f"georoute {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
