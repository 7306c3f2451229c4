"""End to end with the official `openai` client: router -> in-process sites, every
policy, table-driven. Expected sites are worked out by hand from the geography
(Paris is nearest Dublin; Tokyo is nearer Riyadh than Dublin or Ashburn by distance
and by RTT), the engines (an LPU streams several times faster than one H100 for
Llama 3.1 8B) and the loads each case sets."""

from __future__ import annotations

from collections import Counter

import pytest
from routerkit import BREAKDOWN_KEYS, cluster, stream_once

from router.geo import resolve_place
from router.policies import ResidencyRule

EU_ONLY = (ResidencyRule(clients=frozenset({"EU"}), allowed=frozenset({"EU"})),)

# (policy, place, max_tokens, {site: {field: value}} load/price overrides, settings, expected)
CASES = [
    ("nearest", "Paris", 5, {}, {}, "ireland"),
    ("nearest", "Tokyo", 5, {}, {}, "riyadh-1"),
    ("nearest", "48.14,11.58", 5, {}, {}, "ireland"),  # Munich by coordinates
    ("lowest-rtt", "Paris", 5, {}, {}, "ireland"),
    ("lowest-rtt", "Tokyo", 5, {}, {}, "riyadh-1"),
    # Short answer: ~17 ms RTT to Dublin beats ~77 ms to Riyadh.
    ("fastest", "Paris", 3, {}, {}, "ireland"),
    # 300 tokens: ~1.5 ms/token on the LPU vs ~4 ms/token on the H100 outweighs 60 ms of RTT.
    ("fastest", "Paris", 300, {}, {}, "riyadh-1"),
    # EU data stays in the EU: Paris goes to Dublin even where Riyadh would be faster;
    # Tokyo is not covered by the rule.
    ("fastest", "Paris", 300, {}, {"residency": EU_ONLY}, "ireland"),
    ("fastest", "Tokyo", 300, {}, {"residency": EU_ONLY}, "riyadh-1"),
    # ...unless Riyadh has a long queue.
    ("fastest", "Paris", 300, {"riyadh-1": {"queued": 5000}}, {}, "ireland"),
    (
        "least-loaded",
        "Paris",
        5,
        {
            "riyadh-1": {"running": 50, "max_running": 64},
            "ireland": {"running": 200, "max_running": 256},
            "virginia": {"running": 3, "max_running": 256},
        },
        {},
        "virginia",
    ),
    (
        "cheapest",
        "Paris",
        5,
        {
            "riyadh-1": {"usd_per_mtok": 0.3},
            "ireland": {"usd_per_mtok": 0.2},
            "virginia": {"usd_per_mtok": 0.1},
        },
        {},
        "virginia",
    ),
    # A 200 ms ceiling rules out Virginia (77 ms RTT + 154 ms handshake for a new connection).
    (
        "cheapest",
        "Paris",
        5,
        {
            "riyadh-1": {"usd_per_mtok": 0.3},
            "ireland": {"usd_per_mtok": 0.2},
            "virginia": {"usd_per_mtok": 0.1},
        },
        {"latency_ceiling_ms": 200.0},
        "ireland",
    ),
]


@pytest.mark.parametrize(("policy", "place", "max_tokens", "load", "settings", "expected"), CASES)
async def test_policy_routes_where_expected_and_breakdown_adds_up(
    policy, place, max_tokens, load, settings, expected
):
    async with cluster(policy=policy, seed=7, **settings) as c:
        for name, fields in load.items():
            for key, value in fields.items():
                setattr(c.state.sites[name], key, value)
        warm = c.client(place)  # the first request of a process pays lazy imports
        await stream_once(warm, max_tokens=1)
        await warm.close()
        client = c.client(place)
        e2e_ms, breakdown, raw = await stream_once(client, max_tokens=max_tokens)
        await client.close()
        assert raw.headers["X-Georoute-Site"] == expected
        assert breakdown["site"] == expected
        assert breakdown["policy"] == policy
        assert breakdown["retries"] == 0
        assert breakdown["handshake_ms"] > 0  # first request on a new connection
        parts = sum(breakdown[k] for k in BREAKDOWN_KEYS)
        # The client also pays its own connection set-up, HTTP work and loopback hops:
        # typically 4-7 ms for a fresh client here; the bound leaves room for a busy
        # shared 2-core machine.
        assert parts <= e2e_ms + 1.0
        assert e2e_ms - parts < 20.0, (e2e_ms, breakdown)


async def test_breakdown_adds_up_on_a_reused_connection_and_tracks_the_legs():
    async with cluster(policy="lowest-rtt", seed=3) as c:
        client = c.client("Singapore")
        await stream_once(client, max_tokens=5)  # warm: connection opened
        for n in (20, 120):
            e2e_ms, b, _raw = await stream_once(client, max_tokens=n)
            assert b["handshake_ms"] == 0.0
            parts = sum(b[k] for k in BREAKDOWN_KEYS)
            assert -1.0 < e2e_ms - parts < 12.0, (e2e_ms, b)
            rtt = c.state.network.rtt_ms(c.state.sites[b["site"]].place, resolve_place("Singapore"))
            # One-way legs are samples around half the median RTT.
            assert 0.25 * rtt < b["net_up_ms"] < rtt
            assert 0.25 * rtt < b["net_down_ms"] < rtt
        await client.close()


async def test_round_robin_and_weighted_spread_requests():
    async with cluster(policy="round-robin") as c:
        client = c.client("Paris")
        sites = [(await stream_once(client, max_tokens=2))[1]["site"] for _ in range(6)]
        assert sites == ["ireland", "riyadh-1", "virginia"] * 2
        c.state.set_policy("weighted")
        c.state.sites["riyadh-1"].weight = 2.0
        c.state.sites["virginia"].weight = 0.0
        sites = [(await stream_once(client, max_tokens=2))[1]["site"] for _ in range(6)]
        assert Counter(sites) == {"riyadh-1": 4, "ireland": 2}
        await client.close()


async def test_non_streaming_response_carries_the_breakdown():
    async with cluster(policy="nearest") as c:
        client = c.client("Paris")
        raw = await client.chat.completions.with_raw_response.create(
            model="llama-3.1-8b", messages=[{"role": "user", "content": "hi"}], max_tokens=7
        )
        completion = raw.parse()
        assert raw.headers["X-Georoute-Site"] == "ireland"
        assert completion.usage.completion_tokens == 7
        g = completion.model_extra["georoute"]
        assert g["site"] == "ireland"
        assert set(BREAKDOWN_KEYS) <= set(g)
        text = await client.completions.create(model="llama-3.1-8b", prompt="x", max_tokens=3)
        assert text.usage.completion_tokens == 3
        await client.close()
