"""The client traffic generator of `georoute up` (shell: aiohttp client).

Open loop: Poisson arrivals at `rate_rps` (exponential gaps drawn at the current rate,
so a rate change applies from the next gap), each request from a client group picked
by weight, prompt and output lengths from `router.traffic` (lognormals fitted to the
Azure 2023 conversation trace by default), streamed. Seeded by one numpy Generator.

Connections: like real clients, each client place keeps its connections alive in its
own pool (a connection carries one place's users), so the simulated TCP and TLS
handshakes that the router charges to a new connection are paid only when a pool
opens one (more requests in flight from that place than idle connections). On top,
a share `new_connection_share` of requests comes from a new user on a fresh
connection (closed after the response). `connections_opened` counts every connection
the generator opened: the router charges exactly these the handshakes.

Accounting: `sent` counts requests handed to the HTTP client; `stop()` lets every one
of them finish (bounded by a timeout) before the router is shut down, so the router's
rows and `sent` agree even after SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import aiohttp
import numpy as np

from router.config import TrafficSettings
from router.traffic import FixedLength, PairedLengths, Population, azure_conversation_lengths

PROMPT_TEXT = "Summarise the trade-offs of serving this request far away on fast hardware."


def lengths_for(settings: TrafficSettings) -> PairedLengths:
    if settings.lengths == "fixed":
        return PairedLengths(
            prompt=FixedLength(tokens=settings.prompt_tokens),
            output=FixedLength(tokens=settings.output_tokens),
        )
    return azure_conversation_lengths()


class TrafficGenerator:
    def __init__(
        self,
        router_url: str,
        *,
        population: Population,
        lengths: PairedLengths,
        model: str,
        rate_rps: float,
        rng: np.random.Generator,
        max_output_tokens: int = 600,
        stream: bool = True,
        new_connection_share: float = 0.1,
    ) -> None:
        if not 0.0 <= new_connection_share <= 1.0:
            raise ValueError(f"new_connection_share must be in [0, 1], got {new_connection_share}")
        self.url = router_url.rstrip("/") + "/v1/chat/completions"
        self.population = population
        self.lengths = lengths
        self.model = model
        self._rate_rps = rate_rps
        self._paused = False
        self.rng = rng
        self.max_output_tokens = max_output_tokens
        self.stream = stream
        self.new_connection_share = new_connection_share
        self.sent = 0
        self.connections_opened = 0
        self.outcomes: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._pools: dict[str, aiohttp.ClientSession] = {}  # place -> keep-alive pool
        self._fresh: aiohttp.ClientSession | None = None  # one new connection per request
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def rate_rps(self) -> float:
        return self._rate_rps

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def set(self, *, rate_rps: float | None = None, paused: bool | None = None) -> None:
        if rate_rps is not None:
            self._rate_rps = rate_rps
        if paused is not None:
            self._paused = paused
        self._wake.set()

    def start(self) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_connection_create_end.append(self._opened)
        for group in self.population.groups:
            self._pools.setdefault(
                group.place.name,
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0), trace_configs=[trace]
                ),
            )
        self._fresh = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True), trace_configs=[trace]
        )
        self._loop_task = asyncio.create_task(self._run())

    async def _opened(self, *_: object) -> None:
        self.connections_opened += 1

    async def _run(self) -> None:
        weights = self.population.weights / self.population.weights.sum()
        while not self._stopping:
            if self._paused:
                self._wake.clear()
                await self._wake.wait()
                continue
            gap_s = float(self.rng.exponential(1.0 / self._rate_rps))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), gap_s)
                continue  # rate or pause changed: draw a fresh gap
            if self._stopping:
                break
            group = self.population.groups[int(self.rng.choice(len(weights), p=weights))]
            prompt, output = self.lengths.sample(self.rng, 1)
            body = {
                "model": self.model,
                "messages": [{"role": "user", "content": PROMPT_TEXT}],
                "max_tokens": int(min(max(int(output[0]), 1), self.max_output_tokens)),
                "stream": self.stream,
                "georoute": {"prompt_tokens": int(max(int(prompt[0]), 1))},
            }
            if self.stream:
                body["stream_options"] = {"include_usage": True}
            fresh = bool(self.rng.random() < self.new_connection_share)
            self.sent += 1
            task = asyncio.create_task(self._one(group.place.name, body, fresh=fresh))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _one(self, place: str, body: dict[str, Any], *, fresh: bool = False) -> None:
        session = self._fresh if fresh else self._pools[place]
        assert session is not None
        try:
            async with session.post(
                self.url, json=body, headers={"X-Client-Location": place}
            ) as resp:
                async for _ in resp.content.iter_any():
                    pass
                self.outcomes["ok" if resp.status == 200 else f"http-{resp.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.outcomes[type(exc).__name__] += 1

    async def stop(self, timeout_s: float = 120.0) -> None:
        """No new requests; wait for the open ones (cancel after `timeout_s`)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for session in (*self._pools.values(), self._fresh):
            if session is not None:
                await session.close()
        self._pools, self._fresh = {}, None
