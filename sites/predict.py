"""`georoute predict`: one deployment under a closed-loop load, in virtual time.

`concurrency` clients each send a request of exactly `input_tokens` / `output_tokens`,
wait for its last token and send the next one a client turnaround later. Of the
requests sent, the first `requests` are measured; the clients keep sending until every
measured request has finished, so all of them are served under the full load. The means
are taken over the steady state: the measured requests that arrive between the
`concurrency`-th completion (warm-up: the first wave starts together) and the last
measured send, chosen by arrival time alone, with each end moved off any burst of
arrivals (`steady_window`). (Choosing "finished before the last send" instead keeps
the short requests of the last cycle and drops the long ones: -15% on the mean TTFT of
an LPU at 128 clients for 80 slots, four waves, whose waits are either nothing or a
whole service time.) Throughput is the output tokens emitted in that window per
second. Without a steady window (too few requests) all requests count.

The client turnaround is the time from a request's last token leaving the engine to
the client's next request reaching it: reading the end of the stream, reusing the
connection, sending, and the server taking the request in; never zero. It matters on
continuous batching (GPUs): the scheduler fixes iteration k+1's batch before
iteration k's tokens reach any client, so a closed-loop client's next request always
misses the iteration right after its last token and joins a later one
(`sites.server.driver` does the same on the wall clock). A zero turnaround would let it
join at once, and keep every client of a fixed-length loop in lock-step forever: at
64 clients of 1000/100 tokens on an H100, TTFT 634 ms against 1176 ms for any
turnaround from 0.3 to 3 ms. Turnarounds are drawn uniformly from [0.5, 1.5] x
`client_turnaround_ms` (default 1 ms: a client next to the site) with a seeded
generator, so runs are reproducible; 0 gives the lock-step loop.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from sites.engine_api import (
    DeploymentError,
    DeploymentSpec,
    EngineRequest,
    RequestResult,
    require_positive,
)
from sites.engines import build_engine


@dataclass(frozen=True, slots=True, kw_only=True)
class Prediction:
    """Steady-state means of one closed-loop run (the `--json` keys, in ms and tok/s)."""

    ttft_ms: float
    tpot_ms: float
    per_user_tok_s: float
    total_tok_s: float
    e2e_ms: float

    def as_dict(self) -> dict[str, float]:
        return {
            "ttft_ms": self.ttft_ms,
            "tpot_ms": self.tpot_ms,
            "per_user_tok_s": self.per_user_tok_s,
            "total_tok_s": self.total_tok_s,
            "e2e_ms": self.e2e_ms,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDetail:
    """Everything a run produced, for reports and tests."""

    prediction: Prediction
    results: list[RequestResult]
    steady: list[RequestResult]
    window_s: tuple[float, float]
    energy_j_per_token: float
    cost_usd_per_mtok: float


DEFAULT_CLIENT_TURNAROUND_MS = 1.0


def default_requests(concurrency: int) -> int:
    """Enough requests for a steady window: four waves, at least 200."""
    return max(4 * concurrency, 200)


def run_closed_loop(
    spec: DeploymentSpec,
    *,
    input_tokens: int,
    output_tokens: int,
    concurrency: int,
    requests: int | None = None,
    client_turnaround_ms: float = DEFAULT_CLIENT_TURNAROUND_MS,
    seed: int = 0,
) -> RunDetail:
    """Drive a fresh engine with a closed loop and summarise its steady state (see the
    module docstring for the window and the client turnaround)."""
    require_positive(
        input_tokens=input_tokens, output_tokens=output_tokens, concurrency=concurrency,
        requests=requests,
    )
    if not client_turnaround_ms >= 0:
        raise DeploymentError(
            f"client_turnaround_ms must be >= 0, got {client_turnaround_ms!r}")
    total = requests if requests is not None else default_requests(concurrency)
    engine = build_engine(spec)
    rng = np.random.default_rng(seed)
    mean_s = client_turnaround_ms / 1000.0
    pending: list[float] = []  # send times of requests not yet submitted (a heap)
    for _ in range(min(concurrency, total)):
        heapq.heappush(pending, mean_s * rng.uniform(0.5, 1.5))
    results: list[RequestResult] = []
    last_sent_at = 0.0
    submitted = 0
    while len(results) < total:
        t = engine.next_event_at()
        if pending and (t is None or pending[0] <= t):
            at = heapq.heappop(pending)
            # every iteration that starts before `at` is committed without this request
            finished = engine.advance(at, record_tokens=False).finished
            counted = submitted < total  # later ones only keep the load on
            engine.submit(EngineRequest(
                request_id=f"r{submitted}" if counted else f"x{submitted}",
                prompt_tokens=input_tokens, output_tokens=output_tokens, arrived_at=at,
            ))
            submitted += 1
            if counted:
                last_sent_at = at
        elif t is None:  # pragma: no cover - the loop always has work until done
            raise RuntimeError("engine went idle with requests outstanding")
        else:
            finished = engine.advance(t, record_tokens=False).finished
        for r in sorted(finished, key=lambda r: r.finished_at):
            if r.request_id.startswith("r"):
                results.append(r)
            heapq.heappush(pending, r.finished_at + mean_s * rng.uniform(0.5, 1.5))
    return summarise(results, concurrency=concurrency, cool_down_at=last_sent_at)


def summarise(
    results: list[RequestResult], *, concurrency: int, cool_down_at: float
) -> RunDetail:
    """Steady-state means (see the module docstring for the window)."""
    done = sorted(results, key=lambda r: r.finished_at)
    warm_at = done[min(concurrency, len(done)) - 1].finished_at
    start, end = steady_window(
        [r.arrived_at for r in done], warm_at=warm_at, cool_down_at=cool_down_at,
        cycle_s=float(np.median([r.finished_at - r.arrived_at for r in done])),
    )
    steady = [r for r in done if start <= r.arrived_at <= end]
    if len(steady) >= 3 and end > start:
        window = (start, end)
        tokens = sum(tokens_between(r, start, end) for r in done)
    else:
        steady = done
        window = (min(r.arrived_at for r in done), done[-1].finished_at)
        tokens = sum(r.output_tokens for r in done)
    span = max(window[1] - window[0], 1e-12)
    ttft = np.array([r.ttft_s for r in steady if r.ttft_s is not None])
    tpot = np.array([r.tpot_s for r in steady if r.tpot_s is not None])
    e2e = np.array([r.finished_at - r.arrived_at for r in steady])
    tpot_ms = float(tpot.mean() * 1e3) if tpot.size else 0.0
    out_tokens = sum(r.output_tokens for r in done)
    prediction = Prediction(
        ttft_ms=float(ttft.mean() * 1e3) if ttft.size else 0.0,
        tpot_ms=tpot_ms,
        per_user_tok_s=1000.0 / tpot_ms if tpot_ms > 0 else 0.0,
        total_tok_s=tokens / span,
        e2e_ms=float(e2e.mean() * 1e3),
    )
    return RunDetail(
        prediction=prediction,
        results=done,
        steady=steady,
        window_s=window,
        energy_j_per_token=sum(r.energy_j for r in done) / max(out_tokens, 1),
        cost_usd_per_mtok=sum(r.cost_usd for r in done) / max(out_tokens, 1) * 1e6,
    )


def steady_window(
    arrivals: list[float], *, warm_at: float, cool_down_at: float, cycle_s: float
) -> tuple[float, float]:
    """The steady window's ends: from `warm_at` to `cool_down_at`, each end moved to the
    widest gap between consecutive arrivals within half a cycle of it. Fixed lengths
    make clients arrive in bursts (the clients freed by one iteration, or by one round
    of LPU slots), served FCFS; an end that split a burst would keep its first
    arrivals, the ones served first, and drop the rest: -7% on an LPU's mean TTFT at
    a few waves. Arrival gaps do not depend on the outcomes being measured."""
    times = sorted(a for a in arrivals if warm_at <= a <= cool_down_at)
    reach = cycle_s / 2.0

    def widest_gap(lo: float, hi: float, default: float) -> float:
        best, at = 0.0, default
        for a, b in pairwise(times):
            if b > lo and a < hi and b - a > best:
                best, at = b - a, (a + b) / 2.0
        return at

    start = widest_gap(warm_at, warm_at + reach, warm_at)
    end = widest_gap(cool_down_at - reach, cool_down_at, cool_down_at)
    return (start, end) if end > start else (warm_at, cool_down_at)


def tokens_between(r: RequestResult, start: float, end: float) -> int:
    """Output tokens of `r` emitted in (start, end]. Token k of a finished request is
    emitted at first_token_at + k × tpot (evenly spaced: the mean gap)."""
    if r.first_token_at is None:
        return 0
    first, n = r.first_token_at, r.output_tokens
    if n == 1 or not r.tpot_s:
        return 1 if start < first <= end else 0
    step = r.tpot_s
    k_lo = max(0, math.floor((start - first) / step) + 1)
    k_hi = min(n - 1, math.floor((end - first) / step))
    return max(0, k_hi - k_lo + 1)


def predict(
    spec: DeploymentSpec,
    *,
    input_tokens: int,
    output_tokens: int,
    concurrency: int,
    requests: int | None = None,
    client_turnaround_ms: float = DEFAULT_CLIENT_TURNAROUND_MS,
    seed: int = 0,
) -> Prediction:
    """The steady-state prediction `georoute predict` prints."""
    if requests is not None and requests < 1:
        raise DeploymentError(f"requests must be positive, got {requests!r}")
    return run_closed_loop(
        spec, input_tokens=input_tokens, output_tokens=output_tokens,
        concurrency=concurrency, requests=requests,
        client_turnaround_ms=client_turnaround_ms, seed=seed,
    ).prediction


# --- other virtual-time workloads (used by `georoute calibrate`) ----------------------

DRAIN_UNTIL = 1e12  # "run to completion": far beyond any simulated horizon


def run_batch(spec: DeploymentSpec, lengths: list[tuple[int, int]]) -> list[RequestResult]:
    """All requests arrive at t=0 (static-batch and max-load benchmarks); run to the end."""
    engine = build_engine(spec)
    for i, (prompt, output) in enumerate(lengths):
        engine.submit(EngineRequest(
            request_id=f"b{i}", prompt_tokens=prompt, output_tokens=output, arrived_at=0.0,
        ))
    results: list[RequestResult] = []
    while len(results) < len(lengths):
        results.extend(engine.advance(DRAIN_UNTIL, record_tokens=False).finished)
    return results


def run_poisson(
    spec: DeploymentSpec,
    *,
    rate_rps: float,
    lengths: list[tuple[int, int]],
    rng: np.random.Generator,
) -> list[RequestResult]:
    """Open loop: Poisson arrivals at `rate_rps` (MLPerf Server), one request per entry."""
    require_positive(rate_rps=rate_rps)
    engine = build_engine(spec)
    gaps = rng.exponential(1.0 / rate_rps, size=len(lengths))
    arrivals = np.cumsum(gaps)
    results: list[RequestResult] = []
    for i, ((prompt, output), at) in enumerate(zip(lengths, arrivals, strict=True)):
        results.extend(engine.advance(float(at), record_tokens=False).finished)
        engine.submit(EngineRequest(
            request_id=f"p{i}", prompt_tokens=prompt, output_tokens=output, arrived_at=float(at),
        ))
    while len(results) < len(lengths):
        results.extend(engine.advance(DRAIN_UNTIL, record_tokens=False).finished)
    return results
