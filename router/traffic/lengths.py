"""Request lengths (prompt and output tokens): fixed, uniform, lognormal fitted to a
trace's published percentiles, or empirical pairs drawn from a trace file.

Samplers draw whole blocks with numpy (the simulator asks for thousands at a time) and
take the `numpy.random.Generator` as an argument, so a run is reproducible from its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from router.traffic.traces import read_trace

IntArray = npt.NDArray[np.int64]

_STD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedLength:
    """Every request has exactly `tokens` tokens (crossover studies, closed-form checks)."""

    tokens: int

    def sample(self, rng: np.random.Generator, n: int) -> IntArray:
        return np.full(n, self.tokens, dtype=np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class UniformLength:
    """Integers uniform on [min_tokens, max_tokens] (e.g. 2,000-8,000 reasoning outputs)."""

    min_tokens: int
    max_tokens: int

    def sample(self, rng: np.random.Generator, n: int) -> IntArray:
        return rng.integers(self.min_tokens, self.max_tokens + 1, size=n, dtype=np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class LognormalLength:
    """exp(N(mu, sigma)) rounded to an integer and clipped to [min_tokens, max_tokens].

    Real traces are close to lognormal in the body; the clip stands in for the
    context limit that truncates their tail."""

    mu: float
    sigma: float
    min_tokens: int = 1
    max_tokens: int = 131_072

    @classmethod
    def fit(
        cls,
        percentiles: Sequence[tuple[float, float]],
        *,
        min_tokens: int = 1,
        max_tokens: int = 131_072,
    ) -> LognormalLength:
        """Least-squares fit of ln(value) = mu + sigma * z(q) over (q, value) pairs,
        e.g. [(0.5, 1020), (0.9, 2735), (0.99, 4142)]. With one pair sigma is 0."""
        mu, sigma = fit_lognormal(percentiles)
        return cls(mu=mu, sigma=sigma, min_tokens=min_tokens, max_tokens=max_tokens)

    def quantile(self, q: float) -> float:
        """The q-quantile of the unclipped distribution."""
        return math.exp(self.mu + self.sigma * _STD_NORMAL.inv_cdf(q))

    def sample(self, rng: np.random.Generator, n: int) -> IntArray:
        raw = np.rint(rng.lognormal(self.mu, self.sigma, size=n))
        return np.clip(raw, self.min_tokens, self.max_tokens).astype(np.int64)


def fit_lognormal(percentiles: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(mu, sigma) of a lognormal matched to (quantile, value) pairs, e.g.
    [(0.5, 1020), (0.9, 2735), (0.99, 4142)].

    When the median is given it is matched exactly (mu = ln p50: reports lead with
    medians) and sigma is the least-squares slope of ln(value) - mu on z(q) over the
    other pairs; otherwise both come from a least-squares line. Real length
    distributions have lighter tails than a lognormal, so the upper percentiles fit
    only approximately (Azure conversation input: p90 -15%, p99 +9%)."""
    if not percentiles:
        raise ValueError("need at least one (quantile, value) pair")
    zs: list[float] = []
    logs: list[float] = []
    for q, value in percentiles:
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile must lie in (0, 1), got {q}")
        if not value > 0:
            raise ValueError(f"percentile values must be positive, got {value}")
        zs.append(_STD_NORMAL.inv_cdf(q))
        logs.append(math.log(value))
    if len(zs) == 1:
        if zs[0] != 0.0:
            raise ValueError("a single percentile must be the median (0.5)")
        return logs[0], 0.0
    z = np.array(zs)
    y = np.array(logs)
    median = np.isclose(z, 0.0)
    if median.any():
        mu = float(y[median][0])
        rest = ~median
        sigma = float(np.dot(z[rest], y[rest] - mu) / np.dot(z[rest], z[rest]))
    else:
        design = np.column_stack([np.ones_like(z), z])
        (mu_fit, sigma_fit), *_ = np.linalg.lstsq(design, y, rcond=None)
        mu, sigma = float(mu_fit), float(sigma_fit)
    if sigma < 0:
        raise ValueError("percentiles must increase with the quantile")
    return mu, sigma


LengthDist = FixedLength | UniformLength | LognormalLength


@dataclass(frozen=True, slots=True, kw_only=True)
class PairedLengths:
    """Prompt and output lengths drawn independently from their own distributions."""

    prompt: LengthDist
    output: LengthDist

    def sample(self, rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray]:
        return self.prompt.sample(rng, n), self.output.sample(rng, n)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmpiricalLengths:
    """(prompt, output) pairs resampled with replacement from a trace file (Azure CSV,
    Mooncake JSONL or the ShareGPT length CSV), keeping their correlation.
    `max_prompt_tokens`/`max_output_tokens` drop rows a deployment could never serve."""

    path: str
    max_prompt_tokens: int | None = None
    max_output_tokens: int | None = None

    def sample(self, rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray]:
        prompts, outputs = _trace_pairs(self.path, self.max_prompt_tokens, self.max_output_tokens)
        idx = rng.integers(0, len(prompts), size=n)
        return prompts[idx], outputs[idx]


Lengths = PairedLengths | EmpiricalLengths

# Azure LLM inference trace 2023, conversation file, measured percentiles
# (../shared/traces/README.md): input p50/p90/p99 1020/2735/4142, output 129/424/601.
AZURE_CONV_PROMPT = ((0.5, 1020.0), (0.9, 2735.0), (0.99, 4142.0))
AZURE_CONV_OUTPUT = ((0.5, 129.0), (0.9, 424.0), (0.99, 601.0))


def azure_conversation_lengths() -> PairedLengths:
    """Lognormals fitted to the Azure 2023 conversation trace percentiles: the default
    workload of `georoute up` and of the built-in scenarios."""
    return PairedLengths(
        prompt=LognormalLength.fit(AZURE_CONV_PROMPT, max_tokens=8192),
        output=LognormalLength.fit(AZURE_CONV_OUTPUT, max_tokens=2048),
    )


_PAIR_CACHE: dict[tuple[str, int | None, int | None], tuple[IntArray, IntArray]] = {}


def _trace_pairs(
    path: str, max_prompt: int | None, max_output: int | None
) -> tuple[IntArray, IntArray]:
    """All (prompt, output) pairs of a trace, read once per process (a few MB at most)."""
    key = (str(Path(path).resolve()), max_prompt, max_output)
    cached = _PAIR_CACHE.get(key)
    if cached is not None:
        return cached
    prompts: list[int] = []
    outputs: list[int] = []
    for rec in read_trace(path):
        if max_prompt is not None and rec.prompt_tokens > max_prompt:
            continue
        if max_output is not None and rec.output_tokens > max_output:
            continue
        prompts.append(max(rec.prompt_tokens, 1))
        outputs.append(max(rec.output_tokens, 1))
    if not prompts:
        raise ValueError(f"{path}: no usable (prompt, output) rows")
    pair = (np.array(prompts, dtype=np.int64), np.array(outputs, dtype=np.int64))
    _PAIR_CACHE[key] = pair
    return pair
