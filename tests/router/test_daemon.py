"""Daemon edges: bad input rejected before forwarding exactly as a site rejects it,
the client location header, overload (429 + Retry-After), and the read endpoints
(stats in the schema's shape, SSE events, Prometheus)."""

from __future__ import annotations

import asyncio
import io
import json

import aiohttp
import pytest
from routerkit import MODEL, cluster, stream_once, until

from router.stats_schema import RouterStats
from router.store import ResultsStore

CHAT = "/v1/chat/completions"
BAD_BODIES = [
    ("not json", CHAT),
    (json.dumps({"model": MODEL}), CHAT),
    (json.dumps({"model": MODEL, "messages": []}), CHAT),
    (
        json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}
        ),
        CHAT,
    ),
    (
        json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**7}
        ),
        CHAT,
    ),
    (json.dumps({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}), CHAT),
    (json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 2}), CHAT),
    (json.dumps({"model": MODEL}), "/v1/completions"),
    ("x" * (1 << 20 | 1), CHAT),
]


async def raw_post(url: str, data: str, headers: dict | None = None) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            url,
            data=io.BytesIO(data.encode()),
            headers={"Content-Type": "application/json", **(headers or {})},
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_router_rejects_bad_bodies_like_the_sites(tmp_path):
    db = tmp_path / "bad.db"
    async with cluster(db_path=db) as c:
        site_url = c.site_urls["ireland"]
        for data, path in BAD_BODIES:
            site_status, site_body = await raw_post(site_url + path, data)
            status, body = await raw_post(c.router_url + path, data)
            assert 400 <= site_status < 500
            assert (status, body) == (site_status, site_body), data[:80]
        # Nothing reached a site: their engines never saw a request.
        assert all(s.in_flight == 0 for s in c.state.sites.values())
        run_id = c.run_id
    store = ResultsStore(db)
    rows = store.requests(run_id)
    assert len(rows) == len(BAD_BODIES)
    assert {r["status"] for r in rows} == {"rejected"}
    store.close()


@pytest.mark.parametrize("location", ["Atlantis-on-Mars", "91,0", "12,abc"])
async def test_bad_client_location_is_a_400_naming_the_header(location):
    async with cluster() as c:
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
        status, err = await raw_post(c.router_url + CHAT, body, {"X-Client-Location": location})
        assert status == 400
        assert err["error"]["param"] == "X-Client-Location"
        assert "X-Client-Location" in err["error"]["message"]


async def test_missing_location_uses_the_default_place():
    async with cluster(policy="nearest", default_place="Tokyo") as c:
        client = c.client(None)
        _, b, _ = await stream_once(client, max_tokens=2)
        assert b["site"] == "riyadh-1"
        await client.close()


async def test_overload_is_a_429_with_retry_after():
    async with cluster(policy="nearest", max_in_flight_per_site=1) as c:
        streams = aiohttp.ClientSession()
        long_body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 3000,
            "stream": True,
        }
        long = [
            await streams.post(
                c.router_url + CHAT, json=long_body, headers={"X-Client-Location": "Paris"}
            )
            for _ in range(3)
        ]
        await until(lambda: sum(s.in_flight for s in c.state.sites.values()) == 3)
        # One each: the per-site bound of 1 pushed the 2nd and 3rd request elsewhere.
        assert {n: s.in_flight for n, s in c.state.sites.items()} == {
            "riyadh-1": 1,
            "ireland": 1,
            "virginia": 1,
        }
        body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
        async with (
            aiohttp.ClientSession() as s,
            s.post(c.router_url + CHAT, data=body, headers={"X-Client-Location": "Paris"}) as resp,
        ):
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "1"
            assert (await resp.json())["error"]["code"] == "overloaded"
        for resp in long:
            resp.close()
        await streams.close()
    async with cluster(policy="nearest", max_in_flight_total=1) as c:
        client = c.client("Paris")
        first = asyncio.create_task(stream_once(client, max_tokens=100))
        await until(lambda: c.state.in_flight == 1)
        status, _ = await raw_post(
            c.router_url + CHAT,
            json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "x"}]}),
        )
        assert status == 429
        await first
        await client.close()


