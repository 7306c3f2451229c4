"""Failover: a site fails mid-run; nothing is lost, requests waiting for their first
byte succeed elsewhere, new requests avoid the site within one health interval, and
restore brings it back. Every request is a row in the results database."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest
from routerkit import TOKEN, cluster, stream_once

from router.store import ResultsStore


async def site_fault(url: str, body: dict | None) -> None:
    async with aiohttp.ClientSession() as s:
        method = s.post if body is not None else s.delete
        async with method(
            f"{url}/admin/fault", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as resp:
            assert resp.status == 200, await resp.text()


async def test_hung_site_fails_over_and_returns_after_restore(tmp_path):
    db = tmp_path / "failover.db"
    interval_s = 0.3
    sent = 0
    async with cluster(
        policy="nearest",
        db_path=db,
        health_interval_s=interval_s,
        health_timeout_s=0.3,
        first_byte_timeout_s=0.6,
        eject_after_errors=100,
    ) as c:
        client = c.client("Paris")
        results = await asyncio.gather(*(stream_once(client, max_tokens=4) for _ in range(4)))
        sent += 4
        assert {b["site"] for _, b, _ in results} == {"ireland"}

        await site_fault(c.site_urls["ireland"], {"mode": "hang"})
        # Sent before the router can know: they wait for a first byte that never comes.
        waiting = await asyncio.gather(*(stream_once(client, max_tokens=4) for _ in range(3)))
        sent += 3
        for _, b, _ in waiting:
            assert b["site"] != "ireland"
            assert b["retries"] == 1
        assert c.state.sites["ireland"].polled == "failed"

        await asyncio.sleep(interval_s)
        later = await asyncio.gather(*(stream_once(client, max_tokens=4) for _ in range(3)))
        sent += 3
        for _, b, _ in later:
            assert b["site"] != "ireland"
            assert b["retries"] == 0

        await site_fault(c.site_urls["ireland"], None)
        await asyncio.sleep(2.5 * interval_s)
        _, b, _ = await stream_once(client, max_tokens=4)
        sent += 1
        assert b["site"] == "ireland"
        kinds = [e["kind"] for e in c.state.events]
        assert "failover" in kinds
        assert "site-failed" in kinds
        assert "site-restored" in kinds
        await client.close()
        run_id = c.run_id

    store = ResultsStore(db)
    rows = store.requests(run_id)
    assert len(rows) == sent
    assert store.run(run_id)["requests"] == sent
    assert all(r["status"] == "ok" for r in rows)
    assert sum(r["retries"] for r in rows) == 3
    samples = list(store.db["site_samples"].rows_where("run_id = ?", [run_id]))
    ireland = [s["healthy"] for s in samples if s["site"] == "ireland"]
    assert 0 in ireland  # the hang shows in the per-site samples
    assert ireland[-1] == 1  # and the restore
    store.close()


async def test_passive_ejection_after_consecutive_errors(tmp_path):
    async with cluster(
        policy="nearest", health_interval_s=60.0, eject_after_errors=2, eject_cooldown_s=30.0
    ) as c:
        client = c.client("Paris")
        await site_fault(c.site_urls["ireland"], {"mode": "fail"})
        retried = [(await stream_once(client, max_tokens=3))[1] for _ in range(2)]
        assert [b["retries"] for b in retried] == [1, 1]
        assert c.state.sites["ireland"].health(time.monotonic()) == "ejected"
        _, b, _ = await stream_once(client, max_tokens=3)
        assert b["retries"] == 0
        assert b["site"] != "ireland"
        await client.close()


@pytest.mark.parametrize("simulate_network", [True, False])
async def test_stream_cut_after_first_byte_ends_with_error_event_and_a_failed_row(
    tmp_path, simulate_network
):
    db = tmp_path / "cut.db"
    async with cluster(policy="nearest", db_path=db, simulate_network=simulate_network) as c:
        client = c.client("Paris")

        async def cut_soon() -> None:
            await asyncio.sleep(0.3)
            await site_fault(c.site_urls["ireland"], {"drop_streams": True})

        cutter = asyncio.create_task(cut_soon())
        with pytest.raises(openai.APIError, match="stream"):
            await stream_once(client, max_tokens=2000)
        await cutter
        await client.close()
        run_id = c.run_id
    store = ResultsStore(db)
    (row,) = store.requests(run_id)
    assert row["status"] == "failed"
    assert "ireland" in row["error"]
    store.close()


async def test_all_sites_down_is_a_503_with_a_row(tmp_path):
    db = tmp_path / "down.db"
    async with cluster(policy="nearest", db_path=db, health_interval_s=60.0) as c:
        for url in c.site_urls.values():
            await site_fault(url, {"mode": "fail"})
        client = c.client("Paris")
        with pytest.raises(openai.InternalServerError) as info:
            await stream_once(client, max_tokens=3)
        assert info.value.status_code == 503
        assert info.value.body["code"] == "sites_unavailable"
        await client.close()
        run_id = c.run_id
    store = ResultsStore(db)
    (row,) = store.requests(run_id)
    assert row["status"] == "failed"
    assert "HTTP 503" in row["error"]
    store.close()
