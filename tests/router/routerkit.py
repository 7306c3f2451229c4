"""Helpers for the router's end-to-end tests: in-process sites and a router, on
127.0.0.1 through aiohttp's TestServer, torn down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

from router.config import RouterConfig, RouterSettings
from router.daemon import make_app
from router.daemon.keys import RECORDER, ROUTER
from router.daemon.state import RouterState
from sites.server.app import make_app as make_site
from sites.topology import SiteConfig

TOKEN = "test-admin-token"
MODEL = "llama-3.1-8b"
BREAKDOWN_KEYS = (
    "handshake_ms",
    "net_up_ms",
    "router_ms",
    "queue_ms",
    "prefill_ms",
    "decode_ms",
    "net_down_ms",
)


def site(name: str, place: str, hardware: str, **kw: Any) -> SiteConfig:
    return SiteConfig(name=name, place=place, hardware=hardware, model=MODEL, **kw)


DEFAULT_SITES = (
    site("riyadh-1", "Riyadh", "groq-lpu"),
    site("ireland", "Dublin", "h100-sxm"),
    site("virginia", "Ashburn", "h100-sxm"),
)


@dataclass
class Cluster:
    router_url: str
    app: web.Application
    site_urls: dict[str, str]
    site_apps: dict[str, web.Application]
    servers: list[TestServer] = field(default_factory=list)
    run_id: str = ""

    @property
    def state(self) -> RouterState:
        return self.app[ROUTER]

    def client(self, place: str | None = "Paris", **kw: Any) -> AsyncOpenAI:
        """An openai client; `client.sent_at[-1]` is when its last request left (an
        httpx hook, so the client library's own preparation is not counted as E2E)."""
        headers = {"X-Client-Location": place} if place else {}
        sent_at: list[float] = []

        async def mark(request: Any) -> None:
            sent_at.append(time.perf_counter())

        client = AsyncOpenAI(
            base_url=self.router_url + "/v1",
            api_key="unused",
            default_headers=headers,
            max_retries=0,
            http_client=DefaultAsyncHttpxClient(event_hooks={"request": [mark]}),
            **kw,
        )
        client.sent_at = sent_at  # type: ignore[attr-defined]
        return client

    async def flush(self) -> None:
        await self.app[RECORDER].flush()


@contextlib.asynccontextmanager
async def cluster(
    *, sites: tuple[SiteConfig, ...] = DEFAULT_SITES, db_path: Any = None, **settings: Any
) -> AsyncIterator[Cluster]:
    """Start the sites and a router in this event loop; stop them all on exit."""
    servers: list[TestServer] = []
    site_urls: dict[str, str] = {}
    site_apps: dict[str, web.Application] = {}
    try:
        for cfg in sites:
            app = make_site(cfg, admin_token=TOKEN)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            site_urls[cfg.name] = str(server.make_url("")).rstrip("/")
            site_apps[cfg.name] = app
        settings.setdefault("health_interval_s", 60.0)
        config = RouterConfig(file="<test>", sites=sites, router=RouterSettings(**settings))
        box: dict[str, str] = {}
        router_app = make_app(
            config,
            site_urls=site_urls,
            admin_token=TOKEN,
            db_path=db_path,
            on_run=lambda run_id: box.setdefault("run", run_id),
        )
        router_server = TestServer(router_app, host="127.0.0.1")
        await router_server.start_server()
        servers.append(router_server)
        yield Cluster(
            router_url=str(router_server.make_url("")).rstrip("/"),
            app=router_app,
            site_urls=site_urls,
            site_apps=site_apps,
            servers=servers,
            run_id=box.get("run", ""),
        )
    finally:
        for server in reversed(servers):
            await server.close()


async def stream_once(
    client: AsyncOpenAI, *, max_tokens: int, **kw: Any
) -> tuple[float, dict, Any]:
    """One streamed chat request; (client-measured E2E ms from the moment the request
    left to the end of the stream, georoute breakdown, raw response)."""
    t0 = time.perf_counter()
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hello from a test"}],
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    stream = raw.parse()
    breakdown: dict = {}
    async for chunk in stream:
        extra = chunk.model_extra or {}
        if "georoute" in extra:
            breakdown = extra["georoute"]
    sent_at = getattr(client, "sent_at", None)
    if sent_at and sent_at[-1] >= t0:
        t0 = sent_at[-1]
    e2e_ms = (time.perf_counter() - t0) * 1000.0
    return e2e_ms, breakdown, raw


async def until(predicate: Any, timeout_s: float = 5.0) -> None:
    """Poll `predicate()` until it holds (fails the test after `timeout_s`)."""
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")
