"""The contract between engine simulators and everything that drives them.

Drivers: `georoute predict` (closed loop, virtual time), the site server (real clock),
the whole-system simulator (virtual time). All of them call the same `Engine` object:
`submit` requests as they arrive, `advance(until)` to run every iteration that starts
before `until`, and read back token runs and finished requests with simulated
timestamps. Engines never read a clock; time is always an argument (seconds on the
driver's clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Framework = Literal["vllm", "trtllm"]
Precision = Literal["fp16", "bf16", "fp8", "int8", "fp4"]
PRECISIONS: tuple[Precision, ...] = ("fp16", "bf16", "fp8", "int8", "fp4")


class CatalogError(ValueError):
    """An unknown hardware, model or precision id; the message lists the valid ids."""


class DeploymentError(ValueError):
    """A deployment that cannot exist (model does not fit, bad parallelism, bad numbers)."""


class EngineCapacityError(ValueError):
    """A request that this deployment can never serve (e.g. longer than its context)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSpec:
    """What one site runs. `devices=None` asks for the smallest deployment that holds
    the model (for LPUs: enough chips for weights and KV cache in SRAM)."""

    hardware: str
    model: str
    precision: Precision = "fp8"
    devices: int | None = None
    tp: int | None = None
    framework: Framework = "vllm"
    max_num_seqs: int | None = None
    max_batched_tokens: int | None = None
    replicas: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineRequest:
    """One request as the engine sees it. `output_tokens` is exact: the caller has
    already resolved `max_tokens` or a sampled natural length."""

    request_id: str
    prompt_tokens: int
    output_tokens: int
    arrived_at: float


@dataclass(frozen=True, slots=True)
class TokenRun:
    """`count` consecutive output tokens of one request. Token `first_index + i`
    (0-based over the request's output) is emitted at `first_at + i * interval_s`.
    Runs make analytic jump-ahead cheap: a stable batch yields one run per sequence."""

    request_id: str
    first_index: int
    count: int
    first_at: float
    interval_s: float

    def at(self, i: int) -> float:
        """Emission time of the i-th token of this run (0-based within the run)."""
        return self.first_at + i * self.interval_s

    @property
    def last_at(self) -> float:
        return self.first_at + (self.count - 1) * self.interval_s


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestResult:
    """A finished (or cancelled) request, with the site-side timing breakdown."""

    request_id: str
    prompt_tokens: int
    output_tokens: int
    arrived_at: float
    first_scheduled_at: float | None
    first_token_at: float | None
    finished_at: float
    queue_s: float
    ttft_s: float | None
    tpot_s: float | None
    energy_j: float
    cost_usd: float
    preemptions: int = 0
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReport:
    """What one `advance` call produced. `now` is the engine time after the last
    iteration it ran (it may lie past `until` by at most one iteration)."""

    now: float
    tokens: list[TokenRun] = field(default_factory=list)
    finished: list[RequestResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineLoad:
    """A snapshot of an engine's load, cheap enough to publish several times a second."""

    at: float
    queued: int
    running: int
    max_running: int
    queued_prompt_tokens: int
    kv_used_fraction: float
    tokens_per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyEstimate:
    """A forecast for one new request at a given load (used by the `fastest` policy)."""

    queue_s: float
    ttft_s: float
    tpot_s: float

    def e2e_s(self, output_tokens: int) -> float:
        return self.queue_s + self.ttft_s + max(output_tokens - 1, 0) * self.tpot_s


class Engine(Protocol):
    """A simulated serving deployment, stepped by a driver."""

    @property
    def spec(self) -> DeploymentSpec:
        """The resolved deployment (devices, tp and knobs filled in)."""
        ...

    def submit(self, request: EngineRequest) -> None:
        """Queue a request (FCFS). Raises EngineCapacityError if it can never fit."""
        ...

    def cancel(self, request_id: str, at: float) -> RequestResult | None:
        """Drop a request (client gone) and free its batch slot and KV cache."""
        ...

    def next_event_at(self) -> float | None:
        """When the engine next has work to finish (None when idle and empty)."""
        ...

    def advance(self, until: float, *, record_tokens: bool = True) -> StepReport:
        """Run every iteration that starts before `until`. With `record_tokens=False`
        only finished requests are reported (fast path for large simulations)."""
        ...

    def load(self) -> EngineLoad: ...


def require_positive(**values: float | int | None) -> None:
    """Raise DeploymentError naming the first argument that is not a positive number."""
    for name, value in values.items():
        if value is not None and not value > 0:
            raise DeploymentError(f"{name} must be positive, got {value!r}")


__all__: Sequence[str] = (
    "PRECISIONS",
    "CatalogError",
    "DeploymentError",
    "DeploymentSpec",
    "Engine",
    "EngineCapacityError",
    "EngineLoad",
    "EngineRequest",
    "Framework",
    "LatencyEstimate",
    "Precision",
    "RequestResult",
    "StepReport",
    "TokenRun",
)
