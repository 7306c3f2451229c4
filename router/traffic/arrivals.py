"""Arrival processes: when requests arrive and from which client group.

Every process produces blocks of `(at_s, group)` arrays in time order, lazily, so a
run of millions of requests streams in bounded memory. Groups are picked in
proportion to the population weights, from their own generator, so changing a
group's weight does not shift the arrival times.

- `PoissonArrivals`: exponential gaps at `rate_rps`.
- `GammaArrivals`: gamma-distributed gaps with coefficient of variation `cv`
  (cv = 1 is Poisson, cv > 1 bursty, cv < 1 smoother).
- `DiurnalArrivals`: each group's rate follows a 24-hour profile read at the group's
  *local* time of day; a whole day can be compressed into `day_s` seconds. Built by
  thinning a process at the peak rate (Lewis-Shedler): exact for Poisson; with `cv`
  != 1 the thinned stream keeps burstiness only approximately.
- `RampArrivals`: the total rate follows straight segments through (t_s, rate_rps)
  points, also by thinning.
- `TraceArrivals`: times replayed from an Azure or Mooncake trace (see `replay`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from router.traffic.traces import TraceFormat

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# A weekday profile of interactive LLM traffic by local hour (relative; normalised to
# mean 1 when used): a night trough at 3-4 h, the working day rising to a late-morning
# plateau and the day's peak at 14 h, an evening shoulder. Shape, not a measurement.
DEFAULT_DIURNAL_PROFILE: tuple[float, ...] = (
    0.30, 0.22, 0.17, 0.14, 0.14, 0.17, 0.27, 0.45,
    0.75, 1.00, 1.15, 1.20, 1.15, 1.25, 1.35, 1.30,
    1.20, 1.10, 1.00, 0.95, 0.95, 0.85, 0.65, 0.45,
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class PoissonArrivals:
    rate_rps: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GammaArrivals:
    rate_rps: float
    cv: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DiurnalArrivals:
    """`rate_rps` is the day's mean total rate. At scenario time t, UTC is
    `start_utc` + t * 86400 / `day_s` (`day_s=None`: the scenario's duration is one
    day); a group's local hour uses its place's UTC offset on that date."""

    rate_rps: float
    profile: tuple[float, ...] = DEFAULT_DIURNAL_PROFILE
    day_s: float | None = None
    start_utc: str = "2026-06-15T00:00:00"
    cv: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RampArrivals:
    """Total rate through straight segments between (t_s, rate_rps) points; before the
    first point the first rate holds, after the last the last rate."""

    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceArrivals:
    """Replay a trace's arrival times (and, unless the scenario overrides them, its
    lengths). `speedup` > 1 plays the trace faster (gaps divided by it); `start_s`
    skips the trace's first seconds; `loop` repeats it until the scenario ends.
    `spread_s` > 0 spreads requests that share one timestamp uniformly over the gap to
    the next timestamp, capped at `spread_s` (Mooncake buckets are ~3 s apart);
    None picks 3 s for Mooncake, 0 otherwise."""

    path: str
    format: TraceFormat | None = None
    speedup: float = 1.0
    start_s: float = 0.0
    loop: bool = False
    spread_s: float | None = None


Arrivals = PoissonArrivals | GammaArrivals | DiurnalArrivals | RampArrivals | TraceArrivals


class GroupPicker:
    """Draw group indices in proportion to weights (inverse CDF on a block of uniforms)."""

    __slots__ = ("_cdf",)

    def __init__(self, weights: FloatArray) -> None:
        cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
        if cdf.size == 0 or not cdf[-1] > 0:
            raise ValueError("client weights must include a positive one")
        self._cdf = cdf / cdf[-1]

    def pick(self, rng: np.random.Generator, n: int) -> IntArray:
        idx = np.searchsorted(self._cdf, rng.random(n), side="right")
        out: IntArray = np.minimum(idx, self._cdf.size - 1).astype(np.int64)
        return out


def _gaps(rng: np.random.Generator, rate_rps: float, cv: float, n: int) -> FloatArray:
    if cv == 1.0:
        return rng.exponential(1.0 / rate_rps, size=n)
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / (rate_rps * shape), size=n)


def renewal_blocks(
    rate_rps: float,
    cv: float,
    picker: GroupPicker,
    rng_time: np.random.Generator,
    rng_pick: np.random.Generator,
    duration_s: float,
    block: int,
) -> Iterator[tuple[FloatArray, IntArray]]:
    """Stationary renewal process (Poisson when cv = 1) until `duration_s`."""
    t0 = 0.0
    while True:
        times = t0 + np.cumsum(_gaps(rng_time, rate_rps, cv, block))
        t0 = float(times[-1])
        done = t0 >= duration_s
        if done:
            times = times[times < duration_s]
        if times.size:
            yield times, picker.pick(rng_pick, times.size)
        if done:
            return


def profile_multiplier(profile: tuple[float, ...], local_hour: FloatArray) -> FloatArray:
    """The profile (normalised to mean 1) at fractional local hours, interpolated
    linearly between hour centres and wrapping at midnight."""
    values = np.asarray(profile, dtype=np.float64)
    values = values / values.mean()
    n = values.size
    pos = (np.asarray(local_hour) * n / 24.0 - 0.5) % n
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    out: FloatArray = values[lo] * (1.0 - frac) + values[(lo + 1) % n] * frac
    return out


def utc_offset_h(timezone: str | None, lon: float, at_utc: datetime) -> float:
    """A place's UTC offset in hours on a date: from its IANA zone when known (daylight
    saving included), else solar time from the longitude."""
    if timezone:
        try:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            offset = at_utc.astimezone(ZoneInfo(timezone)).utcoffset()
        except (ZoneInfoNotFoundError, ValueError):
            offset = None
        if offset is not None:
            return offset.total_seconds() / 3600.0
    return round(lon / 15.0)


def start_utc_datetime(start_utc: str) -> datetime:
    """Parse `start_utc` (ISO 8601, naive means UTC)."""
    from datetime import UTC

    at = datetime.fromisoformat(start_utc)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def thinned_blocks(
    bound_rps: float,
    cv: float,
    accept_prob: _AcceptFn,
    picker: GroupPicker,
    rng_time: np.random.Generator,
    rng_pick: np.random.Generator,
    rng_thin: np.random.Generator,
    duration_s: float,
    block: int,
) -> Iterator[tuple[FloatArray, IntArray]]:
    """Non-stationary arrivals by thinning candidates drawn at `bound_rps`: keep a
    candidate at time t from group g with probability accept_prob(t, g) <= 1."""
    for times, groups in renewal_blocks(
        bound_rps, cv, picker, rng_time, rng_pick, duration_s, block
    ):
        keep = rng_thin.random(times.size) < accept_prob(times, groups)
        if keep.any():
            yield times[keep], groups[keep]


class _AcceptFn:
    """Typed callable alias (kept as a class so mypy sees the signature)."""

    def __call__(self, times: FloatArray, groups: IntArray) -> FloatArray:
        raise NotImplementedError


class DiurnalAccept(_AcceptFn):
    """Acceptance for `DiurnalArrivals`: profile at the group's local hour over its peak."""

    def __init__(self, cfg: DiurnalArrivals, offsets_h: FloatArray, duration_s: float) -> None:
        start = start_utc_datetime(cfg.start_utc)
        self._start_h = start.hour + start.minute / 60.0 + start.second / 3600.0
        self._hours_per_s = 24.0 / (cfg.day_s or duration_s)
        self._offsets = np.asarray(offsets_h, dtype=np.float64)
        self._profile = cfg.profile
        self.peak = float(max(cfg.profile) / np.mean(cfg.profile))

    def local_hour(self, times: FloatArray, groups: IntArray) -> FloatArray:
        return (self._start_h + times * self._hours_per_s + self._offsets[groups]) % 24.0

    def __call__(self, times: FloatArray, groups: IntArray) -> FloatArray:
        return profile_multiplier(self._profile, self.local_hour(times, groups)) / self.peak


