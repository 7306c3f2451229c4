"""Binds `georoute crossover` to the real models: the topology (the built-in default or
`--config`), the gazetteer, the network model and the engines' latency estimator."""

from __future__ import annotations

from collections.abc import Sequence

from router.bench.crossover import Crossover, crossover


class CrossoverSetupError(ValueError):
    """A bad place, site name or topology file; the message names the flag."""


def run_crossover(
    *,
    origin: str,
    sites: tuple[str, str],
    input_tokens: int,
    loads: Sequence[float],
    config: str | None = None,
) -> Crossover:
    from router.config import load_config
    from router.geo import BadCoordinatesError, UnknownPlaceError, distance_km, resolve_place
    from router.network import NetworkModel
    from router.policies import RoutingContext, SiteView
    from sites.engines import build_engine, estimate_latency
    from sites.topology import ConfigError

    try:
        topology = load_config(config).sites
    except ConfigError as exc:
        raise CrossoverSetupError(f"--config: {exc}") from None
    try:
        client = resolve_place(origin)
    except (UnknownPlaceError, BadCoordinatesError) as exc:
        raise CrossoverSetupError(f"--from {origin!r}: {exc}") from None
    by_name = {s.name: s for s in topology}
    views = []
    for name in sites:
        if name not in by_name:
            raise CrossoverSetupError(
                f"--sites: no site named {name!r} in the topology; sites: {', '.join(by_name)}"
            )
        site = by_name[name]
        spec = site.deployment()
        engine = build_engine(spec)
        views.append(
            SiteView(
                name=name,
                place=resolve_place(site.place),
                spec=engine.spec,
                max_running=engine.load().max_running,
            )
        )
    ctx = RoutingContext(
        network=NetworkModel(), estimate_latency=estimate_latency, distance_km=distance_km
    )
    try:
        return crossover(client, views[0], views[1], ctx, input_tokens=input_tokens, loads=loads)
    except ValueError as exc:
        raise CrossoverSetupError(str(exc)) from None
