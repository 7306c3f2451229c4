"""Calibration table: model vs the Azure RTT tables, MAPE per corridor and overall.

    python -m router.network.validate [--pairs PATH] [--p50 PATH] [--p95-matrix PATH]
    georoute rtt --validate [...]

Scope (issue 3): directional pairs over 500 km whose both ends are in the regions of
interest (Europe, Ireland, Israel, the Gulf, South Asia, East/South-East Asia, US East).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router.geo.distance import haversine_km
from router.network.azure import (
    DEFAULT_P50,
    DEFAULT_P95,
    DEFAULT_PAIRS,
    Observation,
    matrix_observations,
    pair_observations,
)
from router.network.model import NetworkModel

MIN_DISTANCE_KM = 500.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scored:
    obs: Observation
    distance_km: float
    model_p50_ms: float
    model_p95_ms: float

    @property
    def p50_ape(self) -> float:
        return abs(self.model_p50_ms - self.obs.p50_ms) / self.obs.p50_ms

    @property
    def p95_ape(self) -> float | None:
        if self.obs.p95_ms is None:
            return None
        return abs(self.model_p95_ms - self.obs.p95_ms) / self.obs.p95_ms


@dataclass(frozen=True, slots=True, kw_only=True)
class CorridorStat:
    corridor: str
    n: int
    p50_mape: float
    p95_mape: float
    p50_bias: float  # mean signed error, model - measured, as a fraction


def in_scope(obs: Sequence[Observation], *, inside: bool = True) -> list[Observation]:
    """Pairs over 500 km with both ends in the regions of interest (or, with
    `inside=False`, with at least one end outside them: never used in the fit)."""
    keep = []
    for o in obs:
        if (o.group_a is not None and o.group_b is not None) != inside:
            continue
        if float(haversine_km(o.lat_a, o.lon_a, o.lat_b, o.lon_b)) > MIN_DISTANCE_KM:
            keep.append(o)
    return keep


def score(model: NetworkModel, obs: Sequence[Observation]) -> list[Scored]:
    if not obs:
        return []
    la1 = np.array([o.lat_a for o in obs])
    lo1 = np.array([o.lon_a for o in obs])
    la2 = np.array([o.lat_b for o in obs])
    lo2 = np.array([o.lon_b for o in obs])
    med = model.rtt_pairs_ms(la1, lo1, la2, lo2)
    p95 = model.p95_from_median_ms(med)
    dist = haversine_km(la1, lo1, la2, lo2)
    return [
        Scored(obs=o, distance_km=float(d), model_p50_ms=float(m), model_p95_ms=float(q))
        for o, d, m, q in zip(obs, dist, med, p95, strict=True)
    ]


def summarise(rows: Sequence[Scored], corridor: str) -> CorridorStat:
    p95 = [r.p95_ape for r in rows if r.p95_ape is not None]
    return CorridorStat(
        corridor=corridor,
        n=len(rows),
        p50_mape=float(np.mean([r.p50_ape for r in rows])) if rows else float("nan"),
        p95_mape=float(np.mean(p95)) if p95 else float("nan"),
        p50_bias=float(np.mean([(r.model_p50_ms - r.obs.p50_ms) / r.obs.p50_ms for r in rows]))
        if rows
        else float("nan"),
    )


def table(rows: Sequence[Scored]) -> list[CorridorStat]:
    by: dict[str, list[Scored]] = {}
    for r in rows:
        by.setdefault(r.obs.corridor, []).append(r)
    stats = [summarise(v, k) for k, v in sorted(by.items(), key=lambda kv: -len(kv[1]))]
    return [*stats, summarise(rows, "overall")]


def format_table(title: str, stats: Sequence[CorridorStat]) -> str:
    lines = [title, f"{'corridor':<24}{'n':>5}{'MAPE p50':>10}{'MAPE p95':>10}{'bias p50':>10}"]
    for s in stats:
        p95 = f"{100 * s.p95_mape:>9.1f}%" if np.isfinite(s.p95_mape) else f"{'-':>10}"
        lines.append(
            f"{s.corridor:<24}{s.n:>5}{100 * s.p50_mape:>9.1f}%{p95}{100 * s.p50_bias:>+9.1f}%"
        )
    return "\n".join(lines)


def load_scope(pairs: Path, p50: Path, p95: Path | None) -> tuple[list[Observation], ...]:
    return in_scope(matrix_observations(p50, p95)), in_scope(pair_observations(pairs))


def report(model: NetworkModel, pairs: Path, p50: Path, p95: Path | None) -> str:
    matrix_obs, pair_obs = load_scope(pairs, p50, p95)
    m_rows, p_rows = score(model, matrix_obs), score(model, pair_obs)
    outside = score(model, in_scope(matrix_observations(p50, p95), inside=False))
    parts = [
        format_table(f"Azure P50/P95 matrix ({p50.name}), pairs > 500 km in scope", table(m_rows)),
        format_table(f"rtt_pairs_azure.csv ({pairs.name}), pairs > 500 km", table(p_rows)),
        format_table("both sets together", [summarise([*m_rows, *p_rows], "overall")]),
        format_table(
            "held out: matrix pairs with an end outside the regions of interest (not fitted)",
            [summarise(outside, "outside scope")],
        ),
    ]
    return "\n\n".join(parts)


def _paths(pairs: str | None, p50: str | None, p95: str | None) -> tuple[Path, Path, Path]:
    out = (Path(pairs or DEFAULT_PAIRS), Path(p50 or DEFAULT_P50), Path(p95 or DEFAULT_P95))
    for flag, path in zip(("--pairs", "--p50", "--p95-matrix"), out, strict=True):
        if not path.is_file():
            raise FileNotFoundError(f"{flag}: no such file {str(path)!r} (give {flag} PATH)")
    return out


def main_from_args(args: argparse.Namespace) -> int:
    """`georoute rtt --validate` handler."""
    from georoute.cli import CLIError

    try:
        pairs, p50, p95 = _paths(args.pairs, args.p50, args.p95_matrix)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    print(report(NetworkModel(), pairs, p50, p95))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router.network.validate", description=__doc__)
    parser.add_argument("--pairs", help=f"default {DEFAULT_PAIRS}")
    parser.add_argument("--p50", help=f"default {DEFAULT_P50}")
    parser.add_argument("--p95-matrix", help=f"default {DEFAULT_P95}")
    args = parser.parse_args(argv)
    try:
        pairs, p50, p95 = _paths(args.pairs, args.p50, args.p95_matrix)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    print(report(NetworkModel(), pairs, p50, p95))
    return 0


if __name__ == "__main__":
    sys.exit(main())