class RampAccept(_AcceptFn):
    """Acceptance for `RampArrivals`: the interpolated rate over its maximum."""

    def __init__(self, cfg: RampArrivals) -> None:
        pts = sorted(cfg.points)
        self._t = np.array([p[0] for p in pts], dtype=np.float64)
        self._r = np.array([p[1] for p in pts], dtype=np.float64)
        self.peak_rps = float(self._r.max())

    def __call__(self, times: FloatArray, groups: IntArray) -> FloatArray:
        return np.interp(times, self._t, self._r) / self.peak_rps


def expected_count(cfg: Arrivals, duration_s: float) -> float:
    """The mean number of arrivals over `duration_s` (NaN for traces: it is data)."""
    if isinstance(cfg, PoissonArrivals | GammaArrivals):
        return cfg.rate_rps * duration_s
    if isinstance(cfg, DiurnalArrivals):
        day_s = cfg.day_s or duration_s
        if math.isclose(day_s, duration_s):
            return cfg.rate_rps * duration_s
        return math.nan  # a partial day depends on where it starts
    if isinstance(cfg, RampArrivals):
        grid = np.linspace(0.0, duration_s, 10_001)
        pts = sorted(cfg.points)
        rates = np.interp(grid, [p[0] for p in pts], [p[1] for p in pts])
        return float(np.trapezoid(rates, grid))
    return math.nan
