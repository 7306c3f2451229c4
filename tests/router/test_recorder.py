"""The recorder never drops a batch it has taken, whatever interrupts it."""

from __future__ import annotations

import asyncio
import threading
import time

from router.daemon.recorder import Recorder
from router.store import ResultsStore


def _row(i: int) -> dict:
    return {"request_id": f"r{i}", "arrived_at": float(i), "status": "ok", "e2e_ms": 1.0}


def _sample(i: int) -> dict:
    return {"at": float(i), "site": "s", "healthy": 1, "in_flight": 0, "queued": 0,
            "running": 0, "kv_used_fraction": 0.0, "tokens_per_s": 0.0}


async def test_close_during_a_periodic_write_loses_no_rows(tmp_path, monkeypatch):
    """Shutdown lands while the periodic flush is inside a slow write (samples first,
    then the request rows it already took off the list): every row still arrives."""
    writing = threading.Event()
    slow = ResultsStore.add_site_samples

    def slow_samples(self, rows):
        writing.set()
        time.sleep(0.3)
        slow(self, rows)

    monkeypatch.setattr(ResultsStore, "add_site_samples", slow_samples)
    path = tmp_path / "r.db"
    rec = Recorder(path, interval_s=0.05)
    run_id = await rec.open(scenario="t", mode="live", policy="p", config={}, seed=None)
    for i in range(20):
        rec.add(_row(i))
    rec.add_samples([_sample(0)])
    # the periodic flush has taken both lists and is writing
    assert await asyncio.to_thread(writing.wait, 5.0)
    for i in range(20, 30):  # and more arrive while it writes
        rec.add(_row(i))
    await rec.close()
    store = ResultsStore(path)
    try:
        ids = [r["request_id"] for r in store.requests(run_id)]
        assert sorted(ids, key=lambda s: int(s[1:])) == [f"r{i}" for i in range(30)]
        assert store.run(run_id)["requests"] == 30
    finally:
        store.close()
