"""The traffic sections of a scenario file: `[arrivals]` and `[lengths]`.

```toml
[arrivals]
process = "poisson"        # poisson | gamma | diurnal | ramp | trace
rate_rps = 40.0            # poisson, gamma, diurnal (the day's mean)
cv = 2.0                   # gamma (required), diurnal (default 1)
profile = [0.3, ...]       # diurnal: 24 hourly weights by local time (default: a weekday)
day_s = 600.0              # diurnal: seconds one 24-hour day lasts (default: duration_s)
start_utc = "2026-06-15T00:00:00"   # diurnal: UTC at t = 0 (sets each city's local hour)
points = [[0, 10], [600, 200]]      # ramp: (t_s, rate_rps) corners
path = "azure_conv.csv"   # trace: Azure 2023 CSV or Mooncake JSONL, relative to this file
format = "azure"           # trace: azure | mooncake (default: detected)
speedup = 2.0              # trace: play faster (gaps / speedup)
start_s = 0.0              # trace: skip the trace's first seconds
loop = false               # trace: repeat until duration_s
spread_s = 3.0             # trace: spread equal timestamps over up to this many seconds

[lengths]                  # omitted: the Azure 2023 conversation fit (or a trace's own)
preset = "azure-conversation"   # or
trace = "path.csv"              # empirical (prompt, output) pairs from a trace file
max_prompt_tokens = 8192        # trace: drop longer rows
max_output_tokens = 4096
[lengths.prompt]                # or per-side distributions:
dist = "lognormal"              # fixed | uniform | lognormal
p50 = 1020                      # lognormal: any of p50/p90/p99 (fitted), or mu + sigma
p90 = 2735
p99 = 4142
min = 1                         # uniform bounds; lognormal clip
max = 8192
tokens = 500                    # fixed
[lengths.output]
dist = "uniform"
min = 2000
max = 8000
```
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from router.scenarios import fields as f
from router.scenarios.model import ScenarioError
from router.traffic import (
    DEFAULT_DIURNAL_PROFILE,
    TRACE_FORMATS,
    Arrivals,
    DiurnalArrivals,
    EmpiricalLengths,
    FixedLength,
    GammaArrivals,
    LengthDist,
    Lengths,
    LognormalLength,
    PairedLengths,
    PoissonArrivals,
    RampArrivals,
    TraceArrivals,
    UniformLength,
    azure_conversation_lengths,
    fit_lognormal,
)
from router.traffic.arrivals import start_utc_datetime

PROCESSES = ("poisson", "gamma", "diurnal", "ramp", "trace")
ARRIVAL_KEYS: dict[str, tuple[str, ...]] = {
    "poisson": ("process", "rate_rps"),
    "gamma": ("process", "rate_rps", "cv"),
    "diurnal": ("process", "rate_rps", "cv", "profile", "day_s", "start_utc"),
    "ramp": ("process", "points"),
    "trace": ("process", "path", "format", "speedup", "start_s", "loop", "spread_s"),
}
LENGTH_KEYS = ("preset", "trace", "max_prompt_tokens", "max_output_tokens", "prompt", "output")
PRESETS = ("azure-conversation",)
DISTS = ("fixed", "uniform", "lognormal")
DIST_KEYS: dict[str, tuple[str, ...]] = {
    "fixed": ("dist", "tokens"),
    "uniform": ("dist", "min", "max"),
    "lognormal": ("dist", "p50", "p90", "p99", "mu", "sigma", "min", "max"),
}


def resolve_path(value: Any, key: str, file: str) -> str:
    """A path from the file, relative to the file's directory; it must exist."""
    text = f.string(value, key, file)
    path = Path(text).expanduser()
    if not path.is_absolute() and not file.startswith("<"):
        path = Path(file).resolve().parent / path
    if not path.is_file():
        raise ScenarioError(file, key, f"no such file: {path}")
    return str(path)


def parse_arrivals(raw: Any, file: str, duration_s: float) -> Arrivals:
    where = "arrivals"
    raw = f.table(raw, where, file)
    process = f.choice(f.required(raw, "process", where, file), PROCESSES, f"{where}.process", file)
    f.keys(raw, ARRIVAL_KEYS[process], where, file)

    def key(k: str) -> str:
        return f"{where}.{k}"

    if process == "poisson":
        return PoissonArrivals(
            rate_rps=f.number(f.required(raw, "rate_rps", where, file), key("rate_rps"), file)
        )
    if process == "gamma":
        return GammaArrivals(
            rate_rps=f.number(f.required(raw, "rate_rps", where, file), key("rate_rps"), file),
            cv=f.number(f.required(raw, "cv", where, file), key("cv"), file),
        )
    if process == "diurnal":
        profile = DEFAULT_DIURNAL_PROFILE
        if "profile" in raw:
            values = raw["profile"]
            if not isinstance(values, list) or len(values) != 24:
                raise ScenarioError(file, key("profile"), "must be a list of 24 hourly weights")
            profile = tuple(
                f.number(v, f"{key('profile')}[{i}]", file, allow_min=True)
                for i, v in enumerate(values)
            )
            if not max(profile) > 0:
                raise ScenarioError(file, key("profile"), "needs at least one positive weight")
        start_utc = "2026-06-15T00:00:00"
        if "start_utc" in raw:
            start_utc = f.string(raw["start_utc"], key("start_utc"), file)
            try:
                start_utc_datetime(start_utc)
            except ValueError:
                raise ScenarioError(
                    file,
                    key("start_utc"),
                    f"must be an ISO date-time like 2026-06-15T06:00:00, got {start_utc!r}",
                ) from None
        return DiurnalArrivals(
            rate_rps=f.number(f.required(raw, "rate_rps", where, file), key("rate_rps"), file),
            cv=f.number(raw.get("cv", 1.0), key("cv"), file),
            profile=profile,
            day_s=f.number(raw["day_s"], key("day_s"), file) if "day_s" in raw else None,
            start_utc=start_utc,
        )
    if process == "ramp":
        pts = f.required(raw, "points", where, file)
        if not isinstance(pts, list) or not pts:
            raise ScenarioError(file, key("points"), "must be a list of [t_s, rate_rps] pairs")
        points = []
        for i, p in enumerate(pts):
            if not isinstance(p, list) or len(p) != 2:
                raise ScenarioError(
                    file, f"{key('points')}[{i}]", f"must be [t_s, rate_rps], got {p!r}"
                )
            points.append(
                (
                    f.number(p[0], f"{key('points')}[{i}][0]", file, allow_min=True),
                    f.number(p[1], f"{key('points')}[{i}][1]", file, allow_min=True),
                )
            )
        if not max(r for _, r in points) > 0:
            raise ScenarioError(file, key("points"), "needs a positive rate somewhere")
        return RampArrivals(points=tuple(sorted(points)))
    return TraceArrivals(
        path=resolve_path(f.required(raw, "path", where, file), key("path"), file),
        format=f.choice(raw["format"], TRACE_FORMATS[:2], key("format"), file)
        if "format" in raw
        else None,  # type: ignore[arg-type]
        speedup=f.number(raw.get("speedup", 1.0), key("speedup"), file),
        start_s=f.number(raw.get("start_s", 0.0), key("start_s"), file, allow_min=True),
        loop=f.boolean(raw.get("loop", False), key("loop"), file),
        spread_s=f.number(raw["spread_s"], key("spread_s"), file, allow_min=True)
        if "spread_s" in raw
        else None,
    )


