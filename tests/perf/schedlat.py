"""How long processes waited for a CPU, from the kernel's scheduler events (`perf sched`).

A benchmark on a shared 2-CPU machine measures its own processes' waits along with the
thing it means to measure. `perf sched record` logs every wakeup and context switch;
`perf sched timehist` turns them into, per time a task got a CPU, its scheduling delay
(from its wakeup to running). Splitting those by process and by the benchmark's rounds
says whether a figure moved because a process was kept off a CPU.

Needs `perf` and the rights to trace the scheduler (root, or kernel.perf_event_paranoid
<= -1). Timestamps are CLOCK_MONOTONIC (`-k mono`), the clock of `time.monotonic()`.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np

_TASK = re.compile(r"\[(\d+)(?:/(\d+))?\]$")  # "name[pid]" or "name[tid/pid]"


class SchedRecording:
    """`perf sched record` of the whole machine from `start()` to `stop()`."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if shutil.which("perf") is None:
            raise SystemExit("--perf-sched needs `perf` (linux-tools) on PATH")
        self.proc = subprocess.Popen(
            ["perf", "sched", "record", "-k", "mono", "-o", str(self.out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=120)
        if not self.out.exists():
            raise SystemExit(f"perf sched record wrote nothing: {err.decode()[-500:]}")
        self.proc = None

    def delays(
        self, pids: dict[str, int], windows: dict[str, list[tuple[float, float]]]
    ) -> dict[tuple[str, str], np.ndarray]:
        """(window name, process name) -> scheduling delays in ms of every thread of
        that process, each time it got a CPU inside one of the window's intervals."""
        text = subprocess.run(
            ["perf", "sched", "timehist", "-i", str(self.out)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        by_pid = {pid: name for name, pid in pids.items()}
        spans = sorted((t0, t1, win) for win, ts in windows.items() for t0, t1 in ts)
        out: dict[tuple[str, str], list[float]] = {}
        for t, pid, delay in _rows(text.splitlines()):
            name = by_pid.get(pid)
            if name is None:
                continue
            for t0, t1, win in spans:
                if t0 <= t <= t1:
                    out.setdefault((win, name), []).append(delay)
                    break
        return {k: np.asarray(v) for k, v in out.items()}


def _rows(lines: Iterable[str]) -> Iterable[tuple[float, int, float]]:
    """(time s, pid, scheduling delay ms) from `perf sched timehist` lines:
    time, [cpu], task, wait time, sch delay, run time (header and idle lines skipped)."""
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or not parts[1].startswith("["):
            continue
        m = _TASK.search(parts[2])
        if m is None:
            continue
        try:
            t, delay = float(parts[0]), float(parts[4])
        except ValueError:
            continue
        yield t, int(m.group(2) or m.group(1)), delay
