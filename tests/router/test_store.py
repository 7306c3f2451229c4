import sqlite3

import pytest

from router.store import MIGRATIONS, ResultsStore


def test_store_round_trip_and_counts(tmp_path):
    store = ResultsStore(tmp_path / "r.db")
    run = store.start_run(scenario="unit", mode="sim", policy="nearest", seed=7)
    rows = [
        {
            "run_id": run,
            "request_id": f"r{i}",
            "site": "ireland",
            "e2e_ms": 100.0 + i,
            "status": "ok",
        }
        for i in range(3)
    ]
    assert store.add_requests(rows) == 3
    store.finish_run(run)
    assert store.run(run)["requests"] == 3
    assert [r["e2e_ms"] for r in store.requests(run)] == [100.0, 101.0, 102.0]
    assert store.db.journal_mode == "wal"
    store.close()


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "r.db"
    ResultsStore(path).close()
    ResultsStore(path).close()  # second open must not re-run m001 (create would fail)
    names = [r[0] for r in sqlite3.connect(path).execute("select name from _migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_unknown_request_column_is_rejected(tmp_path):
    store = ResultsStore(tmp_path / "r.db")
    with pytest.raises(KeyError, match="ttft_s"):
        store.add_requests([{"run_id": "x", "ttft_s": 1.0}])
