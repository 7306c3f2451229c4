"""Admin endpoints: each action with the right token, a wrong one and none. Without
the right token: 401 and nothing changes."""

from __future__ import annotations

import time

import aiohttp
import pytest
from routerkit import TOKEN, cluster, stream_once

GOOD = {"Authorization": f"Bearer {TOKEN}"}
BAD_HEADERS = [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]


class FakeTraffic:
    def __init__(self) -> None:
        self.rate_rps, self.paused = 2.0, False

    def set(self, *, rate_rps=None, paused=None) -> None:
        if rate_rps is not None:
            self.rate_rps = rate_rps
        if paused is not None:
            self.paused = paused


async def post(url: str, headers: dict, body: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def site_health(url: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/health") as resp:
        return (await resp.json())["status"]


@pytest.mark.parametrize("headers", BAD_HEADERS)
async def test_without_the_token_nothing_changes(headers):
    async with cluster(policy="nearest") as c:
        base = c.router_url + "/v1/router/admin"
        status, body = await post(f"{base}/policy", headers, {"policy": "fastest"})
        assert status == 401
        assert body["error"]["type"] == "authentication_error"
        assert c.state.policy.name == "nearest"
        for action in ("drain", "fail", "restore"):
            status, _ = await post(f"{base}/sites/ireland/{action}", headers)
            assert status == 401
        assert c.state.sites["ireland"].health(time.monotonic()) == "healthy"
        assert await site_health(c.site_urls["ireland"]) == "ready"
        c.state.traffic = FakeTraffic()
        status, _ = await post(f"{base}/traffic", headers, {"rate_rps": 9.0})
        assert status == 401
        assert c.state.traffic.rate_rps == 2.0


async def test_policy_switch_and_unknown_policy():
    async with cluster(policy="nearest") as c:
        url = c.router_url + "/v1/router/admin/policy"
        status, body = await post(url, GOOD, {"policy": "fastest"})
        assert (status, body["policy"]) == (200, "fastest")
        assert c.state.policy.name == "fastest"
        status, body = await post(url, GOOD, {"policy": "closest"})
        assert status == 400
        assert body["error"]["param"] == "policy"
        for name in (
            "nearest",
            "lowest-rtt",
            "least-loaded",
            "round-robin",
            "weighted",
            "fastest",
            "cheapest",
        ):
            assert name in body["error"]["message"]
        assert c.state.policy.name == "fastest"
        assert any(e["kind"] == "policy-changed" for e in c.state.events)


async def test_drain_fail_restore_act_on_routing_and_the_site():
    async with cluster(policy="nearest") as c:
        base = c.router_url + "/v1/router/admin/sites"
        client = c.client("Paris")

        status, body = await post(f"{base}/ireland/drain", GOOD)
        assert (status, body["health"]) == (200, "draining")
        assert (await stream_once(client, max_tokens=2))[1]["site"] != "ireland"

        status, body = await post(f"{base}/ireland/restore", GOOD)
        assert (status, body["health"]) == (200, "healthy")
        assert (await stream_once(client, max_tokens=2))[1]["site"] == "ireland"

        status, body = await post(f"{base}/ireland/fail", GOOD)
        assert (status, body["health"]) == (200, "failed")
        assert await site_health(c.site_urls["ireland"]) == "failed"  # through its fault API
        _, b, _ = await stream_once(client, max_tokens=2)
        assert b["site"] != "ireland"

        status, body = await post(f"{base}/ireland/restore", GOOD)
        assert (status, body["health"]) == (200, "healthy")
        assert await site_health(c.site_urls["ireland"]) == "ready"
        assert (await stream_once(client, max_tokens=2))[1]["site"] == "ireland"

        status, body = await post(f"{base}/atlantis/drain", GOOD)
        assert status == 404
        assert "ireland" in body["error"]["message"]
        await client.close()


async def test_traffic_control():
    async with cluster() as c:
        url = c.router_url + "/v1/router/admin/traffic"
        status, body = await post(url, GOOD, {"rate_rps": 3.0})
        assert status == 409  # no generator attached
        c.state.traffic = FakeTraffic()
        status, body = await post(url, GOOD, {"rate_rps": 5.5, "paused": True})
        assert (status, body) == (200, {"rate_rps": 5.5, "paused": True})
        for bad in ({"rate_rps": -1}, {"rate_rps": "fast"}, {"paused": "yes"}, {"rps": 1}):
            status, body = await post(url, GOOD, bad)
            assert status == 400, bad
            assert body["error"]["param"]
        assert (c.state.traffic.rate_rps, c.state.traffic.paused) == (5.5, True)
        async with aiohttp.ClientSession() as s, s.get(c.router_url + "/v1/router/stats") as r:
            assert (await r.json())["traffic"] == {"rate_rps": 5.5, "paused": True}
