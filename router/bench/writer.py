"""Rows to SQLite off the producer's thread, in batches, with bounded memory.

The simulator and the live client hand over batches of rows as they finish; a single
writer thread owns its own `ResultsStore` connection (SQLite connections stay on the
thread that made them) and inserts each batch in one transaction. The queue is
bounded, so a producer faster than the disk waits instead of piling rows up in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from router.store import ResultsStore

_STOP = object()


class StoreWriter:
    """`put(run_id, rows)` from any thread; `close()` waits until every row is written."""

    def __init__(self, path: str | Path, *, max_batches: int = 64) -> None:
        self.path = Path(path)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_batches)
        self._error: BaseException | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._work, name="bench-store-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        store = ResultsStore(self.path)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                kind, rows = item
                if self._error is None:
                    try:
                        if kind == "samples":
                            store.add_site_samples(rows)
                        else:
                            self.written += store.add_requests(rows)
                    except BaseException as exc:  # reported by put/close on the caller's thread
                        self._error = exc
        finally:
            store.close()

    def put(self, run_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Request rows (REQUEST_COLUMNS minus run_id)."""
        self._check()
        if rows:
            self._queue.put(("requests", [{**row, "run_id": run_id} for row in rows]))

    def put_samples(self, run_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Per-site samples (SITE_SAMPLE_COLUMNS minus run_id)."""
        self._check()
        if rows:
            self._queue.put(("samples", [{**row, "run_id": run_id} for row in rows]))

    def _check(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"writing results failed: {self._error}") from self._error

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._check()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
