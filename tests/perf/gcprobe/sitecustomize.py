"""GC pause probe for the router overhead benchmark (`--gc-probe`): on PYTHONPATH, this
`sitecustomize` times every cyclic-GC collection on the collecting thread's CPU clock
(so time the process waits for a CPU is not counted) once start-up has frozen its heap,
and writes per-generation counts and pause percentiles to $GCPROBE_OUT at exit."""

from __future__ import annotations

import atexit
import gc
import os
import time

_started: list[float] = [0.0]
_pauses_ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
_on = [False]


def _callback(phase: str, info: dict[str, int]) -> None:
    now = time.thread_time()
    if phase == "start":
        _started[0] = now
    elif _on[0]:
        _pauses_ms[info["generation"]].append((now - _started[0]) * 1000.0)
    elif gc.get_freeze_count():  # walks a list: checked only until start-up is over
        _on[0] = True


def _write() -> None:
    lines = [f"gc thresholds {gc.get_threshold()}"]
    for gen, pauses in _pauses_ms.items():
        if pauses:
            p = sorted(pauses)
            lines.append(
                f"gen{gen}: {len(p)} collections, {sum(p):.0f} ms CPU; pause p50 "
                f"{p[len(p) // 2]:.2f} p99 {p[int(len(p) * 0.99)]:.2f} max {p[-1]:.2f} ms"
            )
    with open(os.environ["GCPROBE_OUT"], "w") as out:
        out.write("\n".join(lines) + "\n")


if os.environ.get("GCPROBE_OUT"):
    gc.callbacks.append(_callback)
    atexit.register(_write)
