"""`georoute predict` and `georoute calibrate` (thin shells over sites.predict and
sites.calibrate; nothing heavy is imported until a handler runs)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from georoute.cli import CLIError

FRAMEWORKS = ("vllm", "trtllm")


def register(sub: Any) -> None:
    """Add the `predict` and `calibrate` subcommands."""
    p = sub.add_parser(
        "predict",
        help="predict latency and throughput of one deployment under closed-loop load",
        description="Simulate one deployment (virtual time) with CONCURRENCY clients that "
        "each send a request of exactly the given lengths and send the next when it "
        "finishes; print steady-state means.",
    )
    p.add_argument("--hardware", required=True, help="hardware id (e.g. h100-sxm, groq-lpu)")
    p.add_argument("--devices", type=int, default=None,
                   help="devices (GPUs or LPU chips) per replica; default: smallest that "
                   "holds the model")
    p.add_argument("--tp", type=int, default=None, help="tensor-parallel size (GPU)")
    p.add_argument("--model", required=True, help="model id (e.g. llama-3.3-70b)")
    p.add_argument("--precision", default="fp8", help="fp16, bf16, fp8, int8 or fp4")
    p.add_argument("--framework", default="vllm", help="vllm or trtllm (GPU overheads)")
    p.add_argument("--input-tokens", type=int, required=True, help="prompt tokens per request")
    p.add_argument("--output-tokens", type=int, required=True, help="output tokens per request")
    p.add_argument("--concurrency", type=int, required=True, help="closed-loop clients")
    p.add_argument("--requests", type=int, default=None,
                   help="requests to simulate (default max(4 x concurrency, 200))")
    p.add_argument("--max-num-seqs", type=int, default=None, help="scheduler batch limit")
    p.add_argument("--client-turnaround-ms", type=float, default=None,
                   help="mean time from a request's last token to the client's next request "
                   "reaching the engine (default 1 ms, a client next to the site; each "
                   "turnaround is drawn from U[0.5, 1.5] x this; 0: lock-step clients)")
    p.add_argument("--seed", type=int, default=0, help="seed of the turnaround draws")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_predict)

    c = sub.add_parser(
        "calibrate",
        help="compare the simulators with published measurements",
        description="For every row of the published-measurements CSV the simulators can "
        "model: predicted vs published and the error; then MAPE per metric and hardware "
        "family, and the rows not modelled with the reason.",
    )
    c.add_argument("--points", default=None,
                   help="CSV of published points (default ../shared/calibration/hw_points.csv "
                   "relative to the repository or the current directory)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=_calibrate)


def _check_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value <= 0:
            flag = "--" + name.replace("_", "-")
            raise CLIError(f"{flag} must be a positive integer, got {value}")


def _predict(args: argparse.Namespace) -> int:
    from sites.engine_api import (
        CatalogError,
        DeploymentError,
        DeploymentSpec,
        EngineCapacityError,
    )
    from sites.predict import DEFAULT_CLIENT_TURNAROUND_MS, run_closed_loop

    _check_positive(args, "input_tokens", "output_tokens", "concurrency", "requests",
                    "devices", "tp", "max_num_seqs")
    turnaround_ms = args.client_turnaround_ms
    if turnaround_ms is None:
        turnaround_ms = DEFAULT_CLIENT_TURNAROUND_MS
    elif not 0 <= turnaround_ms <= 60_000:  # also refuses nan and inf
        raise CLIError(
            f"--client-turnaround-ms must be between 0 and 60000, got {turnaround_ms}")
    if args.framework not in FRAMEWORKS:
        raise CLIError(f"--framework: unknown {args.framework!r}; valid: {', '.join(FRAMEWORKS)}")
    spec = DeploymentSpec(
        hardware=args.hardware, model=args.model, precision=args.precision,
        devices=args.devices, tp=args.tp, framework=args.framework,
        max_num_seqs=args.max_num_seqs,
    )
    try:
        run = run_closed_loop(
            spec, input_tokens=args.input_tokens, output_tokens=args.output_tokens,
            concurrency=args.concurrency, requests=args.requests,
            client_turnaround_ms=turnaround_ms, seed=args.seed,
        )
    except CatalogError as exc:
        flag = _flag_for(str(exc))
        raise CLIError(f"{flag}{exc}") from None
    except EngineCapacityError as exc:
        raise CLIError(f"--input-tokens/--output-tokens: {exc}") from None
    except (DeploymentError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    result = run.prediction
    if args.json:
        print(json.dumps(result.as_dict()))
        return 0
    from sites.engines import resolve_deployment

    r = resolve_deployment(spec)
    if r.hardware.startswith("groq"):
        where = f"{r.devices}x {r.hardware} chips (one pipeline, {r.max_num_seqs} sequences)"
    else:
        where = f"{r.devices}x {r.hardware} (tp {r.tp}, {r.framework}, max {r.max_num_seqs} seqs)"
    print(
        f"{where} {r.model} {r.precision}: {args.input_tokens} in / {args.output_tokens} out, "
        f"concurrency {args.concurrency}, client turnaround {turnaround_ms:g} ms"
    )
    print(f"  TTFT            {result.ttft_ms:10.1f} ms")
    print(f"  TPOT            {result.tpot_ms:10.2f} ms")
    print(f"  per-user speed  {result.per_user_tok_s:10.1f} tok/s")
    print(f"  total output    {result.total_tok_s:10.1f} tok/s")
    print(f"  end-to-end      {result.e2e_ms:10.1f} ms")
    print(f"  energy          {run.energy_j_per_token:10.3f} J/output token")
    print(f"  cost            {run.cost_usd_per_mtok:10.2f} $/M output tokens (assumed prices)")
    return 0


def _flag_for(message: str) -> str:
    for word, flag in (("hardware", "--hardware"), ("model", "--model"),
                       ("precision", "--precision")):
        if message.startswith(f"unknown {word}"):
            return f"{flag}: "
    return ""


def _calibrate(args: argparse.Namespace) -> int:
    from sites.calibrate import default_points_path, format_report, run_calibration

    path = args.points or default_points_path()
    if path is None:
        raise CLIError(
            "--points: no default calibration file found "
            "(looked for ../shared/calibration/hw_points.csv); pass --points PATH"
        )
    try:
        report = run_calibration(path)
    except FileNotFoundError:
        raise CLIError(f"--points: no such file {path}") from None
    except ValueError as exc:
        raise CLIError(f"--points: {exc}") from None
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(format_report(report))
    return 0
