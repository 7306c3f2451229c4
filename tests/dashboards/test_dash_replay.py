"""Replay: rebuild router snapshots from a recorded run, with pause, seek and speed."""

import asyncio
import math

import pytest

from dashboards.actions import ReplayControl, SetPolicy
from dashboards.replay import ReplaySource, ReplayTimeline, load_timeline, sites_from_config
from router.store import REQUEST_COLUMNS, ResultsStore

START = 1000.0
SITES = [
    {
        "name": "riyadh-1",
        "place": "Riyadh",
        "hardware": "groq-lpu",
        "model": "llama-3.3-70b",
        "max_num_seqs": 4,
    },
    {"name": "ireland", "place": "Dublin", "hardware": "h200", "model": "llama-3.3-70b"},
]


def request_row(
    run_id, i, *, at, site, place="Paris", region="Europe", e2e_ms=1000.0, policy="fastest"
):
    row = dict.fromkeys(REQUEST_COLUMNS)
    row.update(
        run_id=run_id,
        request_id=f"r{i}",
        arrived_at=at,
        client_place=place,
        client_region=region,
        client_lat=48.86,
        client_lon=2.35,
        site=site,
        policy=policy,
        prompt_tokens=100,
        output_tokens=50,
        net_up_ms=40.0,
        net_down_ms=40.0,
        queue_ms=5.0,
        prefill_ms=50.0,
        decode_ms=500.0,
        ttft_ms=150.0,
        tpot_ms=10.0,
        e2e_ms=e2e_ms,
        status="ok",
        retries=0,
        energy_j=5.0,
        cost_usd=0.0001,
    )
    return row


def record_run(path):
    """A 100 s run: riyadh-1 serves until it fails at t=50, then ireland; policy flips at 70."""
    store = ResultsStore(path)
    run_id = store.start_run(
        scenario="test", mode="up", policy="fastest", config={"sites": SITES}, started_at=START
    )
    rows = []
    for i in range(100):
        site = "riyadh-1" if i < 50 else "ireland"
        policy = "fastest" if i < 70 else "nearest"
        rows.append(request_row(run_id, i, at=START + i, site=site, policy=policy))
    store.add_requests(rows)
    store.add_site_samples(
        {
            "run_id": run_id,
            "at": START + t,
            "site": s,
            "healthy": int(not (s == "riyadh-1" and 50 <= t < 80)),
            "in_flight": 1,
            "queued": 0,
            "running": 1,
            "kv_used_fraction": 0.1,
            "tokens_per_s": 10.0,
        }
        for t in range(0, 100, 10)
        for s in ("riyadh-1", "ireland")
    )
    store.finish_run(run_id, ended_at=START + 100)
    store.close()
    return run_id


def test_timeline_rebuilds_what_the_router_would_have_shown(tmp_path):
    run_id = record_run(tmp_path / "runs.db")
    _, tl = load_timeline(tmp_path / "runs.db", run_id)
    assert tl.duration_s == 100.0
    early = tl.snapshot(START + 30.5)
    sites = {s["name"]: s for s in early["sites"]}
    assert sites["riyadh-1"]["share"] == 1.0
    assert sites["riyadh-1"]["health"] == "healthy"
    assert sites["riyadh-1"]["utilisation"] == 0.25  # running 1 of max_num_seqs 4
    assert math.isnan(sites["ireland"]["utilisation"])  # no max_num_seqs recorded: unknown
    assert (sites["riyadh-1"]["lat"], sites["ireland"]["place"]) == (
        pytest.approx(24.71, abs=0.1),
        "Dublin",
    )
    assert early["regions"][0]["region"] == "Europe"
    assert early["requests"]["ok"] == 30  # finished by t=30.5 (1 s each)
    assert early["events"] == []
    late = tl.snapshot(START + 75.0)
    sites = {s["name"]: s for s in late["sites"]}
    assert sites["riyadh-1"]["health"] == "failed"
    assert late["policy"] == "nearest"
    assert [e["kind"] for e in late["events"]] == ["site-failed", "policy-changed"]
    assert late["regions"][0]["share"]["ireland"] == pytest.approx(
        25 / 61
    )  # finished in [15, 75]: rows 14..74
    # backwards: the window and the totals are rebuilt, not left over from later
    again = tl.snapshot(START + 30.5)
    assert again["requests"]["ok"] == 30
    assert again["events"] == []
    end = tl.snapshot(START + 1e6)  # clamped to the end of the run
    assert end["at"] == START + 100
    assert [e["kind"] for e in end["events"]] == ["site-failed", "policy-changed", "site-restored"]


def test_latest_run_and_named_errors(tmp_path):
    path = tmp_path / "runs.db"
    with pytest.raises(LookupError, match="no such database"):
        load_timeline(path, None)
    ResultsStore(path).close()
    with pytest.raises(LookupError, match="holds no runs"):
        load_timeline(path, None)
    run_id = record_run(path)
    assert load_timeline(path, None)[0] == run_id
    with pytest.raises(LookupError, match="no run 'nope'"):
        load_timeline(path, "nope")


def test_sites_missing_from_the_config_still_show():
    sites = sites_from_config({}, ["riyadh-9", "eu-x"])
    assert [(s.name, s.kind) for s in sites] == [("riyadh-9", "lpu"), ("eu-x", "gpu")]
    assert sites[0].lat != sites[0].lat  # NaN: the map skips it


class FakeMonotonic:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def test_replay_source_plays_pauses_seeks_and_changes_speed(tmp_path):
    run_id = record_run(tmp_path / "runs.db")
    clock = FakeMonotonic()
    source = ReplaySource(tmp_path / "runs.db", run_id, speed=4.0, tick_s=0.01, monotonic=clock)
    stream = source.snapshots()
    first = await anext(stream)
    assert first["at"] == START
    assert source.status.state == "replay"
    clock.now += 2.0  # two wall seconds at ×4
    second = await anext(stream)
    assert second["at"] == START + 8.0
    assert (await source.act(ReplayControl(paused=True))).ok
    clock.now += 5.0
    paused = await anext(stream)
    assert paused["at"] == START + 8.0
    assert "paused" in source.status.detail
    assert (await source.act(ReplayControl(seek_s=60.0))).ok
    assert (await anext(stream))["at"] == START + 68.0
    assert (await source.act(ReplayControl(seek_s=-1000.0))).ok
    assert (await anext(stream))["at"] == START
    refused = await source.act(ReplayControl(speed=0.0))
    assert not refused.ok
    await source.act(ReplayControl(speed=100.0, paused=False))
    clock.now += 10.0
    end = await anext(stream)
    assert end["at"] == START + 100.0
    await anext(stream)
    assert source.status.state == "ended"
    admin = await source.act(SetPolicy(policy="nearest"))
    assert not admin.ok
    assert "read-only" in admin.message
    await stream.aclose()


async def test_replay_source_loads_off_the_event_loop(tmp_path):
    record_run(tmp_path / "runs.db")
    source = ReplaySource(tmp_path / "runs.db", None, speed=1.0, tick_s=0.01)
    assert (await source.act(ReplayControl(paused=True))).ok is False  # still loading
    timeline = await asyncio.wait_for(source.load(), 10)
    assert isinstance(timeline, ReplayTimeline)
    assert source.run_id in source.label
