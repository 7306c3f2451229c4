"""Trace replay: arrival times (and lengths) from an Azure 2023 CSV or a Mooncake
JSONL, time-scaled, optionally looped, with quantised timestamps spread out.

Mooncake stamps requests in buckets about 3 s apart; replaying them as bursts of
simultaneous requests would invent a burstiness the real traffic did not have, so
the requests of one bucket are spread uniformly (sorted) over the gap to the next
bucket, capped at `spread_s`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from router.traffic.arrivals import FloatArray, GroupPicker, IntArray, TraceArrivals
from router.traffic.traces import TraceRecord, detect_format, read_trace

MOONCAKE_BUCKET_S = 3.0

Block = tuple[FloatArray, IntArray, IntArray, IntArray]


def _groups_of_equal_time(records: Iterator[TraceRecord]) -> Iterator[list[TraceRecord]]:
    group: list[TraceRecord] = []
    for rec in records:
        if group and rec.at_s != group[0].at_s:
            yield group
            group = []
        group.append(rec)
    if group:
        yield group


def _spread(
    records: Iterator[TraceRecord], spread_s: float, rng: np.random.Generator
) -> Iterator[tuple[float, int, int]]:
    """(at_s, prompt, output) with each equal-timestamp group spread over
    [t, t + min(next_t - t, spread_s)); the last group uses `spread_s`."""
    pending: list[TraceRecord] | None = None
    for group in _groups_of_equal_time(records):
        if pending is not None:
            yield from _place(pending, float(group[0].at_s or 0.0), spread_s, rng)
        pending = group
    if pending is not None:
        t = float(pending[0].at_s or 0.0)
        yield from _place(pending, t + spread_s, spread_s, rng)


def _place(
    group: list[TraceRecord], next_at: float, spread_s: float, rng: np.random.Generator
) -> Iterator[tuple[float, int, int]]:
    t = float(group[0].at_s or 0.0)
    width = min(next_at - t, spread_s)
    offsets = np.sort(rng.random(len(group))) * width
    for rec, off in zip(group, offsets, strict=True):
        yield t + float(off), rec.prompt_tokens, rec.output_tokens


def trace_blocks(
    cfg: TraceArrivals,
    picker: GroupPicker,
    rng_spread: np.random.Generator,
    rng_pick: np.random.Generator,
    duration_s: float,
    block: int,
) -> Iterator[Block]:
    """Blocks of (at_s, group, prompt_tokens, output_tokens) in time order."""
    fmt = cfg.format or detect_format(cfg.path)
    if fmt == "sharegpt":
        raise ValueError(f"{cfg.path}: a ShareGPT length file has no timestamps to replay")
    spread_s = cfg.spread_s
    if spread_s is None:
        spread_s = MOONCAKE_BUCKET_S if fmt == "mooncake" else 0.0
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    offset_s = 0.0
    while True:
        last_s = 0.0
        count = 0  # this pass's arrivals (for the loop's mean gap)
        records = (r for r in read_trace(cfg.path, fmt) if (r.at_s or 0.0) >= cfg.start_s)
        stream = (
            _spread(records, spread_s, rng_spread)
            if spread_s > 0
            else ((float(r.at_s or 0.0), r.prompt_tokens, r.output_tokens) for r in records)
        )
        for at_trace, prompt, output in stream:
            at = offset_s + (at_trace - cfg.start_s) / cfg.speedup
            if at >= duration_s:
                break
            last_s = at
            count += 1  # noqa: SIM113 (the loop breaks; enumerate would miscount)
            times.append(at)
            prompts.append(max(prompt, 1))
            outputs.append(max(output, 1))
            if len(times) >= block:
                yield _block(times, prompts, outputs, picker, rng_pick)
                times, prompts, outputs = [], [], []
        else:
            if cfg.loop and count > 0:
                # Next pass starts one mean gap after this pass's last arrival.
                offset_s = last_s + (last_s - offset_s) / max(count - 1, 1)
                if offset_s < duration_s:
                    continue
        break
    if times:
        yield _block(times, prompts, outputs, picker, rng_pick)


def _block(
    times: list[float],
    prompts: list[int],
    outputs: list[int],
    picker: GroupPicker,
    rng_pick: np.random.Generator,
) -> Block:
    return (
        np.array(times, dtype=np.float64),
        picker.pick(rng_pick, len(times)),
        np.array(prompts, dtype=np.int64),
        np.array(outputs, dtype=np.int64),
    )
