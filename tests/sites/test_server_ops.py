"""Health, metrics, the admin API (faults and drain, with and without the token), and
client disconnects cancelling requests in the engine."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import openai
import pytest
from aiohttp import web
from conftest import MODEL, SITE, LiveSite, SiteFactory
from site_fakes import FixedRateEngine

from sites.server import tokens
from sites.server.app import make_app
from sites.server.keys import RUNTIME

MSG = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"


async def eventually(predicate, what: str, timeout_s: float = 5.0) -> None:
    """Poll a condition (the server works on its own loop turns); not a timing check."""
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def metric(text: str, name: str, labels: str = 'site="test-site"') -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


async def test_health_shape(live: LiveSite) -> None:
    resp = await live.http.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ready"
    assert (body["site"], body["place"], body["hardware"], body["model"]) == (
        "test-site",
        "Riyadh",
        "h100-sxm",
        MODEL,
    )
    assert body["fault"] is None
    assert set(body["load"]) == {
        "queued",
        "running",
        "max_running",
        "queued_prompt_tokens",
        "kv_used_fraction",
        "tokens_per_s",
        "open_streams",
    }
    assert body["load"]["max_running"] == 8
    assert body["load"]["running"] == 0


async def test_health_reports_load(make_site: SiteFactory) -> None:
    site = await make_site(FixedRateEngine(prefill_s=0.01, tpot_s=0.01, slots=1))
    streams = [
        await site.openai.chat.completions.create(
            model=MODEL, messages=MSG, max_tokens=300, stream=True
        )
        for _ in range(3)
    ]
    await eventually(lambda: site.engine.load().running == 1, "one running")
    body = await (await site.http.get("/health")).json()
    assert body["load"]["running"] == 1
    assert body["load"]["queued"] == 2
    assert body["load"]["open_streams"] == 3
    for s in streams:
        await s.close()


async def test_metrics_text(live: LiveSite) -> None:
    for _ in range(2):
        await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=5)
    stream = await live.openai.chat.completions.create(
        model=MODEL, messages=MSG, max_tokens=4, stream=True
    )
    _ = [c async for c in stream]
    await live.http.post(CHAT, json={"model": "nope", "messages": MSG})
    resp = await live.http.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert metric(text, "georoute_site_requests_total", 'site="test-site",status="ok"') == 3
    assert metric(text, "georoute_site_requests_total", 'site="test-site",status="rejected"') == 1
    assert metric(text, "georoute_site_output_tokens_total") == 14
    assert metric(text, "georoute_site_ttft_seconds_count") == 3
    assert metric(text, "georoute_site_tpot_seconds_count") == 3
    assert metric(text, "georoute_site_cancellations_total") == 0
    assert metric(text, "georoute_site_queue_depth") == 0
    assert metric(text, "georoute_site_running_sequences") == 0
    for name in (
        "georoute_site_tokens_per_second",
        "georoute_site_kv_used_fraction",
        "georoute_site_chunk_lag_seconds_count",
    ):
        assert name in text


# --- disconnects -----------------------------------------------------------------------


async def test_disconnect_mid_stream_cancels_in_engine(live: LiveSite) -> None:
    stream = await live.openai.chat.completions.create(
        model=MODEL, messages=MSG, max_tokens=2000, stream=True
    )
    received = 0
    async for _chunk in stream:
        received += 1
        if received == 3:
            break
    await stream.close()
    await eventually(lambda: live.engine.cancelled, "engine cancel")
    assert live.engine.cancelled == [live.engine.submitted[0].request_id]
    await eventually(lambda: not live.runtime.driver.streams, "stream released")
    assert live.engine.load().running == 0  # its slot is free
    text = await (await live.http.get("/metrics")).text()
    assert metric(text, "georoute_site_cancellations_total") == 1
    assert metric(text, "georoute_site_requests_total", 'site="test-site",status="cancelled"') == 1


async def test_disconnect_while_queued_and_non_streaming(make_site: SiteFactory) -> None:
    site = await make_site(FixedRateEngine(prefill_s=0.01, tpot_s=0.01, slots=1))
    busy = await site.openai.chat.completions.create(
        model=MODEL, messages=MSG, max_tokens=500, stream=True
    )
    await eventually(lambda: site.engine.load().running == 1, "first running")
    # a non-streaming request that waits in the queue, then its client gives up
    waiting = asyncio.ensure_future(
        site.http.post(CHAT, json={"model": MODEL, "messages": MSG, "max_tokens": 5})
    )
    await eventually(lambda: site.engine.load().queued == 1, "second queued")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await eventually(lambda: len(site.engine.cancelled) == 1, "queued request cancelled")
    assert site.engine.load().queued == 0
    await busy.close()
    await eventually(lambda: len(site.engine.cancelled) == 2, "stream cancelled")


# --- admin: auth -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic test-admin-token"},
        {"Authorization": "Bearer"},
    ],
)
async def test_admin_needs_the_token(live: LiveSite, headers: dict) -> None:
    for method, path, body in [
        ("POST", "/admin/fault", {"mode": "fail"}),
        ("DELETE", "/admin/fault", None),
        ("POST", "/admin/drain", None),
        ("DELETE", "/admin/drain", None),
    ]:
        resp = await live.http.request(method, path, json=body, headers=headers)
        assert resp.status == 401, (method, path)
        assert (await resp.json())["error"]["type"] == "authentication_error"
    assert live.runtime.state.mode is None
    assert not live.runtime.state.draining
    assert (await (await live.http.get("/health")).json())["status"] == "ready"


async def test_admin_disabled_without_a_configured_token(
    make_site: SiteFactory, monkeypatch
) -> None:
    monkeypatch.delenv("GEOROUTE_ADMIN_TOKEN", raising=False)
    site = await make_site(admin_token=None)
    resp = await site.http.post(
        "/admin/fault", json={"mode": "fail"}, headers={"Authorization": "Bearer "}
    )
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "admin_disabled"
    assert site.runtime.state.mode is None


async def test_admin_token_from_environment(make_site: SiteFactory, monkeypatch) -> None:
    monkeypatch.setenv("GEOROUTE_ADMIN_TOKEN", "from-env")
    site = await make_site(admin_token=None)
    resp = await site.http.post(
        "/admin/fault", json={"mode": "fail"}, headers={"Authorization": "Bearer from-env"}
    )
    assert resp.status == 200
    assert site.runtime.state.mode == "fail"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"mode": "explode"}, "mode"),
        ({"mode": "slow"}, "factor"),
        ({"mode": "slow", "factor": 0}, "factor"),
        ({"mode": "slow", "factor": "2"}, "factor"),
        ({"mode": "fail", "factor": 2}, "factor"),
        ({"mode": "fail", "drop_streams": "yes"}, "drop_streams"),
        ({"mood": "fail"}, "mood"),
        ({}, "mode"),
    ],
)
async def test_bad_fault_bodies(live: LiveSite, body: dict, param: str) -> None:
    resp = await live.http.post("/admin/fault", json=body, headers=live.admin())
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == param
    assert live.runtime.state.mode is None


# --- faults --------------------------------------------------------------------------------


async def test_fail_then_restore(live: LiveSite) -> None:
    resp = await live.http.post("/admin/fault", json={"mode": "fail"}, headers=live.admin())
    assert resp.status == 200
    with pytest.raises(openai.InternalServerError) as err:
        await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=3)
    assert err.value.status_code == 503
    assert err.value.code == "site_failed"
    health = await live.http.get("/health")
    assert health.status == 503
    assert (await health.json())["status"] == "failed"
    assert live.engine.submitted == []

    assert (await live.http.delete("/admin/fault", headers=live.admin())).status == 200
    assert (await (await live.http.get("/health")).json())["status"] == "ready"
    reply = await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=3)
    assert reply.choices[0].finish_reason == "length"


async def test_hang_accepts_and_never_answers_until_cleared(live: LiveSite) -> None:
    await live.http.post("/admin/fault", json={"mode": "hang"}, headers=live.admin())
    pending = asyncio.ensure_future(
        live.http.post(CHAT, json={"model": MODEL, "messages": MSG, "max_tokens": 3})
    )
    health = asyncio.ensure_future(live.http.get("/health"))
    done, _ = await asyncio.wait({pending, health}, timeout=0.3)
    assert done == set()  # no first byte for either
    assert live.engine.submitted == []
    await live.http.delete("/admin/fault", headers=live.admin())
    resp = await pending
    assert resp.status == 200
    assert (await resp.json())["usage"]["completion_tokens"] == 3
    assert (await health).status == 200


async def test_hang_stalls_open_streams(live: LiveSite) -> None:
    stream = await live.openai.chat.completions.create(
        model=MODEL, messages=MSG, max_tokens=400, stream=True
    )
    received: list = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk)

    reader = asyncio.ensure_future(consume())
    await eventually(lambda: len(received) >= 2, "stream started")
    await live.http.post("/admin/fault", json={"mode": "hang"}, headers=live.admin())
    frozen_at = live.runtime.driver.time.to_engine(live.runtime.clock.now())
    await asyncio.sleep(0.05)  # what was already on the wire arrives
    seen = len(received)
    await asyncio.sleep(0.3)
    assert len(received) == seen  # nothing more while hung
    assert live.runtime.driver.time.to_engine(live.runtime.clock.now()) == frozen_at
    await live.http.delete("/admin/fault", headers=live.admin())
    await reader
    assert received[-1].choices[0].finish_reason == "length"
    assert "".join(c.choices[0].delta.content for c in received) == tokens.filler(0, 400)


async def test_slow_multiplies_engine_times(live: LiveSite) -> None:
    resp = await live.http.post(
        "/admin/fault", json={"mode": "slow", "factor": 3}, headers=live.admin()
    )
    assert (await resp.json())["fault"] == {"mode": "slow", "factor": 3.0}
    assert (await (await live.http.get("/health")).json())["fault"] == {
        "mode": "slow",
        "factor": 3.0,
    }
    reply = await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=5)
    timing = reply.model_extra["georoute"]
    assert timing["ttft_ms"] == pytest.approx(30.0, abs=1e-3)  # 3 x 10 ms prefill
    assert timing["tpot_ms"] == pytest.approx(6.0, abs=1e-3)  # 3 x 2 ms
    assert timing["queue_ms"] == pytest.approx(0.0, abs=1e-3)
    await live.http.delete("/admin/fault", headers=live.admin())
    reply = await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=5)
    assert reply.model_extra["georoute"]["ttft_ms"] == pytest.approx(10.0, abs=1e-3)


async def test_drop_streams_cuts_open_streams(live: LiveSite) -> None:
    stream = await live.openai.chat.completions.create(
        model=MODEL, messages=MSG, max_tokens=2000, stream=True
    )
    iterator = stream.__aiter__()
    await iterator.__anext__()
    resp = await live.http.post("/admin/fault", json={"drop_streams": True}, headers=live.admin())
    assert (await resp.json())["dropped_streams"] == 1
    with pytest.raises(openai.APIError):
        async for _ in iterator:
            pass
    assert live.engine.cancelled == [live.engine.submitted[0].request_id]
    assert live.runtime.state.mode is None  # a one-shot action, the site keeps serving
    reply = await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=2)
    assert reply.usage is not None
    text = await (await live.http.get("/metrics")).text()
    assert metric(text, "georoute_site_requests_total", 'site="test-site",status="dropped"') == 1


async def test_drain(live: LiveSite) -> None:
    stream = await live.openai.chat.completions.create(
        model=MODEL, messages=MSG, max_tokens=30, stream=True
    )
    iterator = stream.__aiter__()
    await iterator.__anext__()
    assert (await live.http.post("/admin/drain", headers=live.admin())).status == 200
    health = await live.http.get("/health")
    assert health.status == 503
    assert (await health.json())["status"] == "draining"
    with pytest.raises(openai.InternalServerError) as err:
        await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=3)
    assert err.value.code == "site_draining"
    rest = [c async for c in iterator]  # the open stream finishes
    assert rest[-1].choices[0].finish_reason == "length"
    assert (await live.http.delete("/admin/drain", headers=live.admin())).status == 200
    assert (await (await live.http.get("/health")).json())["status"] == "ready"


# --- the two ways a stream is written ------------------------------------------------------


async def test_http10_client_gets_the_task_written_stream(live: LiveSite) -> None:
    """HTTP/1.0 cannot take chunked framing: the handler writes the stream itself."""
    payload = json.dumps(
        {"model": MODEL, "messages": MSG, "max_tokens": 6, "stream": True}
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", live.server.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%b" % (len(payload), payload)
    )
    await writer.drain()
    raw = (await reader.read()).decode()  # until the server closes
    writer.close()
    head, _, text = raw.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 200")
    assert "chunked" not in head.lower()
    assert text.endswith("data: [DONE]\n\n")
    content = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in text.splitlines()
        if line.startswith("data: {")
    )
    assert content == tokens.filler(0, 6)


async def test_pacer_notices_a_closed_connection_without_handler_cancellation() -> None:
    """Served without aiohttp's handler cancellation, a client that goes away is
    noticed by the pacer at the next write and the request is cancelled."""
    engine = FixedRateEngine(prefill_s=0.005, tpot_s=0.005)
    runner = web.AppRunner(
        make_app(SITE, engine=engine, admin_token=None), handler_cancellation=False
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{CHAT}"
    try:
        async with aiohttp.ClientSession() as session:
            body = {"model": MODEL, "messages": MSG, "max_tokens": 1000, "stream": True}
            resp = await session.post(url, json=body)
            await resp.content.readline()
            resp.close()  # drop the connection mid-stream
        await eventually(lambda: engine.cancelled, "engine cancel")
        assert engine.cancelled == [engine.submitted[0].request_id]
        assert runner.app[RUNTIME].driver.streams == {}
    finally:
        await runner.cleanup()
