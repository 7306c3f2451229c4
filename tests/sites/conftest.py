"""Fixtures for the site-server tests: a site backed by the fixed-rate test engine,
served by pytest-aiohttp on 127.0.0.1, and the official OpenAI client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openai import AsyncOpenAI
from site_fakes import FixedRateEngine

from sites.server.app import make_app
from sites.server.driver import Pacing
from sites.server.keys import RUNTIME
from sites.server.runtime import SiteRuntime
from sites.topology import SiteConfig

MODEL = "llama-3.1-8b"
TOKEN = "test-admin-token"
SITE = SiteConfig(name="test-site", place="Riyadh", hardware="h100-sxm", model=MODEL)


@dataclass
class LiveSite:
    engine: FixedRateEngine
    server: TestServer
    http: TestClient
    openai: AsyncOpenAI

    @property
    def runtime(self) -> SiteRuntime:
        return self.server.app[RUNTIME]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


SiteFactory = Callable[..., Awaitable[LiveSite]]


@pytest.fixture
async def make_site(aiohttp_server, aiohttp_client) -> AsyncIterator[SiteFactory]:
    clients: list[AsyncOpenAI] = []

    async def factory(
        engine: FixedRateEngine | None = None,
        *,
        site: SiteConfig = SITE,
        admin_token: str | None = TOKEN,
        pacing: Pacing | None = None,
    ) -> LiveSite:
        engine = engine if engine is not None else FixedRateEngine(prefill_s=0.01, tpot_s=0.002)
        app: web.Application = make_app(site, engine=engine, admin_token=admin_token, pacing=pacing)
        server = await aiohttp_server(app, host="127.0.0.1")
        http = await aiohttp_client(server)
        client = AsyncOpenAI(
            base_url=f"http://127.0.0.1:{server.port}/v1", api_key="unused", max_retries=0
        )
        clients.append(client)
        return LiveSite(engine, server, http, client)

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
async def live(make_site: SiteFactory) -> LiveSite:
    return await make_site()
