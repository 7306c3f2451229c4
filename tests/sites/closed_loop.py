"""A closed-loop client for a live site, shaped like `georoute predict`'s workload:
`concurrency` clients each send a request of exact lengths (the `georoute` request
extension), read the stream to its end, and send the next at once. Shared by the
site-vs-predict test and the perf benchmark.

Client-side figures: TTFT = first content chunk minus send time; TPOT = (last content
chunk - first content chunk) / (output tokens - 1). The window is predict's
(sites/predict.py): the first `requests` requests are measured, the users keep sending
until all of them have finished, and the steady ones are those sent between the
`concurrency`-th completion and the last measured send, each end moved off any burst
of arrivals (`sites.predict.steady_window`). Each user's turnaround (its
previous last content chunk to this send: reading the end of the stream, reusing the
connection) is kept; it is the client's share of what `georoute predict
--client-turnaround-ms` models (the server's share, taking the request in, is not
visible here).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from statistics import fmean, median
from typing import Any

import aiohttp
from openai import AsyncOpenAI

from sites.predict import steady_window


@dataclass(frozen=True, slots=True)
class Sample:
    sent_at: float
    first_at: float
    last_at: float
    output_tokens: int
    site: dict[str, Any]
    turnaround_ms: float | None = None  # None: the user's first request
    # with the site's timing extension (bare client): its arrival stamp minus the send
    # (intake), and the first chunk's arrival minus its scheduled time (first-chunk lag)
    intake_ms: float | None = None
    first_lag_ms: float | None = None

    @property
    def ttft_ms(self) -> float:
        return (self.first_at - self.sent_at) * 1000.0

    @property
    def tpot_ms(self) -> float:
        return (self.last_at - self.first_at) * 1000.0 / max(self.output_tokens - 1, 1)


@dataclass(frozen=True, slots=True)
class LoopResult:
    samples: list[Sample]
    steady: list[Sample]

    def mean(self, field: str) -> float:
        return fmean(getattr(s, field) for s in self.steady)

    def site_mean(self, key: str) -> float:
        return fmean(s.site[key] for s in self.steady)

    def turnarounds_ms(self) -> list[float]:
        """Every measured client turnaround, sorted."""
        return sorted(s.turnaround_ms for s in self.samples if s.turnaround_ms is not None)

    def split_ms(self) -> tuple[float, float] | None:
        """Mean intake and first-chunk lag over the steady window (None without the
        timing extension): what the client's TTFT has on top of the site's schedule."""
        pairs = [
            (s.intake_ms, s.first_lag_ms)
            for s in self.steady
            if s.intake_ms is not None and s.first_lag_ms is not None
        ]
        if not pairs:
            return None
        return fmean(p[0] for p in pairs), fmean(p[1] for p in pairs)


async def one_request(
    client: AsyncOpenAI, model: str, input_tokens: int, output_tokens: int
) -> Sample:
    sent = time.monotonic()
    first = last = 0.0
    site: dict[str, Any] = {}
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "closed loop"}],
        max_tokens=output_tokens,
        stream=True,
        extra_body={"georoute": {"prompt_tokens": input_tokens}},
    )
    async for chunk in stream:
        now = time.monotonic()
        if chunk.choices and chunk.choices[0].delta.content:
            if not first:
                first = now
            last = now
        extra = chunk.model_extra or {}
        if "georoute" in extra:
            site = extra["georoute"]
    return Sample(sent, first, last, output_tokens, site)


async def one_raw_request(
    session: aiohttp.ClientSession, url: str, model: str, input_tokens: int, output_tokens: int
) -> Sample:
    """The same request through a bare aiohttp client: a few hundred microseconds of
    client overhead instead of the openai package's milliseconds."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "closed loop"}],
        "max_tokens": output_tokens,
        "stream": True,
        "georoute": {"prompt_tokens": input_tokens, "timing": True},
    }
    sent = time.monotonic()
    first = last = first_due = 0.0
    tail = b""
    async with session.post(url + "/v1/chat/completions", json=body) as resp:
        resp.raise_for_status()
        # whole reads, not lines: a read costs the same however many chunks it holds
        async for block in resp.content.iter_any():
            now = time.monotonic()
            tail = tail[-16384:] + block
            if b'"content":' in block:  # token chunks (not the usage chunk, not [DONE])
                if not first:
                    first = now
                    line = tail[tail.find(b"data: {") :].split(b"\n", 1)[0]
                    first_due = json.loads(line[6:]).get("georoute_t", 0.0)
                last = now
    at = tail.rfind(b'data: {', 0, tail.find(b'"georoute":{'))
    site: dict[str, Any] = json.loads(tail[at + 6 :].split(b"\n", 1)[0])["georoute"]
    arrived = site.get("arrived_t")
    return Sample(
        sent, first, last, output_tokens, site,
        intake_ms=(arrived - sent) * 1000.0 if arrived else None,
        first_lag_ms=(first - first_due) * 1000.0 if first_due else None,
    )


async def closed_loop(
    client: AsyncOpenAI | tuple[aiohttp.ClientSession, str],
    *,
    model: str,
    input_tokens: int,
    output_tokens: int,
    concurrency: int,
    requests: int,
) -> LoopResult:
    samples: list[Sample] = []
    sent = outstanding = 0

    async def user() -> None:
        nonlocal sent, outstanding
        previous: Sample | None = None
        while sent < requests or outstanding > 0:
            counted = sent < requests  # later ones only keep the load on
            sent += 1
            outstanding += counted
            if isinstance(client, AsyncOpenAI):
                sample = await one_request(client, model, input_tokens, output_tokens)
            else:
                sample = await one_raw_request(*client, model, input_tokens, output_tokens)
            if previous is not None:
                sample = replace(
                    sample, turnaround_ms=(sample.sent_at - previous.last_at) * 1000.0
                )
            if counted:
                samples.append(sample)
                outstanding -= 1
            previous = sample

    if not isinstance(client, AsyncOpenAI):  # open every connection before the clock starts
        session, url = client

        async def connect() -> None:
            async with session.get(url + "/health") as resp:
                await resp.read()

        await asyncio.gather(*(connect() for _ in range(concurrency)))
    await asyncio.gather(*(user() for _ in range(concurrency)))
    done = sorted(samples, key=lambda s: s.last_at)
    warm_at = done[min(concurrency, len(done)) - 1].last_at
    start, end = steady_window(
        [s.sent_at for s in done],
        warm_at=warm_at,
        cool_down_at=max(s.sent_at for s in samples),
        cycle_s=median(s.last_at - s.sent_at for s in done),
    )
    steady = [s for s in done if start <= s.sent_at <= end]
    return LoopResult(samples=done, steady=steady or done)