async def test_stats_events_metrics_and_models():
    async with cluster(policy="nearest") as c:
        client = c.client("Paris")
        await stream_once(client, max_tokens=5)
        tokyo = c.client("Tokyo")
        await stream_once(tokyo, max_tokens=5)
        await tokyo.close()
        async with aiohttp.ClientSession() as s:
            async with s.get(c.router_url + "/v1/router/stats") as resp:
                stats = await resp.json()
            assert set(stats) == set(RouterStats.__annotations__)
            assert stats["policy"] == "nearest"
            assert stats["requests"]["ok"] == 2
            by_site = {x["name"]: x for x in stats["sites"]}
            assert by_site["ireland"]["requests"] == 1
            assert by_site["riyadh-1"]["kind"] == "lpu"
            regions = {r["region"]: r for r in stats["regions"]}
            assert regions["Europe"]["share"] == {"ireland": 1.0}
            assert regions["Asia"]["share"] == {"riyadh-1": 1.0}

            async with s.get(c.router_url + "/v1/router/events?interval_s=0.1") as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                events = []
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))
                    if len(events) == 2:
                        break
            assert events[1]["at"] > events[0]["at"]
            assert events[0]["requests"]["ok"] == 2

            async with s.get(c.router_url + "/metrics") as resp:
                text = await resp.text()
            assert 'georoute_router_requests_total{site="ireland",status="ok"} 1.0' in text
            assert 'georoute_router_in_flight{site="virginia"} 0.0' in text

            async with s.get(c.router_url + "/v1/models") as resp:
                assert [m["id"] for m in (await resp.json())["data"]] == [MODEL]
            async with s.get(c.router_url + "/v1/nothing") as resp:
                assert resp.status == 404
                assert (await resp.json())["error"]["code"] == "not_found"
        await client.close()


async def test_network_simulation_off_adds_no_legs():
    async with cluster(policy="nearest", simulate_network=False) as c:
        client = c.client("Tokyo")
        _, b, _ = await stream_once(client, max_tokens=30)
        assert (b["handshake_ms"], b["net_up_ms"], b["net_down_ms"]) == (0.0, 0.0, 0.0)
        assert b["site"] == "riyadh-1"
        assert b["decode_ms"] > 0
        await client.close()


async def test_client_disconnect_mid_stream_is_recorded_and_frees_the_site(tmp_path):
    db = tmp_path / "gone.db"
    async with cluster(policy="nearest", db_path=db) as c:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 3000,
            "stream": True,
        }
        async with aiohttp.ClientSession() as s:
            resp = await s.post(
                c.router_url + CHAT, json=body, headers={"X-Client-Location": "Paris"}
            )
            assert resp.status == 200
            await resp.content.readline()
            await resp.content.readline()
            resp.close()  # the client goes away mid-stream
        await until(lambda: c.state.in_flight == 0)
        ireland = c.site_apps["ireland"]
        from sites.server.keys import RUNTIME

        await until(lambda: ireland[RUNTIME].engine.load().running == 0)
        run_id = c.run_id
    store = ResultsStore(db)
    (row,) = store.requests(run_id)
    assert row["status"] == "cancelled"
    assert row["site"] == "ireland"
    store.close()


async def test_city_database_is_loaded_before_the_router_serves():
    """The GeoNames table (about 1 s to load) must not load inside a request, where it
    would stall every open stream on the event loop."""
    from router.geo import citydb

    citydb.load.cache_clear()
    async with cluster(policy="nearest") as c:
        assert citydb.load.cache_info().currsize == 1
        client = c.client("Atlantis")  # only in GeoNames (Western Cape, South Africa)
        _, b, _ = await stream_once(client, max_tokens=2)
        assert b["site"] == "riyadh-1"  # nearest to the Cape, of Riyadh, Dublin, Ashburn
        await client.close()
