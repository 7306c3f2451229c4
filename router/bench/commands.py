"""The bench and crossover command handlers: flags in, reports out (rich or JSON).

User errors become `georoute.cli.CLIError` naming the bad value (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from georoute.cli import CLIError
from router.bench.columns import ColumnBuilder, Columns
from router.bench.report import DEFAULT_WINDOWS, Phase, Report, Slo, build_report


def _stdout() -> Console:
    return Console(width=200, soft_wrap=False)


def load_run(db: Any, run_id: str, *, windows: int = DEFAULT_WINDOWS) -> tuple[Report, Columns]:
    """The report and columns of one stored run; CLIError when the run is not there.
    Rows are read in chunks straight into numpy columns (bounded memory per row)."""
    try:
        run = db.run(run_id)
    except Exception:  # sqlite_utils NotFoundError, or a database without the table
        recent = [
            r["id"] for r in db.db.query("select id from runs order by started_at desc limit 5")
        ]
        hint = f"; recent runs: {', '.join(recent)}" if recent else "; the database has no runs"
        raise CLIError(f"no run {run_id!r} in {db.path}{hint}") from None
    builder = ColumnBuilder()
    cursor = db.db.execute(
        f"select {', '.join(Columns.ORDER)} from requests where run_id = ? order by id", [run_id]
    )
    while chunk := cursor.fetchmany(100_000):
        builder.add_tuples(chunk)
    cols = builder.build()
    return report_from(run, cols, windows=windows), cols


def report_from(
    run: dict[str, Any],
    rows: Sequence[dict[str, Any]] | Columns,
    *,
    windows: int = DEFAULT_WINDOWS,
) -> Report:
    """Rebuild a run's report from its stored rows and config (SLOs, phases, regret)."""
    config = json.loads(run.get("config") or "{}")
    slo = Slo(**{k: v for k, v in (config.get("slo") or {}).items() if k in Slo.__slots__})
    phases = [
        Phase(name=p["name"], start_s=p["start_s"], end_s=p["end_s"])
        for p in config.get("phases") or ()
    ]
    result = config.get("result") or {}
    duration = config.get("duration_s")
    t0 = config.get("t0")
    info = {k: run.get(k) for k in ("id", "scenario", "policy", "mode", "seed")}
    return build_report(
        rows,
        windows=windows,
        run=info,
        slo=slo,
        phases=phases,
        regret=result.get("regret"),
        start_s=t0,
        span_s=float(duration) if duration and t0 is not None else None,
    )


def _open_store(path: str, *, must_exist: bool = True) -> Any:
    if must_exist and not Path(path).exists():
        raise CLIError(f"--db {path}: no such database")
    from router.store import ResultsStore

    return ResultsStore(path)


def _load_runs(
    path: str, run_ids: Sequence[str], windows: int = DEFAULT_WINDOWS
) -> list[tuple[Report, Columns]]:
    store = _open_store(path)
    try:
        return [load_run(store, rid, windows=windows) for rid in run_ids]
    finally:
        store.close()


def _plot(path: str | None, runs: Sequence[tuple[Report, Columns]]) -> None:
    if not path:
        return
    from router.bench.plot import PlotUnavailableError, plot_runs

    try:
        out = plot_runs(runs, path)
    except PlotUnavailableError as exc:
        raise CLIError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise CLIError(f"--plot {path}: {exc}") from None
    print(f"plot written to {out}", file=sys.stderr)


def _print_reports(reports: Sequence[Report], as_json: bool) -> None:
    from router.bench.render import report_renderable, side_by_side

    if as_json:
        print(json.dumps({"runs": [r.to_dict() for r in reports]}, indent=2, sort_keys=True))
        return
    console = _stdout()
    for r in reports:
        console.print(report_renderable(r))
        console.print()
    if len(reports) > 1:
        console.print(side_by_side(reports))


def run_command(args: argparse.Namespace) -> int:
    from router.bench.facts import BenchError
    from router.bench.runner import BenchOptions, run_bench

    opts = BenchOptions(
        scenario=args.scenario,
        mode=args.mode,
        policies=tuple(dict.fromkeys(args.policy)),
        seed=args.seed,
        db=Path(args.db),
        router_url=args.router,
        max_requests=args.requests,
        duration_s=args.duration,
        no_residency=args.no_residency,
        no_events=args.no_events,
        progress=not args.quiet and not args.json,
    )
    try:
        outcomes = run_bench(opts)
    except BenchError as exc:
        raise CLIError(str(exc)) from None
    loaded = _load_runs(args.db, [o.run_id for o in outcomes], args.windows)
    _print_reports([rep for rep, _ in loaded], args.json)
    _plot(args.plot, loaded)
    return 0


def report_command(args: argparse.Namespace) -> int:
    loaded = _load_runs(args.db, list(dict.fromkeys(args.run_ids)), args.windows)
    _print_reports([rep for rep, _ in loaded], args.json)
    _plot(args.plot, loaded)
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from router.bench.compare import compare_reports
    from router.bench.render import compare_renderable

    (a, rows_a), (b, rows_b) = _load_runs(args.db, [args.run_a, args.run_b])
    deltas = compare_reports(a, b)
    if args.json:
        from dataclasses import asdict

        print(
            json.dumps(
                {"a": a.run, "b": b.run, "deltas": [asdict(d) for d in deltas]},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        _stdout().print(compare_renderable(a, b, deltas))
    _plot(args.plot, [(a, rows_a), (b, rows_b)])
    return 0


def _loads(text: str | None) -> list[float]:
    from router.bench.crossover import DEFAULT_LOADS

    if text is None:
        return list(DEFAULT_LOADS)
    try:
        loads = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CLIError(f"--load: expected comma-separated numbers, got {text!r}") from None
    if not loads or any(not 0 <= x < float("inf") for x in loads):
        raise CLIError(f"--load: load levels must be numbers >= 0, got {text!r}")
    return loads


def crossover_command(args: argparse.Namespace) -> int:
    from router.bench.crossover_setup import CrossoverSetupError, run_crossover

    names = [n.strip() for n in args.sites.split(",") if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise CLIError(
            f"--sites: give two different site names, e.g. riyadh-1,ireland; got {args.sites!r}"
        )
    try:
        result = run_crossover(
            origin=args.origin,
            sites=(names[0], names[1]),
            input_tokens=args.input_tokens,
            loads=_loads(args.load),
            config=args.config,
        )
    except CrossoverSetupError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        from dataclasses import asdict

        print(json.dumps(asdict(result), indent=2, sort_keys=True))
        return 0
    from router.bench.render_crossover import crossover_renderable

    _stdout().print(crossover_renderable(result))
    return 0
