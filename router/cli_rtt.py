"""`georoute rtt`: the network model from the command line.

    georoute rtt --from Paris --to Riyadh [--p95] [--access fixed|mobile|cloud] [--json]
    georoute rtt --matrix Paris Singapore --to Riyadh Dublin Ashburn [--p95] [--json]
    georoute rtt --validate [--pairs PATH] [--p50 PATH] [--p95-matrix PATH]

Coordinates are `lat,lon`; a negative latitude needs `--from=-33.9,18.4` (argparse
reads a leading '-' as a flag). Nothing heavy is imported until a handler runs.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from router.geo import Place

ACCESS_KINDS = ("fixed", "mobile", "cloud")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "rtt",
        help="modelled round-trip time between places (network model)",
        description="Median backbone round-trip time between two places (gazetteer names or "
        "lat,lon), from fiber physics and corridor routes fitted on Azure's published RTTs. "
        "A negative latitude needs '=': --from=-33.9,18.4.",
    )
    p.add_argument("--from", dest="from_", metavar="PLACE", help="client place: name or lat,lon")
    p.add_argument(
        "--to", nargs="+", metavar="PLACE", help="destination place (several with --matrix)"
    )
    p.add_argument(
        "--matrix", nargs="+", metavar="PLACE", help="table of these places × --to sites"
    )
    p.add_argument("--p95", action="store_true", help="also report the 95th-percentile RTT")
    p.add_argument("--access", choices=ACCESS_KINDS, help="add the client's access leg")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    v = p.add_argument_group("calibration table (--validate)")
    v.add_argument("--validate", action="store_true", help="print MAPE vs the Azure RTT tables")
    v.add_argument("--pairs", metavar="PATH", help="rtt_pairs_azure.csv")
    v.add_argument("--p50", metavar="PATH", help="Azure P50 matrix CSV")
    v.add_argument("--p95-matrix", metavar="PATH", help="Azure P95 matrix CSV")
    p.set_defaults(func=run)


def _resolve(flag: str, text: str) -> Place:
    from georoute.cli import CLIError
    from router.geo import resolve_place

    try:
        return resolve_place(text)
    except ValueError as exc:
        raise CLIError(f"{flag}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from georoute.cli import CLIError

    if args.validate:
        from router.network.validate import main_from_args

        return main_from_args(args)
    if not args.to:
        raise CLIError("--to is required (a place name or lat,lon)")
    if args.matrix:
        if args.from_:
            raise CLIError("--from and --matrix are exclusive: list the places after --matrix")
        return _matrix(args)
    if not args.from_:
        raise CLIError("--from is required (a place name or lat,lon), or use --matrix")
    if len(args.to) != 1:
        raise CLIError(f"--to takes one place without --matrix, got {len(args.to)}")
    return _pair(args)


def _pair(args: argparse.Namespace) -> int:
    from router.geo import distance_km
    from router.network import NetworkModel

    a, b = _resolve("--from", args.from_), _resolve("--to", args.to[0])
    model = NetworkModel()
    backbone_ms = model.rtt_ms(a, b)
    access_ms = model.access_rtt_ms(args.access) if args.access else 0.0
    out: dict[str, Any] = {
        "rtt_ms": round(backbone_ms + access_ms, 2),
        "distance_km": round(distance_km(a, b), 1),
    }
    if args.p95:
        out["rtt_p95_ms"] = round(model.rtt_p95_ms(a, b) + access_ms, 2)
    if args.access:
        out |= {
            "backbone_rtt_ms": round(backbone_ms, 2),
            "access": args.access,
            "access_rtt_ms": access_ms,
        }
    if args.json:
        print(json.dumps(out))
        return 0
    line = f"{a.name} -> {b.name}: {backbone_ms + access_ms:.1f} ms RTT (median"
    line += f", p95 {model.rtt_p95_ms(a, b) + access_ms:.1f} ms" if args.p95 else ""
    line += (
        f"; backbone {backbone_ms:.1f} + {args.access} access {access_ms:.1f})"
        if args.access
        else ", backbone)"
    )
    print(line)
    print(
        f"great-circle distance {out['distance_km']:.0f} km "
        f"({a.region}, {a.country} -> {b.region}, {b.country})"
    )
    hubs = model.route(a, b)
    print("route: " + (" -> ".join([a.name, *hubs, b.name]) if hubs else "direct"))
    return 0


def _matrix(args: argparse.Namespace) -> int:
    import numpy as np

    from router.network import NetworkModel

    places = [_resolve("--matrix", t) for t in args.matrix]
    sites = [_resolve("--to", t) for t in args.to]
    model = NetworkModel()
    access_ms = model.access_rtt_ms(args.access) if args.access else 0.0
    med = (
        model.rtt_matrix_ms(
            [p.lat for p in places],
            [p.lon for p in places],
            [s.lat for s in sites],
            [s.lon for s in sites],
        )
        + access_ms
    )
    p95 = model.p95_from_median_ms(med - access_ms) + access_ms
    if args.json:
        out: dict[str, Any] = {
            "places": [p.name for p in places],
            "sites": [s.name for s in sites],
            "rtt_ms": np.round(med, 2).tolist(),
        }
        if args.p95:
            out["rtt_p95_ms"] = np.round(p95, 2).tolist()
        if args.access:
            out |= {"access": args.access, "access_rtt_ms": access_ms}
        print(json.dumps(out))
        return 0
    width = 13 if args.p95 else 8
    name_w = max(len(p.name) for p in places) + 2
    what = "median/p95 RTT ms" if args.p95 else "median RTT ms"
    what += f", incl. {args.access} access {access_ms:g} ms" if args.access else ", backbone"
    print(f"{what}")
    print(" " * name_w + "".join(s.name[: width - 1].rjust(width) for s in sites))
    for i, p in enumerate(places):
        cells = [
            f"{med[i, j]:.0f}/{p95[i, j]:.0f}" if args.p95 else f"{med[i, j]:.1f}"
            for j in range(len(sites))
        ]
        print(p.name.ljust(name_w) + "".join(c.rjust(width) for c in cells))
    return 0
