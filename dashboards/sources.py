"""Where the dashboard's snapshots come from: the `StatsSource` seam and the live router.

`HTTPSource` follows `GET /v1/router/events` (SSE, `data: {json}` lines), falls back
to polling `GET /v1/router/stats` when the router has no event stream, and when the
router goes away it says so in `status` and keeps retrying with a capped backoff.
`ReplaySource` (in `dashboards.replay`) rebuilds snapshots from a results database.
Tests give the app a fake source with the same protocol.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import aiohttp

from dashboards.actions import (
    ADMIN,
    Action,
    ActionResult,
    ReplayControl,
    SetPolicy,
    SetTraffic,
    SiteAction,
    SourceState,
    SourceStatus,
)
from router.stats_schema import RouterStats


class StatsSource(Protocol):
    """A stream of router snapshots plus the actions the operator can take on it."""

    label: str  # shown in the header: a URL or a database and run
    capabilities: frozenset[str]  # ADMIN and/or REPLAY

    @property
    def status(self) -> SourceStatus: ...

    def snapshots(self) -> AsyncIterator[RouterStats]: ...

    async def act(self, action: Action) -> ActionResult: ...

    async def aclose(self) -> None: ...


class _NoEventStreamError(Exception):
    """The router answered, but not with an event stream: poll instead."""


def error_message(status: int, body: str) -> tuple[str, str | None]:
    """The message and code of an OpenAI-style error body, or the raw text."""
    try:
        err = json.loads(body)["error"]
        return str(err.get("message") or body), (str(err["code"]) if err.get("code") else None)
    except (ValueError, KeyError, TypeError):
        return (body.strip()[:200] or f"HTTP {status}"), None


class HTTPSource:
    """Follow a running router over HTTP; act through its admin API with a bearer token."""

    capabilities = frozenset({ADMIN})

    def __init__(
        self,
        router_url: str,
        token: str | None = None,
        *,
        poll_interval_s: float = 0.5,
        events_interval_s: float = 0.5,
        max_backoff_s: float = 5.0,
        read_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = router_url.rstrip("/")
        self.label = self.base
        self.token = token
        self.poll_interval_s = poll_interval_s
        self.events_interval_s = events_interval_s  # the router's default is 1 s
        self.max_backoff_s = max_backoff_s
        self.read_timeout_s = read_timeout_s
        self.clock = clock
        self.use_sse = True
        self._status = SourceStatus(state="connecting", detail=self.base, since_at=clock())
        self._session: aiohttp.ClientSession | None = None

    @property
    def status(self) -> SourceStatus:
        return self._status

    def _set(self, state: SourceState, detail: str = "") -> None:
        if state != self._status.state or detail != self._status.detail:
            since = self._status.since_at if state == self._status.state else self.clock()
            self._status = SourceStatus(state=state, detail=detail, since_at=since)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=None, connect=3, sock_read=self.read_timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def snapshots(self) -> AsyncIterator[RouterStats]:
        backoff = self.poll_interval_s
        failures = 0
        while True:
            try:
                if self.use_sse:
                    async for stats in self._follow_events():
                        backoff, failures = self.poll_interval_s, 0
                        yield stats
                    continue  # stream ended ([DONE] or closed): reconnect at once
                stats = await self._poll()
                backoff, failures = self.poll_interval_s, 0
                yield stats
                await asyncio.sleep(self.poll_interval_s)
            except _NoEventStreamError as exc:
                self.use_sse = False
                self._set("polling", str(exc))
            except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
                failures += 1
                self._set(
                    "unreachable",
                    f"retry {failures} in {backoff:.1f}s: {self._reason(exc)}",
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    def _reason(self, exc: BaseException) -> str:
        """A short why for the header (aiohttp's own messages run to a line or more)."""
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
            return "connection lost"
        if isinstance(exc, TimeoutError):
            return f"no data for {self.read_timeout_s:g}s"
        if isinstance(exc, aiohttp.ClientResponseError):
            return f"HTTP {exc.status}"
        return (str(exc) or type(exc).__name__)[:80]

    async def _follow_events(self) -> AsyncIterator[RouterStats]:
        url = f"{self.base}/v1/router/events?interval_s={self.events_interval_s:g}"
        async with self._client().get(url, headers={"Accept": "text/event-stream"}) as resp:
            ctype = resp.headers.get("Content-Type", "")
            if resp.status in (404, 405, 501) or (
                resp.status == 200 and not ctype.startswith("text/event-stream")
            ):
                raise _NoEventStreamError(f"no event stream (HTTP {resp.status}); polling")
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=resp.reason or ""
                )
            self._set("live", "events")
            data: list[str] = []
            async for raw in resp.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif not line and data:
                    payload = "\n".join(data)
                    data = []
                    if payload == "[DONE]":
                        return
                    yield json.loads(payload)

    async def _poll(self) -> RouterStats:
        async with self._client().get(f"{self.base}/v1/router/stats") as resp:
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, (), status=resp.status, message=resp.reason or ""
                )
            stats: RouterStats = await resp.json()
        self._set("polling", "stats")
        return stats

    async def act(self, action: Action) -> ActionResult:
        body: dict[str, Any]
        match action:
            case SetPolicy(policy=p):
                path, body = "/v1/router/admin/policy", {"policy": p}
            case SiteAction(site=s, op=op):
                path, body = f"/v1/router/admin/sites/{s}/{op}", {}
            case SetTraffic(rate_rps=r, paused=p):
                path, body = "/v1/router/admin/traffic", {"rate_rps": r, "paused": p}
            case ReplayControl():
                return ActionResult(ok=False, message="a live router cannot seek or replay")
        return await self._post(path, body)

    async def _post(self, path: str, body: dict[str, Any]) -> ActionResult:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with self._client().post(
                f"{self.base}{path}", json=body, headers=headers
            ) as resp:
                text = await resp.text()
                if resp.status < 400:
                    return ActionResult(ok=True, message=_ok_message(text))
                message, code = error_message(resp.status, text)
                return ActionResult(ok=False, message=f"HTTP {resp.status}: {message}", code=code)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return ActionResult(
                ok=False, message=f"router unreachable: {exc or type(exc).__name__}"
            )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _ok_message(text: str) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return "ok"
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return "ok"
