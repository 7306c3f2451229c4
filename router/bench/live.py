"""Live mode: drive a running router over HTTP, following a scenario's traffic in real time.

Each `ClientRequest` is sent at its arrival time (relative to the start of the run) as
a streamed OpenAI chat completion with exactly its prompt length (the sites' request
extension `"georoute": {"prompt_tokens": N}`) and output length (`max_tokens`), from
its place (`X-Client-Location`). The client measures what a user sees: TTFT (first
content chunk), the gaps between chunks, TPOT (first to last token over the tokens in
between) and E2E (last token). Where the request went and why it took that long (the
`X-Georoute-Site` header and the `georoute` breakdown in the final chunk) come from the
router. Every request becomes one row of the results schema, whatever its fate.

Connections follow the scenario's `network.connection_reuse` like the simulator: each
request draws (from the run's connection stream) whether it rides a kept-alive
connection or opens a new one, which the router charges a TCP + TLS handshake. A
reusing request takes an idle connection from the keep-alive pool when there is one;
otherwise it too opens a new connection, and pays the handshake the simulator would not
charge it. `LiveConfig.warm_connections` opens that many kept-alive connections before
the schedule starts (one tiny request each: 1 prompt token, 1 output token, at the
router's default place), so that reusing requests find one, as the simulator assumes;
the pool keeps idle connections for `keepalive_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from router.traffic import ClientRequest

RowsCallback = Callable[[list[dict[str, Any]]], None]
ProgressCallback = Callable[[float], None]

PROMPT_TEXT = "Summarise the benchmark."  # content does not matter: the length is forced
LATE_MS = 5.0  # a send this far behind its schedule counts as late


@dataclass(slots=True)
class LiveResult:
    """Counts and client-side gap statistics of one live run."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    cancelled: int = 0
    wall_s: float = 0.0
    started_at: float = 0.0  # Unix time of the schedule's zero (rows' arrived_at are Unix)
    max_lateness_ms: float = 0.0  # how far behind schedule the client sent a request
    late_sends: int = 0  # requests sent more than LATE_MS behind schedule
    warmed: int = 0  # kept-alive connections the warm-up opened (see LiveConfig)
    chunk_gaps_ms: list[float] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConfig:
    router_url: str
    model: str
    policy: str
    connection_reuse: float = 0.0  # probability a request rides a kept-alive connection
    request_timeout_s: float = 600.0
    batch_rows: int = 200
    keep_gaps: int = 100_000  # chunk gaps kept for the summary (bounded memory)
    warm_connections: int = 0  # kept-alive connections opened before the schedule
    settle_s: float = 0.0  # pause after the warm-up (the router's stats forget it)
    keepalive_s: float = 3600.0  # idle kept-alive connections live this long


def _row(req: ClientRequest, policy: str, arrived_at: float) -> dict[str, Any]:
    """A row with the request's own facts; measurements are filled in as they come."""
    return {
        "request_id": req.request_id,
        "arrived_at": arrived_at,
        "client_place": req.place.name,
        "client_region": req.region,
        "client_lat": req.place.lat,
        "client_lon": req.place.lon,
        "site": None,
        "policy": policy,
        "prompt_tokens": req.prompt_tokens,
        "output_tokens": 0,
        "net_up_ms": None,
        "net_down_ms": None,
        "handshake_ms": None,
        "router_ms": None,
        "queue_ms": None,
        "prefill_ms": None,
        "decode_ms": None,
        "ttft_ms": None,
        "tpot_ms": None,
        "e2e_ms": None,
        "status": "failed",
        "error": "",
        "retries": 0,
        "energy_j": None,
        "cost_usd": None,
    }


_BREAKDOWN = (
    "net_up_ms",
    "net_down_ms",
    "handshake_ms",
    "router_ms",
    "queue_ms",
    "prefill_ms",
    "decode_ms",
    "energy_j",
    "cost_usd",
)


