"""The results store: SQLite through sqlite-utils, one row per request and per run.

Written by the router daemon (live), `georoute up` and the benchmarks (sim and live);
read by reports and the dashboard's replay. WAL mode, so a dashboard can read while
a daemon writes. Schema changes go through the numbered migrations below; never
edit one that has shipped, add the next.

Times: `*_at` columns are seconds; for live runs Unix time, for sim runs virtual
seconds since the scenario started (`runs.mode` says which). Durations are `*_ms`.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

REQUEST_COLUMNS: dict[str, type] = {
    "run_id": str,
    "request_id": str,
    "arrived_at": float,
    "client_place": str,
    "client_region": str,
    "client_lat": float,
    "client_lon": float,
    "site": str,
    "policy": str,
    "prompt_tokens": int,
    "output_tokens": int,
    "net_up_ms": float,  # client -> site one-way network delay
    "net_down_ms": float,  # site -> client one-way network delay
    "handshake_ms": float,  # TCP + TLS set-up paid by a new connection
    "router_ms": float,  # real time spent inside the router (live) or 0 (sim)
    "queue_ms": float,  # at the site, before the first iteration that served it
    "prefill_ms": float,  # site-side TTFT minus queue
    "decode_ms": float,  # first token to last token, at the site
    "ttft_ms": float,  # client-side time to first token
    "tpot_ms": float,  # client-side mean gap between output tokens after the first
    "e2e_ms": float,  # client-side end to end
    "status": str,  # ok | failed | rejected | cancelled
    "error": str,  # reason when status != ok
    "retries": int,
    "energy_j": float,
    "cost_usd": float,
}

RUN_COLUMNS: dict[str, type] = {
    "id": str,
    "scenario": str,
    "mode": str,  # up | router | sim | live
    "policy": str,
    "config": str,  # JSON
    "seed": int,
    "git_rev": str,
    "started_at": float,
    "ended_at": float,
    "requests": int,
}

SITE_SAMPLE_COLUMNS: dict[str, type] = {
    "run_id": str,
    "at": float,
    "site": str,
    "healthy": int,
    "in_flight": int,
    "queued": int,
    "running": int,
    "kv_used_fraction": float,
    "tokens_per_s": float,
}


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("runs").create(RUN_COLUMNS, pk="id")
    db.table("requests").create(
        {"id": int, **REQUEST_COLUMNS}, pk="id", foreign_keys=[("run_id", "runs", "id")]
    )
    db.table("requests").create_index(["run_id", "arrived_at"])
    db.table("site_samples").create(SITE_SAMPLE_COLUMNS)
    db.table("site_samples").create_index(["run_id", "at"])


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("m001_initial", _m001_initial),
]


def migrate(db: sqlite_utils.Database) -> None:
    """Apply every migration not yet recorded in `_migrations`, in order."""
    db.table("_migrations").create(
        {"name": str, "applied_at": float}, pk="name", if_not_exists=True
    )
    done = {row["name"] for row in db.table("_migrations").rows}
    for name, step in MIGRATIONS:
        if name not in done:
            with db.conn:
                step(db)
                db.table("_migrations").insert({"name": name, "applied_at": time.time()})


def git_revision() -> str:
    """The checkout's revision, or '' outside a git checkout (recorded with each run)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


class ResultsStore:
    """Synchronous store; callers on an event loop batch rows and write off the loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite_utils.Database(self.path)
        self.db.enable_wal()
        migrate(self.db)

    def start_run(
        self,
        *,
        scenario: str,
        mode: str,
        policy: str,
        config: Mapping[str, Any] | None = None,
        seed: int | None = None,
        started_at: float | None = None,
    ) -> str:
        run_id = uuid.uuid4().hex[:12]
        self.db.table("runs").insert(
            {
                "id": run_id,
                "scenario": scenario,
                "mode": mode,
                "policy": policy,
                "config": json.dumps(config or {}, sort_keys=True, default=str),
                "seed": seed,
                "git_rev": git_revision(),
                "started_at": time.time() if started_at is None else started_at,
                "ended_at": None,
                "requests": 0,
            }
        )
        return run_id

    def add_requests(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert request rows in one transaction; unknown keys are an error."""
        batch = [dict(r) for r in rows]
        for row in batch:
            unknown = set(row) - REQUEST_COLUMNS.keys()
            if unknown:
                raise KeyError(f"unknown request columns: {sorted(unknown)}")
        if batch:
            self.db.table("requests").insert_all(batch, batch_size=1000)
        return len(batch)

    def add_site_samples(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.db.table("site_samples").insert_all([dict(r) for r in rows], batch_size=1000)

    def finish_run(self, run_id: str, *, ended_at: float | None = None) -> None:
        count = self.db.execute(
            "select count(*) from requests where run_id = ?", [run_id]
        ).fetchone()[0]
        self.db.table("runs").update(
            run_id, {"ended_at": time.time() if ended_at is None else ended_at, "requests": count}
        )

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.db.table("runs").get(run_id))

    def requests(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.db.table("requests").rows_where("run_id = ?", [run_id], order_by="id"))

    def close(self) -> None:
        self.db.close()
