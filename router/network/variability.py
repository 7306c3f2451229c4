"""Per-path delay variability: a shifted lognormal matched to median and p95.

One-way delay = floor + X, X ~ LogNormal(mu, sigma). The floor is the physical
minimum (fiber time over the great circle), so no sample beats light in glass;
mu and sigma are solved so the median and the 95th percentile of the one-way delay
equal half the modelled RTT p50 and p95 (the Azure tables are RTTs; one-way
delays are taken as symmetric halves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Z95 = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True, slots=True, kw_only=True)
class ShiftedLogNormal:
    floor_ms: float
    mu: float
    sigma: float

    @classmethod
    def from_quantiles(
        cls, *, floor_ms: float, median_ms: float, p95_ms: float
    ) -> ShiftedLogNormal:
        if not floor_ms < median_ms <= p95_ms:
            raise ValueError(f"need floor < median <= p95, got {floor_ms}, {median_ms}, {p95_ms}")
        mu = math.log(median_ms - floor_ms)
        sigma = math.log((p95_ms - floor_ms) / (median_ms - floor_ms)) / Z95
        return cls(floor_ms=floor_ms, mu=mu, sigma=sigma)

    def quantile(self, q: float) -> float:
        from statistics import NormalDist

        return self.floor_ms + math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))

    def sample(
        self, rng: np.random.Generator, size: int | None = None
    ) -> float | npt.NDArray[np.float64]:
        draw = rng.lognormal(self.mu, self.sigma, size)
        if size is None:
            return self.floor_ms + float(draw)
        out: npt.NDArray[np.float64] = self.floor_ms + draw
        return out
