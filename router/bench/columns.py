"""Request rows as numpy columns (pure): the storage behind a report.

A report slices the rows many ways (regions, cities, sites, phases, windows); with
the rows as columns every slice is a boolean mask. `ColumnBuilder` fills the columns
chunk by chunk (from a database cursor or from dicts), turning label strings into
integer codes as they arrive, so a run of millions of requests costs about 120 bytes
per request to report on rather than a Python dict per row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

BREAKDOWN_KEYS: tuple[str, ...] = (
    "handshake_ms",
    "net_up_ms",
    "router_ms",
    "queue_ms",
    "prefill_ms",
    "decode_ms",
    "net_down_ms",
)


class Columns:
    """Request rows as numpy columns: floats (NaN for missing), labels as integer codes
    into per-column name lists, output tokens. Every slice of a report is then a
    boolean mask, and a run of millions of requests costs about 120 bytes per request
    to report on (see `ColumnBuilder`), not a Python dict per row."""

    FLOATS: tuple[str, ...] = (
        "arrived_at",
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "energy_j",
        "cost_usd",
        *BREAKDOWN_KEYS,
    )
    LABELS: tuple[str, ...] = ("status", "site", "client_region", "client_place")
    ORDER: tuple[str, ...] = (*FLOATS, *LABELS, "output_tokens")  # for `add_tuples`

    def __init__(
        self,
        floats: dict[str, np.ndarray],
        codes: dict[str, np.ndarray],
        names: dict[str, list[str]],
        out_tokens: np.ndarray,
    ) -> None:
        self.f = floats
        self.codes = codes
        self.names = names
        self.out_tokens = out_tokens
        self.n = int(out_tokens.size)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Columns:
        builder = ColumnBuilder()
        builder.add(rows)
        return builder.build()

    def label_is(self, key: str, value: str) -> np.ndarray:
        names = self.names[key]
        if value not in names:
            return np.zeros(self.n, dtype=bool)
        mask: np.ndarray = self.codes[key] == names.index(value)
        return mask

    def ok_e2e_ms(self, region: str) -> np.ndarray:
        """E2E of the requests of one client region that succeeded (for the CDF plot)."""
        mask = self.label_is("status", "ok") & self.label_is("client_region", region)
        e2e: np.ndarray = self.f["e2e_ms"][mask]
        finite: np.ndarray = e2e[np.isfinite(e2e)]
        return finite


class ColumnBuilder:
    """Accumulates rows chunk by chunk into `Columns` (label strings become codes as
    they arrive), so a report can be built from a database cursor in bounded chunks."""

    def __init__(self) -> None:
        self._floats: dict[str, list[np.ndarray]] = {k: [] for k in Columns.FLOATS}
        self._codes: dict[str, list[np.ndarray]] = {k: [] for k in Columns.LABELS}
        self._index: dict[str, dict[str, int]] = {k: {} for k in Columns.LABELS}
        self._tokens: list[np.ndarray] = []

    def _code(self, key: str, value: Any) -> int:
        index = self._index[key]
        # a request no site took (rejected, or failed before routing) has no site
        label = str(value) if value else ("(none)" if key == "site" else "-")
        code = index.get(label)
        if code is None:
            code = index[label] = len(index)
        return code

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.add_tuples(tuple(r.get(k) for k in Columns.ORDER) for r in rows)

    def add_tuples(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows as tuples in `Columns.ORDER`."""
        chunk = list(rows)
        if not chunk:
            return
        cols = list(zip(*chunk, strict=True))
        nf = len(Columns.FLOATS)
        for i, key in enumerate(Columns.FLOATS):
            self._floats[key].append(
                np.array([math.nan if v is None else v for v in cols[i]], dtype=float)
            )
        for j, key in enumerate(Columns.LABELS):
            self._codes[key].append(
                np.array([self._code(key, v) for v in cols[nf + j]], dtype=np.int32)
            )
        self._tokens.append(np.array([int(v or 0) for v in cols[-1]], dtype=np.int64))

    def build(self) -> Columns:
        def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return Columns(
            {k: cat(v, float) for k, v in self._floats.items()},
            {k: cat(v, np.int32) for k, v in self._codes.items()},
            {k: list(index) for k, index in self._index.items()},
            cat(self._tokens, np.int64),
        )
