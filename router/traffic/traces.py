"""Streaming readers for public LLM request traces (the path is the user's; nothing is
copied into the repository).

- Azure LLM inference trace 2023 CSV: `TIMESTAMP,ContextTokens,GeneratedTokens`, wall-clock
  timestamps with 7 decimals and no zone, sorted, no trailing newline.
- Mooncake JSONL: `timestamp` (ms since the trace start), `input_length`, `output_length`
  (and `hash_ids`, ignored). Arrivals are quantised into buckets about 3 s apart; the
  arrival process spreads them (`router.traffic.arrivals`).
- ShareGPT length statistics CSV (sarathi-serve): `num_prefill_tokens,num_decode_tokens,...`,
  lengths only (`at_s` is None).

Readers yield records one at a time, so a long trace replays in bounded memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

TraceFormat = Literal["azure", "mooncake", "sharegpt"]
TRACE_FORMATS: tuple[TraceFormat, ...] = ("azure", "mooncake", "sharegpt")


class TraceError(ValueError):
    """A trace file that cannot be read or parsed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One request of a trace: seconds since the trace's first request (None when the
    format has no timestamps), and its token counts."""

    at_s: float | None
    prompt_tokens: int
    output_tokens: int


def detect_format(path: str | Path) -> TraceFormat:
    """The trace format, from the extension and the first line."""
    p = Path(path)
    try:
        with open(p, encoding="utf-8") as fh:
            first = fh.readline().strip()
    except OSError as exc:
        raise TraceError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if p.suffix == ".jsonl" or first.startswith("{"):
        return "mooncake"
    header = [h.strip() for h in first.split(",")]
    if header[:3] == ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]:
        return "azure"
    if header[:2] == ["num_prefill_tokens", "num_decode_tokens"]:
        return "sharegpt"
    raise TraceError(
        f"{p}: unrecognised trace format (first line {first[:80]!r}); expected an Azure 2023 "
        "CSV (TIMESTAMP,ContextTokens,GeneratedTokens), a Mooncake JSONL or a ShareGPT length CSV"
    )


def read_trace(path: str | Path, fmt: TraceFormat | None = None) -> Iterator[TraceRecord]:
    """Records of a trace file in file order."""
    fmt = fmt or detect_format(path)
    if fmt == "azure":
        return _read_azure(Path(path))
    if fmt == "mooncake":
        return _read_mooncake(Path(path))
    return _read_sharegpt(Path(path))


def _open(path: Path) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            yield from fh
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _azure_seconds(stamp: str) -> float:
    """POSIX-like seconds of a zone-less 'YYYY-MM-DD HH:MM:SS.fffffff' (7 decimals are
    more than datetime parses: the fraction is added separately). Read as UTC so that
    no local daylight-saving jump can bend the gaps."""
    whole, _, frac = stamp.partition(".")
    base = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    return base + (float("0." + frac) if frac else 0.0)


def _read_azure(path: Path) -> Iterator[TraceRecord]:
    origin: float | None = None
    reader = csv.reader(_open(path))
    for lineno, row in enumerate(reader, start=1):
        if lineno == 1:
            continue
        if not row:
            continue
        try:
            at = _azure_seconds(row[0].strip())
            prompt, output = int(row[1]), int(row[2])
        except (ValueError, IndexError) as exc:
            raise TraceError(f"{path}:{lineno}: bad Azure trace row {row!r}: {exc}") from exc
        if origin is None:
            origin = at
        yield TraceRecord(at - origin, prompt, output)


def _read_mooncake(path: Path) -> Iterator[TraceRecord]:
    origin: float | None = None
    for lineno, line in enumerate(_open(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            at = float(obj["timestamp"]) / 1000.0
            prompt, output = int(obj["input_length"]), int(obj["output_length"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TraceError(f"{path}:{lineno}: bad Mooncake trace line: {exc}") from exc
        if origin is None:
            origin = at
        yield TraceRecord(at - origin, prompt, output)


def _read_sharegpt(path: Path) -> Iterator[TraceRecord]:
    reader = csv.reader(_open(path))
    for lineno, row in enumerate(reader, start=1):
        if lineno == 1 or not row:
            continue
        try:
            yield TraceRecord(None, int(row[0]), int(row[1]))
        except (ValueError, IndexError) as exc:
            raise TraceError(f"{path}:{lineno}: bad ShareGPT length row {row!r}: {exc}") from exc
