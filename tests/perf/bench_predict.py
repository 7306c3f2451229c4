"""Speed of `georoute predict` (prints figures; not a pytest test).

1. The issue's target: 2x h100-sxm, llama-3.3-70b fp8, 5000/500 tokens, concurrency
   250, 2,000 requests, end to end through the CLI entry point: under 2 s.
2. Simulated requests per CPU-second at concurrency 100, for 200 ... 2,000 output
   tokens: jump-ahead makes the cost follow requests and batch changes, not tokens.

Run: .venv/bin/python tests/perf/bench_predict.py
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from pathlib import Path

from georoute.cli import main
from sites.engine_api import DeploymentSpec
from sites.predict import run_closed_loop

TARGET = ["predict", "--hardware", "h100-sxm", "--devices", "2", "--model", "llama-3.3-70b",
          "--precision", "fp8", "--input-tokens", "5000", "--output-tokens", "500",
          "--concurrency", "250", "--requests", "2000", "--json"]


def cpu_wall(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main_bench() -> None:
    exe = Path(sys.executable).with_name("georoute")
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run([str(exe), *TARGET], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t0)
    print("georoute " + " ".join(TARGET))
    print(f"  whole command (new process, imports included), best of 3: {min(walls):.3f} s "
          f"wall (target < 2 s); all: {', '.join(f'{w:.2f}' for w in walls)}")
    print(f"  output: {out.stdout.strip()}")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cpus = [cpu_wall(lambda: main(TARGET))[1] for _ in range(3)]
    print(f"  in-process simulation, best of 3: {min(cpus):.3f} CPU-s")
    print()
    print("simulated requests per CPU-second, concurrency 100, 1000 input tokens")
    for framework, hardware, model in (("trtllm", "h100-sxm", "llama-3.3-70b"),
                                       ("vllm", "groq-lpu", "llama-3.3-70b")):
        spec = DeploymentSpec(hardware=hardware, model=model, precision="fp8",
                              devices=2 if hardware == "h100-sxm" else None,
                              framework=framework)  # type: ignore[arg-type]
        for out_tokens in (200, 500, 1000, 2000):
            n = 1000
            _, cpu, _ = cpu_wall(lambda o=out_tokens, s=spec, n=n: run_closed_loop(
                s, input_tokens=1000, output_tokens=o, concurrency=100, requests=n))
            print(f"  {hardware:<9} {out_tokens:>5} output tokens: {n / cpu:>9.0f} req/CPU-s "
                  f"({n * out_tokens / cpu / 1e6:.2f} M tokens/CPU-s)")


if __name__ == "__main__":
    main_bench()
