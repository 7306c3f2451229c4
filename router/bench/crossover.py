"""`georoute crossover`: at what output length does the far, fast site beat the near one?

For a client place, two sites and a prompt length, and for each load level, this
forecasts the client-side end-to-end time at each site as a function of the output
length, with the same formula the `fastest` policy routes by
(`router.policies.base.predicted_e2e_ms`: one network round trip, the connection
set-up of a new connection, then the site's queue wait, TTFT and output x TPOT from its
engine model at that load), and finds the shortest output for which the far site wins.

A load level is the occupancy of each site's batch capacity (`max_running` sequences):
0.5 means half its sequence slots busy, 1.5 means every slot busy and half as many
again queued (their prompts waiting too). Pure: the network model and the latency
estimator come in through a `RoutingContext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from router.policies.base import predicted_e2e_ms
from router.policies.types import PlaceLike, RouteRequest, RoutingContext, SiteView

DEFAULT_LOADS: tuple[float, ...] = (0.0, 0.5, 0.9, 1.5)
DEFAULT_OUTPUTS: tuple[int, ...] = (1, 16, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
MAX_OUTPUT_TOKENS = 32_768


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossoverRow:
    """One line of the table behind the answer: both sites' forecasts at one length."""

    load: float
    output_tokens: int
    near_e2e_ms: float
    far_e2e_ms: float
    winner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossoverPoint:
    """The answer at one load level. `crossover_tokens` is the shortest output at which
    the far site is faster (1 when it always is, None when it never is up to
    MAX_OUTPUT_TOKENS)."""

    load: float
    crossover_tokens: int | None
    near_fixed_ms: float  # E2E forecast for a 1-token output: network + set-up + queue + TTFT
    far_fixed_ms: float
    near_tpot_ms: float  # forecast ms per extra output token
    far_tpot_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Crossover:
    client: str
    near: str
    far: str
    near_rtt_ms: float
    far_rtt_ms: float
    input_tokens: int
    points: list[CrossoverPoint]
    table: list[CrossoverRow]


def at_load(site: SiteView, load: float, input_tokens: int) -> SiteView:
    """The site with `load` x its batch capacity occupied (the excess queued)."""
    capacity = max(site.max_running, 1)
    total = round(load * capacity)
    running = min(total, capacity)
    queued = total - running
    return replace(
        site,
        in_flight=0,
        running=running,
        queued=queued,
        queued_prompt_tokens=queued * input_tokens,
        kv_used_fraction=min(load, 1.0),
    )


def _e2e(client: PlaceLike, site: SiteView, ctx: RoutingContext, inp: int, out: int) -> float:
    request = RouteRequest(client=client, prompt_tokens=inp, max_output_tokens=out)
    return predicted_e2e_ms(request, site, ctx)


def _first_win(
    client: PlaceLike, near: SiteView, far: SiteView, ctx: RoutingContext, inp: int
) -> int | None:
    """Shortest output where far < near. The forecasts are (close to) linear in the
    output length, so the difference changes sign at most once: bisect on it."""

    def far_wins(out: int) -> bool:
        return _e2e(client, far, ctx, inp, out) < _e2e(client, near, ctx, inp, out)

    if far_wins(1):
        return 1
    if not far_wins(MAX_OUTPUT_TOKENS):
        return None
    lo, hi = 1, MAX_OUTPUT_TOKENS  # far loses at lo, wins at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if far_wins(mid):
            hi = mid
        else:
            lo = mid
    return hi


def crossover(
    client: PlaceLike,
    site_a: SiteView,
    site_b: SiteView,
    ctx: RoutingContext,
    *,
    input_tokens: int,
    loads: Sequence[float] = DEFAULT_LOADS,
    outputs: Sequence[int] = DEFAULT_OUTPUTS,
) -> Crossover:
    """The crossover per load level; the near site is the one with the lower RTT."""
    if input_tokens <= 0:
        raise ValueError(f"input_tokens must be positive, got {input_tokens}")
    if any(load < 0 for load in loads):
        raise ValueError(f"load levels must be >= 0, got {list(loads)}")
    rtt_a, rtt_b = ctx.rtt_ms(client, site_a.place), ctx.rtt_ms(client, site_b.place)
    near, far = (site_a, site_b) if rtt_a <= rtt_b else (site_b, site_a)
    points: list[CrossoverPoint] = []
    table: list[CrossoverRow] = []
    for load in loads:
        n, f = at_load(near, load, input_tokens), at_load(far, load, input_tokens)
        n1, f1 = _e2e(client, n, ctx, input_tokens, 1), _e2e(client, f, ctx, input_tokens, 1)
        n2, f2 = (_e2e(client, s, ctx, input_tokens, 1001) for s in (n, f))
        points.append(
            CrossoverPoint(
                load=load,
                crossover_tokens=_first_win(client, n, f, ctx, input_tokens),
                near_fixed_ms=round(n1, 2),
                far_fixed_ms=round(f1, 2),
                near_tpot_ms=round((n2 - n1) / 1000, 3),
                far_tpot_ms=round((f2 - f1) / 1000, 3),
            )
        )
        for out in outputs:
            ne, fe = (
                _e2e(client, n, ctx, input_tokens, out),
                _e2e(client, f, ctx, input_tokens, out),
            )
            table.append(
                CrossoverRow(
                    load=load,
                    output_tokens=out,
                    near_e2e_ms=round(ne, 2),
                    far_e2e_ms=round(fe, 2),
                    winner=far.name if fe < ne else near.name,
                )
            )
    return Crossover(
        client=client.name,
        near=near.name,
        far=far.name,
        near_rtt_ms=round(min(rtt_a, rtt_b), 2),
        far_rtt_ms=round(max(rtt_a, rtt_b), 2),
        input_tokens=input_tokens,
        points=points,
        table=table,
    )
