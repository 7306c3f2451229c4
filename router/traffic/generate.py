"""The traffic generator: arrivals x client groups x lengths -> client requests.

`generate` yields `ClientRequest`s lazily in time order (the live generator of
`georoute up` and tests use it); `generate_blocks` yields the same requests as numpy
blocks, which the virtual-time simulator consumes without a Python object per request.
Both draw from one `numpy.random.Generator`, split into independent child streams
(arrival times, group picks, thinning, lengths, trace spreading), so the same seed
gives the same requests whatever else changes downstream (the policy, the engines).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from router.geo import Place
from router.traffic.arrivals import (
    Arrivals,
    DiurnalAccept,
    DiurnalArrivals,
    FloatArray,
    GammaArrivals,
    GroupPicker,
    IntArray,
    PoissonArrivals,
    RampAccept,
    RampArrivals,
    TraceArrivals,
    renewal_blocks,
    start_utc_datetime,
    thinned_blocks,
)
from router.traffic.lengths import Lengths, azure_conversation_lengths
from router.traffic.population import Population
from router.traffic.replay import trace_blocks

DEFAULT_BLOCK = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficConfig:
    """How requests arrive and how long they are. `lengths=None` means the trace's own
    lengths when replaying a trace, otherwise the Azure conversation fit."""

    arrivals: Arrivals
    lengths: Lengths | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRequest:
    """One client request: when, from where (and its report label), how long."""

    request_id: str
    at_s: float
    place: Place
    region: str
    prompt_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestBlock:
    """Consecutive requests as arrays; request i of the block is number `first + i`
    of the run and comes from `population.groups[group[i]]`."""

    first: int
    at_s: FloatArray
    group: IntArray
    prompt_tokens: IntArray
    output_tokens: IntArray

    def __len__(self) -> int:
        return int(self.at_s.size)


def request_id(n: int) -> str:
    """The id of the run's n-th request (0-based), sortable as text."""
    return f"r{n:09d}"


def generate_blocks(
    traffic: TrafficConfig,
    population: Population,
    rng: np.random.Generator,
    duration_s: float,
    *,
    block: int = DEFAULT_BLOCK,
) -> Iterator[RequestBlock]:
    """Requests arriving in [0, duration_s), as time-ordered blocks."""
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    rng_time, rng_pick, rng_thin, rng_len, rng_spread = rng.spawn(5)
    picker = GroupPicker(population.weights)
    arrivals = traffic.arrivals
    lengths = traffic.lengths
    if lengths is None and not isinstance(arrivals, TraceArrivals):
        lengths = azure_conversation_lengths()
    first = 0
    if isinstance(arrivals, TraceArrivals):
        for times, groups, prompts, outputs in trace_blocks(
            arrivals, picker, rng_spread, rng_pick, duration_s, block
        ):
            if lengths is not None:
                prompts, outputs = lengths.sample(rng_len, times.size)
            yield RequestBlock(
                first=first, at_s=times, group=groups, prompt_tokens=prompts, output_tokens=outputs
            )
            first += times.size
        return
    assert lengths is not None
    for times, groups in _timed_blocks(
        arrivals, population, picker, rng_time, rng_pick, rng_thin, duration_s, block
    ):
        prompts, outputs = lengths.sample(rng_len, times.size)
        yield RequestBlock(
            first=first, at_s=times, group=groups, prompt_tokens=prompts, output_tokens=outputs
        )
        first += times.size


def _timed_blocks(
    arrivals: Arrivals,
    population: Population,
    picker: GroupPicker,
    rng_time: np.random.Generator,
    rng_pick: np.random.Generator,
    rng_thin: np.random.Generator,
    duration_s: float,
    block: int,
) -> Iterator[tuple[FloatArray, IntArray]]:
    if isinstance(arrivals, PoissonArrivals):
        return renewal_blocks(arrivals.rate_rps, 1.0, picker, rng_time, rng_pick, duration_s, block)
    if isinstance(arrivals, GammaArrivals):
        return renewal_blocks(
            arrivals.rate_rps, arrivals.cv, picker, rng_time, rng_pick, duration_s, block
        )
    if isinstance(arrivals, DiurnalArrivals):
        offsets = population.utc_offsets_h(start_utc_datetime(arrivals.start_utc))
        diurnal = DiurnalAccept(arrivals, offsets, duration_s)
        return thinned_blocks(
            arrivals.rate_rps * diurnal.peak,
            arrivals.cv,
            diurnal,
            picker,
            rng_time,
            rng_pick,
            rng_thin,
            duration_s,
            block,
        )
    if isinstance(arrivals, RampArrivals):
        ramp = RampAccept(arrivals)
        return thinned_blocks(
            ramp.peak_rps,
            1.0,
            ramp,
            picker,
            rng_time,
            rng_pick,
            rng_thin,
            duration_s,
            block,
        )
    raise TypeError(f"unsupported arrival process {arrivals!r}")


def generate(
    traffic: TrafficConfig,
    population: Population,
    rng: np.random.Generator,
    duration_s: float,
) -> Iterator[ClientRequest]:
    """Client requests arriving in [0, duration_s), lazily and in time order."""
    groups = population.groups
    for blk in generate_blocks(traffic, population, rng, duration_s):
        times = blk.at_s.tolist()
        group = blk.group.tolist()
        prompts = blk.prompt_tokens.tolist()
        outputs = blk.output_tokens.tolist()
        for i, at in enumerate(times):
            g = groups[group[i]]
            yield ClientRequest(
                request_id=request_id(blk.first + i),
                at_s=at,
                place=g.place,
                region=g.region,
                prompt_tokens=prompts[i],
                output_tokens=outputs[i],
            )
