"""`georoute bench run|report|compare` and `georoute crossover` (argument parsing only;
the work happens in modules imported by the handlers, so `--help` stays fast)."""

from __future__ import annotations

import argparse
from typing import Any


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def register(sub: Any) -> None:
    bench = sub.add_parser(
        "bench",
        help="scripted latency benchmarks (virtual-time simulation or live)",
        description="Run a scenario (built-in name or TOML file) in virtual time or against "
        "a running router, and report per-region and per-site latency, goodput, cost.",
    )
    bsub = bench.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    bench.set_defaults(func=_no_subcommand(bench))

    run = bsub.add_parser(
        "run",
        help="run a scenario once per --policy on the same seeded traffic",
        description="Run SCENARIO (a built-in name or a TOML file) once per --policy, on the "
        "same seeded traffic, store every request in --db and print the report.",
    )
    run.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="built-in (eu-asia-baseline, peak-hours, riyadh-outage, sovereign-eu, "
        "long-outputs, million-lpu) or a scenario TOML file",
    )
    run.add_argument(
        "--mode",
        choices=("sim", "live"),
        default="sim",
        help="sim: discrete-event simulation (default); live: drive --router",
    )
    run.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="P",
        help="routing policy (repeat to compare several; default: the scenario's)",
    )
    run.add_argument("--seed", type=int, help="traffic seed (default: the scenario's)")
    run.add_argument("--db", default="georoute.db", help="results database (default georoute.db)")
    run.add_argument(
        "--router",
        metavar="URL",
        help="live mode: the router's base URL, or `local` to start the "
        "scenario's sites and router in this process",
    )
    limit = run.add_mutually_exclusive_group()
    limit.add_argument("--requests", type=_positive_int, metavar="N", help="stop after N requests")
    limit.add_argument(
        "--duration", type=_positive_float, metavar="S", help="shorten the scenario to S seconds"
    )
    run.add_argument(
        "--no-residency",
        action="store_true",
        help="counterfactual: drop the scenario's data-residency rules (same traffic)",
    )
    run.add_argument(
        "--no-events",
        action="store_true",
        help="counterfactual: drop the scenario's scripted failures (same traffic)",
    )
    run.add_argument("--json", action="store_true", help="print the reports as one JSON object")
    run.add_argument("--plot", metavar="FILE.png", help="also write E2E CDFs and breakdown bars")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--windows",
        type=_positive_int,
        default=12,
        metavar="N",
        help="timeline windows in the report (default 12)",
    )
    run.set_defaults(func=_run)

    rep = bsub.add_parser(
        "report",
        help="the report of stored runs",
        description="Print the report of one or more stored runs (several: side by side).",
    )
    rep.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    rep.add_argument("--db", default="georoute.db")
    rep.add_argument("--json", action="store_true")
    rep.add_argument("--plot", metavar="FILE.png")
    rep.add_argument(
        "--windows",
        type=_positive_int,
        default=12,
        metavar="N",
        help="timeline windows (default 12)",
    )
    rep.set_defaults(func=_report)

    cmp = bsub.add_parser(
        "compare",
        help="two stored runs side by side (B - A)",
        description="Compare run B against run A: every metric per region and site, B - A.",
    )
    cmp.add_argument("run_a", metavar="RUN_ID")
    cmp.add_argument("run_b", metavar="RUN_ID")
    cmp.add_argument("--db", default="georoute.db")
    cmp.add_argument("--json", action="store_true")
    cmp.add_argument("--plot", metavar="FILE.png")
    cmp.set_defaults(func=_compare)

    cross = sub.add_parser(
        "crossover",
        help="output length above which the far fast site beats the near one",
        description="For each load level, the output length above which the far site beats "
        "the near one on client-side E2E (same forecast as the `fastest` policy), and the "
        "table behind it.",
    )
    cross.add_argument(
        "--from",
        dest="origin",
        required=True,
        metavar="PLACE",
        help="client place: gazetteer name or lat,lon",
    )
    cross.add_argument(
        "--sites",
        required=True,
        metavar="A,B",
        help="two site names from the topology, e.g. riyadh-1,ireland",
    )
    cross.add_argument(
        "--input-tokens",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="prompt length (default 1000)",
    )
    cross.add_argument(
        "--load",
        default=None,
        metavar="L,L,...",
        help="load levels as fractions of each site's batch capacity "
        "(default 0,0.5,0.9,1.5; above 1 queues)",
    )
    cross.add_argument("--config", metavar="FILE", help="topology TOML (default: the built-in)")
    cross.add_argument("--json", action="store_true", help="print one JSON object")
    cross.set_defaults(func=_crossover)


def _no_subcommand(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


def _run(args: argparse.Namespace) -> int:
    from router.bench.commands import run_command

    return run_command(args)


def _report(args: argparse.Namespace) -> int:
    from router.bench.commands import report_command

    return report_command(args)


def _compare(args: argparse.Namespace) -> int:
    from router.bench.commands import compare_command

    return compare_command(args)


def _crossover(args: argparse.Namespace) -> int:
    from router.bench.commands import crossover_command

    return crossover_command(args)
