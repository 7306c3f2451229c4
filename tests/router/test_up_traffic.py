"""The traffic generator of `georoute up` keeps connections alive per client place,
and the router charges the simulated handshakes exactly to the connections the
generator opened (pool growth, plus the configured share of new users)."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest
from routerkit import MODEL, cluster

from router.store import ResultsStore
from router.traffic import FixedLength, PairedLengths, Population
from router.up_traffic import TrafficGenerator


def generator(url: str, share: float) -> TrafficGenerator:
    return TrafficGenerator(
        url,
        population=Population.from_places([("Paris", 2.0, None), ("Singapore", 1.0, None)]),
        lengths=PairedLengths(prompt=FixedLength(tokens=50), output=FixedLength(tokens=4)),
        model=MODEL,
        rate_rps=40.0,
        rng=np.random.default_rng(7),
        new_connection_share=share,
    )


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
async def test_handshakes_are_charged_to_new_connections_only(tmp_path, share):
    db = tmp_path / "traffic.db"
    async with cluster(db_path=db) as c:
        assert c.state.simulate_network
        gen = generator(c.router_url, share)
        gen.start()
        await asyncio.sleep(1.2)
        await gen.stop(30.0)
        await c.flush()
        run_id = c.run_id
    store = ResultsStore(db)
    rows = store.requests(run_id)
    store.close()
    assert gen.sent >= 20
    assert len(rows) == gen.sent
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["client_place"] for r in rows} == {"Paris", "Singapore"}
    charged = sum(1 for r in rows if r["handshake_ms"] > 0)
    assert charged == gen.connections_opened
    if share == 1.0:
        assert charged == gen.sent  # every request a new user
    else:
        assert 2 <= charged < gen.sent  # at least one per place's pool, then reuse
    if share == 0.0:  # only pool growth: at most the peak in flight, far below sent
        assert charged <= gen.sent // 2


def test_new_connection_share_must_be_a_share():
    with pytest.raises(ValueError, match="new_connection_share"):
        generator("http://127.0.0.1:1", 1.5)


async def test_a_connection_pays_the_handshakes_once_even_if_its_first_request_fails():
    """Kept-alive connection: the first request (rejected: bad location) had the
    handshakes; the next request on it pays none; a new connection pays them again."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    url_path = "/v1/chat/completions"
    async with cluster() as c:
        url = c.router_url + url_path
        conn = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=conn) as s:
            async with s.post(url, json=body, headers={"X-Client-Location": "91,0"}) as r:
                assert r.status == 400
                await r.read()
            async with s.post(url, json=body, headers={"X-Client-Location": "Paris"}) as r:
                assert r.status == 200
                reused = (await r.json())["georoute"]
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, json=body, headers={"X-Client-Location": "Paris"}) as r,
        ):
            fresh = (await r.json())["georoute"]
    assert reused["handshake_ms"] == 0.0
    assert fresh["handshake_ms"] > 0.0
