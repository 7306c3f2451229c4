"""Active health checks: poll every site's `/health` every interval.

A 200 with status ready/ok/healthy marks the site healthy and refreshes its load
(queued, running, max_running...); "draining" or "failed" in the body, a non-200, a
timeout or a refused connection mark it accordingly. Passive ejection (consecutive
request errors, with a cooldown) lives in `RouterState.site_error`; an ejected site
comes back when the cooldown ends and its next poll succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from router.daemon.keys import RECORDER, ROUTER, SESSION
from router.daemon.recorder import Recorder
from router.daemon.state import LiveSite, RouterState
from router.stats_schema import Health

_HEALTHY = {"ok", "ready", "healthy", "serving"}
_LOAD_INT = ("queued", "running", "max_running", "queued_prompt_tokens")
_LOAD_FLOAT = ("kv_used_fraction", "tokens_per_s")


def parse_health(status: int, body: Any) -> tuple[Health, dict[str, float]]:
    """(health, load fields) from a /health response."""
    if not isinstance(body, dict):
        return ("failed", {})
    word = str(body.get("status", "")).lower()
    if word == "draining":
        health: Health = "draining"
    elif status == 200 and (word in _HEALTHY or not word):
        health = "healthy"
    else:
        health = "failed"
    nested = body.get("load")
    load_src: dict[str, Any] = nested if isinstance(nested, dict) else body
    load: dict[str, float] = {}
    for key in (*_LOAD_INT, *_LOAD_FLOAT):
        value = load_src.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            load[key] = value
    return health, load


def apply_health(
    state: RouterState, site: LiveSite, health: Health, load: dict[str, float]
) -> None:
    before = site.polled
    site.polled = health
    for key in _LOAD_INT:
        if key in load:
            setattr(site, key, int(load[key]))
    for key in _LOAD_FLOAT:
        if key in load:
            setattr(site, key, float(load[key]))
    site.max_running = max(site.max_running, 1)
    if before != health:
        if health == "healthy" and before != "unknown":
            state.event("site-restored", site.name, f"{site.name} is healthy again")
        elif health == "failed":
            state.event("site-failed", site.name, f"{site.name} failed its health check")
        elif health == "draining":
            state.event("site-drained", site.name, f"{site.name} reports draining")


async def check_site(
    state: RouterState, session: aiohttp.ClientSession, site: LiveSite, timeout_s: float
) -> None:
    try:
        async with session.get(
            f"{site.url}/health", timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            health, load = parse_health(resp.status, body)
    except (aiohttp.ClientError, TimeoutError, OSError):
        health, load = "failed", {}
    apply_health(state, site, health, load)


async def poll_once(state: RouterState, session: aiohttp.ClientSession, timeout_s: float) -> None:
    await asyncio.gather(*(check_site(state, session, s, timeout_s) for s in state.sites.values()))


def samples(state: RouterState, at: float) -> list[dict[str, Any]]:
    """One `site_samples` row per site (Unix time `at`)."""
    now = time.monotonic()
    return [
        {
            "at": at,
            "site": s.name,
            "healthy": int(s.health(now) == "healthy"),
            "in_flight": s.in_flight,
            "queued": s.queued,
            "running": s.running,
            "kv_used_fraction": s.kv_used_fraction,
            "tokens_per_s": s.tokens_per_s,
        }
        for s in state.sites.values()
    ]


async def poll_forever(
    state: RouterState,
    session: aiohttp.ClientSession,
    interval_s: float,
    timeout_s: float,
    recorder: Recorder | None = None,
) -> None:
    """Poll every `interval_s` (the app polled once already before serving) and record
    a sample of every site after each poll."""
    while True:
        await asyncio.sleep(interval_s)
        await poll_once(state, session, min(timeout_s, interval_s))
        if recorder is not None:
            recorder.add_samples(samples(state, time.time()))


def health_ctx(interval_s: float, timeout_s: float) -> Any:
    """cleanup_ctx entry running the poller for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(
            poll_forever(app[ROUTER], app[SESSION], interval_s, timeout_s, app[RECORDER])
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx
