"""Batched, off-loop writes of request rows to the ResultsStore.

SQLite connections belong to the thread that opened them, so the store is opened,
written and closed on one dedicated worker thread; the request path only appends a
dict to a list. A flush task writes the batch every `interval_s`; `close` writes
whatever is left, so no row is lost on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from router.store import ResultsStore


class Recorder:
    def __init__(self, path: str | Path | None, *, interval_s: float = 0.5) -> None:
        self.path = path
        self.interval_s = interval_s
        self.run_id = ""
        self.written = 0
        self._rows: list[dict[str, Any]] = []
        self._samples: list[dict[str, Any]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="georoute-recorder")
        self._store: ResultsStore | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    async def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kw))

    async def open(
        self, *, scenario: str, mode: str, policy: str, config: Mapping[str, Any], seed: int | None
    ) -> str:
        """Open the store (None: record nowhere, rows are only counted) and start a run."""
        if self.path is not None:
            self._store = await self._call(ResultsStore, self.path)
            self.run_id = await self._call(
                self._store.start_run,
                scenario=scenario,
                mode=mode,
                policy=policy,
                config=config,
                seed=seed,
            )
        self._task = asyncio.create_task(self._loop())
        return self.run_id

    def add(self, row: dict[str, Any]) -> None:
        row["run_id"] = self.run_id
        self._rows.append(row)

    def add_samples(self, rows: list[dict[str, Any]]) -> None:
        """Per-site health/load samples (one per site per health poll)."""
        for row in rows:
            row["run_id"] = self.run_id
        self._samples.extend(rows)

    async def flush(self) -> int:
        """Write what has been added so far. The write is shielded: a batch, once taken
        off the list, reaches the store even if the caller is cancelled meanwhile."""
        batch, self._rows = self._rows, []
        samples, self._samples = self._samples, []
        if self._store is not None and (batch or samples):
            await asyncio.shield(self._call(self._write, self._store, samples, batch))
        self.written += len(batch)
        return len(batch)

    @staticmethod
    def _write(
        store: ResultsStore, samples: list[dict[str, Any]], batch: list[dict[str, Any]]
    ) -> None:
        if samples:
            store.add_site_samples(samples)
        if batch:
            store.add_requests(batch)

    async def _loop(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval_s)
            await self.flush()

    async def close(self) -> None:
        # Stop the periodic flush by asking, not by cancelling: a cancel landing inside
        # its write used to drop the batch it had taken (rows lost at shutdown).
        self._closing.set()
        if self._task is not None:
            await self._task
        await self.flush()
        if self._store is not None:
            store = self._store
            await self._call(store.finish_run, self.run_id)
            await self._call(store.close)
            self._store = None
        self._pool.shutdown(wait=True)
