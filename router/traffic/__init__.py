"""Client traffic (pure): populations, arrival processes, request lengths, trace replay.

    population = Population.from_places([("Paris", 3, "europe"), ("Singapore", 2, "asia")])
    traffic = TrafficConfig(arrivals=PoissonArrivals(rate_rps=50.0))
    for req in generate(traffic, population, np.random.default_rng(7), duration_s=60.0):
        ...  # ClientRequest(request_id, at_s, place, region, prompt_tokens, output_tokens)

Randomness comes only from the injected `numpy.random.Generator`.
"""

from router.traffic.arrivals import (
    DEFAULT_DIURNAL_PROFILE,
    Arrivals,
    DiurnalArrivals,
    GammaArrivals,
    PoissonArrivals,
    RampArrivals,
    TraceArrivals,
    expected_count,
    profile_multiplier,
)
from router.traffic.generate import (
    ClientRequest,
    RequestBlock,
    TrafficConfig,
    generate,
    generate_blocks,
    request_id,
)
from router.traffic.lengths import (
    AZURE_CONV_OUTPUT,
    AZURE_CONV_PROMPT,
    EmpiricalLengths,
    FixedLength,
    LengthDist,
    Lengths,
    LognormalLength,
    PairedLengths,
    UniformLength,
    azure_conversation_lengths,
    fit_lognormal,
)
from router.traffic.population import ClientGroup, Population
from router.traffic.traces import (
    TRACE_FORMATS,
    TraceError,
    TraceFormat,
    TraceRecord,
    detect_format,
    read_trace,
)

__all__ = [
    "AZURE_CONV_OUTPUT",
    "AZURE_CONV_PROMPT",
    "DEFAULT_DIURNAL_PROFILE",
    "TRACE_FORMATS",
    "Arrivals",
    "ClientGroup",
    "ClientRequest",
    "DiurnalArrivals",
    "EmpiricalLengths",
    "FixedLength",
    "GammaArrivals",
    "LengthDist",
    "Lengths",
    "LognormalLength",
    "PairedLengths",
    "PoissonArrivals",
    "Population",
    "RampArrivals",
    "RequestBlock",
    "TraceArrivals",
    "TraceError",
    "TraceFormat",
    "TraceRecord",
    "TrafficConfig",
    "UniformLength",
    "azure_conversation_lengths",
    "detect_format",
    "expected_count",
    "fit_lognormal",
    "generate",
    "generate_blocks",
    "profile_multiplier",
    "read_trace",
    "request_id",
]
