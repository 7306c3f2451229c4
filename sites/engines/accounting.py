"""Per-request bookkeeping shared by the engines: results, energy and cost shares."""

from __future__ import annotations

from collections.abc import Container
from typing import Protocol

from sites.engine_api import EngineCapacityError, RequestResult


class RequestLike(Protocol):
    """EngineRequest's fields (the LPU engine's lighter `_Req` has them too)."""

    @property
    def request_id(self) -> str: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def arrived_at(self) -> float: ...


def check_request(request: RequestLike, max_tokens: int, active: Container[str]) -> None:
    """Reject what the deployment can never serve: empty requests, a prompt plus output
    beyond what one sequence may hold, or an id that is already in the engine."""
    if request.prompt_tokens < 1 or request.output_tokens < 1:
        raise EngineCapacityError(
            f"request {request.request_id}: prompt_tokens and output_tokens must be >= 1"
        )
    total = request.prompt_tokens + request.output_tokens
    if total > max_tokens:
        raise EngineCapacityError(
            f"request {request.request_id} needs {total} tokens of context; this "
            f"deployment holds at most {max_tokens} per request"
        )
    if request.request_id in active:
        raise ValueError(f"duplicate request id {request.request_id!r}")


def make_result(
    req: RequestLike,
    *,
    generated: int,
    first_scheduled_at: float | None,
    first_token_at: float | None,
    last_token_at: float | None,
    finished_at: float,
    energy_j: float,
    cost_usd: float,
    preemptions: int = 0,
    cancelled: bool = False,
) -> RequestResult:
    """A RequestResult with the timing breakdown derived consistently for both engines.

    queue_s: arrival to first scheduled (still queued at the end if never scheduled);
    ttft_s: arrival to first token; tpot_s: mean gap between output tokens after the first.
    """
    queue_end = first_scheduled_at if first_scheduled_at is not None else finished_at
    tpot = None
    if first_token_at is not None and last_token_at is not None and generated > 1:
        tpot = (last_token_at - first_token_at) / (generated - 1)
    return RequestResult(
        request_id=req.request_id,
        prompt_tokens=req.prompt_tokens,
        output_tokens=generated,
        arrived_at=req.arrived_at,
        first_scheduled_at=first_scheduled_at,
        first_token_at=first_token_at,
        finished_at=finished_at,
        queue_s=max(queue_end - req.arrived_at, 0.0),
        ttft_s=None if first_token_at is None else first_token_at - req.arrived_at,
        tpot_s=tpot,
        energy_j=energy_j,
        cost_usd=cost_usd,
        preemptions=preemptions,
        cancelled=cancelled,
    )


def power_w(idle_w: float, full_w: float, utilisation: float) -> float:
    """Device power at a utilisation in [0, 1]: linear between idle and board power.
    (A common first-order model; e.g. ML.ENERGY and MLPerf Power show near-linear
    power vs. activity for accelerators.)"""
    u = min(max(utilisation, 0.0), 1.0)
    return idle_w + (full_w - idle_w) * u