def parse_lengths(raw: Any, file: str) -> Lengths:
    where = "lengths"
    raw = f.table(raw, where, file)
    f.keys(raw, LENGTH_KEYS, where, file)
    forms = [k for k in ("preset", "trace", "prompt") if k in raw]
    if len(forms) != 1 or (("prompt" in raw) != ("output" in raw)):
        raise ScenarioError(
            file,
            where,
            "give exactly one of: preset, trace, or both [lengths.prompt] and [lengths.output]",
        )
    if "preset" in raw:
        f.choice(raw["preset"], PRESETS, f"{where}.preset", file)
        return azure_conversation_lengths()
    if "trace" in raw:
        return EmpiricalLengths(
            path=resolve_path(raw["trace"], f"{where}.trace", file),
            max_prompt_tokens=(
                f.integer(raw["max_prompt_tokens"], f"{where}.max_prompt_tokens", file)
                if "max_prompt_tokens" in raw
                else None
            ),
            max_output_tokens=(
                f.integer(raw["max_output_tokens"], f"{where}.max_output_tokens", file)
                if "max_output_tokens" in raw
                else None
            ),
        )
    for k in ("max_prompt_tokens", "max_output_tokens"):
        if k in raw:
            raise ScenarioError(file, f"{where}.{k}", "only applies with lengths.trace")
    return PairedLengths(
        prompt=parse_dist(raw["prompt"], f"{where}.prompt", file),
        output=parse_dist(raw["output"], f"{where}.output", file),
    )


def parse_dist(raw: Any, where: str, file: str) -> LengthDist:
    raw = f.table(raw, where, file)
    dist = f.choice(f.required(raw, "dist", where, file), DISTS, f"{where}.dist", file)
    f.keys(raw, DIST_KEYS[dist], where, file)
    if dist == "fixed":
        return FixedLength(
            tokens=f.integer(f.required(raw, "tokens", where, file), f"{where}.tokens", file)
        )
    lo = f.integer(raw.get("min", 1), f"{where}.min", file)
    if dist == "uniform":
        hi = f.integer(f.required(raw, "max", where, file), f"{where}.max", file)
        if hi < lo:
            raise ScenarioError(file, f"{where}.max", f"must be >= min ({lo}), got {hi}")
        return UniformLength(min_tokens=lo, max_tokens=hi)
    hi = f.integer(raw.get("max", 131_072), f"{where}.max", file)
    if hi < lo:
        raise ScenarioError(file, f"{where}.max", f"must be >= min ({lo}), got {hi}")
    return _lognormal(raw, where, file, lo, hi)


def _lognormal(raw: Mapping[str, Any], where: str, file: str, lo: int, hi: int) -> LognormalLength:
    pct = [(q, k) for q, k in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")) if k in raw]
    direct = [k for k in ("mu", "sigma") if k in raw]
    if pct and direct:
        raise ScenarioError(file, where, "give percentiles (p50/p90/p99) or mu and sigma, not both")
    if direct:
        if len(direct) != 2:
            raise ScenarioError(file, where, "mu and sigma go together")
        mu = raw["mu"]
        if isinstance(mu, bool) or not isinstance(mu, int | float):
            raise ScenarioError(file, f"{where}.mu", f"must be a number, got {mu!r}")
        return LognormalLength(
            mu=float(mu),
            sigma=f.number(raw["sigma"], f"{where}.sigma", file, allow_min=True),
            min_tokens=lo,
            max_tokens=hi,
        )
    if not pct:
        raise ScenarioError(file, where, "lognormal needs p50 (and p90/p99) or mu and sigma")
    pairs = [(q, f.number(raw[k], f"{where}.{k}", file)) for q, k in pct]
    try:
        mu, sigma = fit_lognormal(pairs)
    except ValueError as exc:
        raise ScenarioError(file, where, str(exc)) from None
    return LognormalLength(mu=mu, sigma=sigma, min_tokens=lo, max_tokens=hi)
