"""Sim vs live agreement at a larger scale (prints its figures; not a pytest test).

Runs a built-in scenario (default eu-asia-baseline, cut to --duration seconds) once in
virtual time and once live through the scenario's sites and router started in this
process on 127.0.0.1, on the same seed and policy, and prints p50/p99 TTFT and E2E per
mode, the relative p50 differences (the acceptance target is within 5%), the median
per-request live/sim E2E ratio, how often both modes chose the same site, and how far
the live client ever fell behind its schedule (if it did, the machine could not carry
the load and the comparison says more about this machine than about the models).

    .venv/bin/python tests/perf/bench_sim_vs_live.py [--scenario NAME] [--duration 60]
        [--policy fastest] [--seed 1] [--rate 20] [--connection-reuse P]
        [--separate-process] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, replace

from router.bench.agreement import compare_modes
from router.bench.facts import with_duration
from router.scenarios import load_scenario
from router.traffic import PoissonArrivals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="eu-asia-baseline")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--policy", default=None, help="default: the scenario's")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="Poisson rate override (rps) so this machine can carry the live "
        "run (default 20; 0 keeps the scenario's)",
    )
    parser.add_argument(
        "--connection-reuse",
        type=float,
        default=None,
        help="override the scenario's connection_reuse (0..1)",
    )
    parser.add_argument(
        "--separate-process",
        action="store_true",
        help="run the live sites and router in a child process",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    scenario = with_duration(load_scenario(args.scenario), args.duration)
    if args.rate > 0:
        if not isinstance(scenario.traffic.arrivals, PoissonArrivals):
            parser.error("--rate applies to Poisson scenarios only; use --rate 0")
        arrivals = PoissonArrivals(rate_rps=args.rate)
        scenario = replace(scenario, traffic=replace(scenario.traffic, arrivals=arrivals))
    if args.connection_reuse is not None:
        network = replace(scenario.network, connection_reuse=args.connection_reuse)
        scenario = replace(scenario, network=network)
    policy = args.policy or scenario.routing.policy
    result = asyncio.run(
        compare_modes(
            scenario, policy=policy, seed=args.seed, separate_process=args.separate_process
        )
    )
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    print(
        f"scenario {result.scenario}  policy {result.policy}  seed {result.seed}  "
        f"duration {scenario.duration_s:g} s"
    )
    print(
        f"{'mode':6} {'req':>6} {'ok':>6} {'TTFT p50':>9} {'TTFT p99':>9} "
        f"{'E2E p50':>9} {'E2E p99':>9} {'wall s':>8}"
    )
    for name, m in (("sim", result.sim), ("live", result.live)):
        print(
            f"{name:6} {m.requests:6d} {m.ok:6d} {m.ttft_p50_ms:9.1f} {m.ttft_p99_ms:9.1f} "
            f"{m.e2e_p50_ms:9.1f} {m.e2e_p99_ms:9.1f} {m.wall_s:8.2f}"
        )
    print(
        f"p50 TTFT live vs sim: {result.ttft_p50_diff * 100:+.2f}%   "
        f"p50 E2E live vs sim: {result.e2e_p50_diff * 100:+.2f}%   (target: within ±5%)"
    )
    print(
        f"median per-request live/sim E2E ratio: {result.paired_e2e_ratio_p50:.4f}   "
        f"same site chosen: {result.same_site_fraction * 100:.1f}%   "
        f"live client max lateness: {result.max_lateness_ms:.1f} ms"
    )
    print(
        "median live - sim per request (ms): "
        + "  ".join(
            f"{k.removesuffix('_ms')} {v:+.1f}" for k, v in result.component_diff_ms.items()
        )
    )
    print(
        f"new connections (handshake paid): sim {result.new_connection_fraction['sim']:.1%}  "
        f"live {result.new_connection_fraction['live']:.1%}"
    )
    ok = abs(result.ttft_p50_diff) <= 0.05 and abs(result.e2e_p50_diff) <= 0.05
    print("AGREE within 5%" if ok else "DISAGREE beyond 5%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
