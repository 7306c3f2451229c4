"""Fit the few backbone and tail parameters on the Azure tables (offline helper).

    python -m router.network.fit [--pairs PATH] [--p50 PATH] [--p95-matrix PATH]

Minimises the mean absolute percentage error of the median over every in-scope
pair (matrix and curated pairs together) with a small Nelder–Mead, then fits the
two tail parameters on the p95 with the medians fixed. Prints the parameters to
bake into `NetworkParams`; nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from router.network.azure import Observation
from router.network.backbone import Backbone
from router.network.params import NetworkParams
from router.network.validate import _paths, load_scope

Array = npt.NDArray[np.float64]
BACKBONE_FIELDS = ("land_stretch", "sea_stretch", "path_overhead_ms", "hub_ms")
TAIL_FIELDS = ("tail_fraction", "tail_ms")


def nelder_mead(
    f: Callable[[Array], float], x0: Sequence[float], step: Sequence[float], iters: int = 400
) -> Array:
    """Plain Nelder–Mead (no scipy dependency for a six-parameter fit)."""
    n = len(x0)
    pts = [np.asarray(x0, dtype=np.float64)]
    for i in range(n):
        p = pts[0].copy()
        p[i] += step[i]
        pts.append(p)
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        centroid = np.mean(pts[:-1], axis=0)
        reflected = centroid + (centroid - pts[-1])
        fr = f(reflected)
        if fr < vals[0]:
            expanded = centroid + 2.0 * (centroid - pts[-1])
            fe = f(expanded)
            pts[-1], vals[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (pts[-1] - centroid)
            fc = f(contracted)
            if fc < vals[-1]:
                pts[-1], vals[-1] = contracted, fc
            else:
                pts = [pts[0] + 0.5 * (p - pts[0]) for p in pts]
                vals = [f(p) for p in pts]
    return pts[int(np.argmin(vals))]


def _coords(obs: Sequence[Observation]) -> tuple[Array, Array, Array, Array]:
    return (
        np.array([o.lat_a for o in obs]),
        np.array([o.lon_a for o in obs]),
        np.array([o.lat_b for o in obs]),
        np.array([o.lon_b for o in obs]),
    )


def predict_p50(params: NetworkParams, obs: Sequence[Observation]) -> Array:
    """Model medians for each observation's own pair (diagonal of the pair matrix)."""
    la1, lo1, la2, lo2 = _coords(obs)
    return Backbone.build(params).rtt_pairs_ms(la1, lo1, la2, lo2)


def fit(obs: Sequence[Observation], start: NetworkParams | None = None) -> NetworkParams:
    start = start or NetworkParams()
    measured = np.array([o.p50_ms for o in obs])

    def with_backbone(x: Array) -> NetworkParams | None:
        try:
            return dataclasses.replace(start, **dict(zip(BACKBONE_FIELDS, x, strict=True)))
        except ValueError:
            return None

    def loss50(x: Array) -> float:
        params = with_backbone(x)
        if params is None:
            return float("inf")
        return float(np.mean(np.abs(predict_p50(params, obs) - measured) / measured))

    x = nelder_mead(loss50, [getattr(start, f) for f in BACKBONE_FIELDS], [0.2, 0.1, 2.0, 1.0])
    fitted = with_backbone(x)
    assert fitted is not None
    tails = [o for o in obs if o.p95_ms is not None]
    med = predict_p50(fitted, tails)
    p95 = np.array([o.p95_ms for o in tails], dtype=np.float64)

    def loss95(t: Array) -> float:
        if t[0] < 0 or t[1] < 0:
            return float("inf")
        return float(np.mean(np.abs(med * (1 + t[0]) + t[1] - p95) / p95))

    t = nelder_mead(loss95, [start.tail_fraction, start.tail_ms], [0.03, 1.0])
    return dataclasses.replace(fitted, tail_fraction=float(t[0]), tail_ms=float(t[1]))


def cross_validate(
    obs: Sequence[Observation], min_n: int = 30
) -> list[tuple[str, int, float, float]]:
    """Leave one corridor out: refit without it, score it. (corridor, n, in-fit, held-out MAPE)."""
    corridors: dict[str, list[Observation]] = {}
    for o in obs:
        corridors.setdefault(o.corridor, []).append(o)
    full = fit(obs)
    out = []
    for name, held in sorted(corridors.items(), key=lambda kv: -len(kv[1])):
        if len(held) < min_n:
            continue
        rest = [o for o in obs if o.corridor != name]
        params = fit(rest, start=full)
        out.append((name, len(held), p50_mape(full, held), p50_mape(params, held)))
    return out


def p50_mape(params: NetworkParams, obs: Sequence[Observation]) -> float:
    measured = np.array([o.p50_ms for o in obs])
    return float(np.mean(np.abs(predict_p50(params, obs) - measured) / measured))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router.network.fit", description=__doc__)
    parser.add_argument("--pairs")
    parser.add_argument("--p50")
    parser.add_argument("--p95-matrix")
    parser.add_argument("--cv", action="store_true", help="leave-one-corridor-out table")
    args = parser.parse_args(argv)
    try:
        pairs, p50, p95 = _paths(args.pairs, args.p50, args.p95_matrix)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    matrix_obs, pair_obs = load_scope(pairs, p50, p95)
    if args.cv:
        print(f"{'held-out corridor':<24}{'n':>5}{'MAPE in fit':>13}{'MAPE held out':>15}")
        for name, n, inside, held in cross_validate([*matrix_obs, *pair_obs]):
            print(f"{name:<24}{n:>5}{100 * inside:>12.1f}%{100 * held:>14.1f}%")
        return 0
    params = fit([*matrix_obs, *pair_obs])
    for field in dataclasses.fields(params):
        print(f"{field.name} = {getattr(params, field.name):.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