def apply_breakdown(row: dict[str, Any], info: dict[str, Any]) -> None:
    """Copy the router's `georoute` object (final chunk) into the row."""
    for key in _BREAKDOWN:
        if info.get(key) is not None:
            row[key] = float(info[key])
    if info.get("site"):
        row["site"] = str(info["site"])
    if info.get("retries") is not None:
        row["retries"] = int(info["retries"])


def _error_message(body: bytes) -> str:
    try:
        err = json.loads(body)["error"]
        return f"{err.get('code') or err.get('type')}: {err.get('message')}"
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")


class LiveDriver:
    """Sends the requests on schedule and turns each response into a row."""

    def __init__(self, config: LiveConfig, *, on_rows: RowsCallback | None = None) -> None:
        self.config = config
        self.on_rows = on_rows
        self.result = LiveResult()
        self._pending: list[dict[str, Any]] = []

    def _emit(self, row: dict[str, Any]) -> None:
        status = row["status"]
        if status == "ok":
            self.result.ok += 1
        elif status == "rejected":
            self.result.rejected += 1
        elif status == "cancelled":
            self.result.cancelled += 1
        else:
            self.result.failed += 1
        if self.on_rows is None:
            self.result.rows.append(row)
            return
        self._pending.append(row)
        if len(self._pending) >= self.config.batch_rows:
            self.flush()

    def flush(self) -> None:
        if self.on_rows is not None and self._pending:
            batch, self._pending = self._pending, []
            self.on_rows(batch)

    async def one(
        self, session: aiohttp.ClientSession, req: ClientRequest, t0: float, arrived_at: float
    ) -> None:
        row = _row(req, self.config.policy, arrived_at)
        try:
            await self._stream(session, req, t0, row)
        except asyncio.CancelledError:
            row["status"], row["error"] = "cancelled", "client stopped"
            self._emit(row)
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            row["status"], row["error"] = "failed", f"{type(exc).__name__}: {exc}"[:300]
        self._emit(row)

    async def _stream(
        self, session: aiohttp.ClientSession, req: ClientRequest, t0: float, row: dict[str, Any]
    ) -> None:
        body = {
            "model": self.config.model,
            "messages": [{"role": "user", "content": PROMPT_TEXT}],
            "max_tokens": req.output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "georoute": {"prompt_tokens": req.prompt_tokens},
        }
        headers = {"X-Client-Location": req.place.name}
        url = self.config.router_url.rstrip("/") + "/v1/chat/completions"
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
        async with session.post(url, json=body, headers=headers, timeout=timeout) as resp:
            row["site"] = resp.headers.get("X-Georoute-Site")
            if resp.status != 200:
                row["status"] = "rejected" if resp.status == 429 else "failed"
                row["error"] = f"HTTP {resp.status}: {_error_message(await resp.read())}"[:300]
                return
            first_at = last_at = None
            chunks = 0
            completion_tokens = None
            stream_error = ""
            done = False
            async for raw in resp.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if done or data == b"[DONE]":
                    # read on to the end of the body (ignoring anything after [DONE]):
                    # a response released before its end closes the connection instead
                    # of returning it to the pool, and the next reusing request would
                    # open (and pay for) a new one
                    done = True
                    continue
                now = time.perf_counter()
                chunk = json.loads(data)
                if "error" in chunk:
                    stream_error = _error_message(data)
                    continue
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or ()):
                    if (
                        last_at is not None
                        and len(self.result.chunk_gaps_ms) < self.config.keep_gaps
                    ):
                        self.result.chunk_gaps_ms.append((now - last_at) * 1000.0)
                    first_at = now if first_at is None else first_at
                    last_at = now
                    chunks += 1
                usage = chunk.get("usage")
                if usage and usage.get("completion_tokens") is not None:
                    completion_tokens = int(usage["completion_tokens"])
                if isinstance(chunk.get("georoute"), dict):
                    apply_breakdown(row, chunk["georoute"])
        if stream_error or first_at is None or last_at is None:
            row["status"], row["error"] = "failed", stream_error or "no token received"
            return
        tokens = completion_tokens if completion_tokens is not None else chunks
        row["output_tokens"] = tokens
        row["ttft_ms"] = (first_at - t0) * 1000.0
        row["e2e_ms"] = (last_at - t0) * 1000.0
        row["tpot_ms"] = (last_at - first_at) * 1000.0 / (tokens - 1) if tokens > 1 else 0.0
        row["status"] = "ok"

    async def warm_up(self, session: aiohttp.ClientSession, n: int) -> int:
        """Open `n` kept-alive connections at once (one tiny request each, read to the
        end so the connection goes back to the pool); returns how many succeeded."""
        body = {
            "model": self.config.model,
            "messages": [{"role": "user", "content": PROMPT_TEXT}],
            "max_tokens": 1,
            "georoute": {"prompt_tokens": 1},
        }
        url = self.config.router_url.rstrip("/") + "/v1/chat/completions"
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)

        async def one() -> bool:
            try:
                async with session.post(url, json=body, timeout=timeout) as resp:
                    await resp.read()
                    return resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                return False

        return sum(await asyncio.gather(*(one() for _ in range(n))))

    async def run(
        self,
        requests: Iterable[ClientRequest],
        *,
        duration_s: float | None = None,
        progress: ProgressCallback | None = None,
        reuse_rng: np.random.Generator | None = None,
    ) -> LiveResult:
        """Send every request at its time; return when all have finished."""
        reuse = self.config.connection_reuse
        if reuse > 0 and reuse_rng is None:
            raise ValueError("connection_reuse > 0 needs reuse_rng")
        tasks: set[asyncio.Task[None]] = set()
        fresh = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True))
        kept = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=self.config.keepalive_s)
        )
        async with fresh, kept:
            if reuse > 0 and self.config.warm_connections > 0:
                self.result.warmed = await self.warm_up(kept, self.config.warm_connections)
                if self.config.settle_s > 0:
                    await asyncio.sleep(self.config.settle_s)
            # the client's clock: perf_counter, not loop.time() (uvloop's has 1 ms steps)
            start_pc = time.perf_counter()
            wall_start = time.time()
            self.result.started_at = wall_start
            try:
                for req in requests:
                    warm = reuse > 0 and reuse_rng is not None and reuse_rng.random() < reuse
                    session = kept if warm else fresh
                    delay = start_pc + req.at_s - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    t0 = time.perf_counter()
                    late_ms = (t0 - start_pc - req.at_s) * 1000.0
                    self.result.max_lateness_ms = max(self.result.max_lateness_ms, late_ms)
                    self.result.late_sends += late_ms > LATE_MS
                    arrived_at = wall_start + t0 - start_pc
                    task = asyncio.create_task(self.one(session, req, t0, arrived_at))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    self.result.sent += 1
                    if progress is not None and duration_s:
                        progress(min(req.at_s / duration_s, 1.0))
                while tasks:
                    await asyncio.wait(set(tasks))
            finally:
                for task in list(tasks):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*tasks, return_exceptions=True)
                self.flush()
        self.result.wall_s = time.perf_counter() - start_pc
        if progress is not None:
            progress(1.0)
        return self.result


async def drive(
    config: LiveConfig,
    requests: Iterable[ClientRequest],
    *,
    on_rows: RowsCallback | None = None,
    duration_s: float | None = None,
    progress: ProgressCallback | None = None,
    reuse_rng: np.random.Generator | None = None,
) -> LiveResult:
    """Run the live client: `on_rows` gets batches (None keeps rows in the result)."""
    driver = LiveDriver(config, on_rows=on_rows)
    return await driver.run(requests, duration_s=duration_s, progress=progress, reuse_rng=reuse_rng)
