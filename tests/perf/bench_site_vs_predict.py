"""A live site under a large closed-loop load versus `georoute predict` (prints
figures; not a pytest test).

For each deployment, `predict` runs the closed loop in virtual time with as many
requests as the live run (with its default client turnaround, and lock-step, 0 ms, for
reference); then a live site (real engine, wall clock, sockets on 127.0.0.1) is driven
by the same closed loop from a bare aiohttp client (tests/sites/closed_loop.py). The
site runs as `georoute site` in its own process (uvloop, as deployed; --same-process
puts it on the client's loop instead). Printed per run: mean TTFT and TPOT from
predict, from the site's own `georoute` accounting, and as measured by the client,
with the deviations from predict; the client turnarounds (last content chunk to the
next send, p10/p50/p90); and what the client's TTFT has on top of the site's
schedule: intake (the site's arrival stamp minus the send) and first-chunk lag (its
arrival minus its scheduled time). With --repeats N the live runs repeat and a
summary gives the spread (min..max) of the client's deviation per deployment.

Run: .venv/bin/python tests/perf/bench_site_vs_predict.py
     .venv/bin/python tests/perf/bench_site_vs_predict.py --repeats 3
     .venv/bin/python tests/perf/bench_site_vs_predict.py --gpu-concurrency 128 --waves 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sites"))

from closed_loop import closed_loop

from sites.predict import DEFAULT_CLIENT_TURNAROUND_MS, predict
from sites.server.runner import run_event_loop, run_sites
from sites.topology import SiteConfig


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def site_url(site: SiteConfig, same_process: bool) -> AsyncIterator[str]:
    """A running site: `georoute site` in a subprocess, or on this loop."""
    if same_process:
        group = await run_sites([site])
        try:
            yield group.url(site.name)
        finally:
            await group.stop()
        return
    port = free_port()
    exe = Path(sys.executable).with_name("georoute")
    proc = await asyncio.create_subprocess_exec(
        str(exe), "site", "--name", site.name, "--place", site.place, "--hardware",
        site.hardware, "--model", site.model, "--port", str(port),
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(url + "/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("site did not come up")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=60)


async def one(
    site: SiteConfig,
    *,
    input_tokens: int,
    output_tokens: int,
    concurrency: int,
    waves: int,
    turnaround_ms: float,
    same_process: bool,
) -> tuple[float, float]:
    """One live run; returns the client's (TTFT, TPOT) deviation from predict."""
    lengths = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    requests = waves * concurrency
    expected = predict(
        site.deployment(), concurrency=concurrency, requests=requests,
        client_turnaround_ms=turnaround_ms, **lengths,
    )
    lock_step = predict(
        site.deployment(), concurrency=concurrency, requests=requests,
        client_turnaround_ms=0.0, **lengths,
    )
    async with site_url(site, same_process) as url:
        t0 = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            result = await closed_loop(
                (session, url),
                model=site.model,
                concurrency=concurrency,
                requests=requests,
                **lengths,
            )
        wall = time.perf_counter() - t0
    turn = result.turnarounds_ms()
    print(
        f"{site.hardware} x {site.model}: {input_tokens}/{output_tokens} tokens, "
        f"concurrency {concurrency}, {len(result.samples)} requests "
        f"({len(result.steady)} in the steady window), {wall:.1f} s, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  client turnaround p10/p50/p90 {pct(turn, 0.1):.2f}/{pct(turn, 0.5):.2f}/"
        f"{pct(turn, 0.9):.2f} ms (predict models {turnaround_ms:g} ms x U[0.5, 1.5])"
    )
    split = result.split_ms()
    if split is not None:
        print(
            f"  client TTFT on top of the site's schedule: intake {split[0]:.2f} ms, "
            f"first-chunk lag {split[1]:.2f} ms (means)"
        )
    deviations = []
    for key, pred, zero in (
        ("ttft_ms", expected.ttft_ms, lock_step.ttft_ms),
        ("tpot_ms", expected.tpot_ms, lock_step.tpot_ms),
    ):
        site_v, client_v = result.site_mean(key), result.mean(key)
        deviations.append(client_v / pred - 1)
        print(
            f"  {key[:4].upper()} predict {pred:9.2f} ms (lock-step {zero:9.2f})   "
            f"site {site_v:9.2f} ms ({site_v / pred - 1:+6.1%})   "
            f"client {client_v:9.2f} ms ({client_v / pred - 1:+6.1%})"
        )
    return deviations[0], deviations[1]


async def main_async(args: argparse.Namespace) -> None:
    where = "on the client's loop" if args.same_process else "georoute site subprocess"
    print(
        f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, site: {where}, "
        f"client loop: {args.client_loop}"
    )
    runs = (
        (SiteConfig(name="gpu", place="Ashburn", hardware="h100-sxm", model=args.model),
         args.gpu_concurrency),
        (SiteConfig(name="lpu", place="Riyadh", hardware="groq-lpu", model=args.model),
         args.lpu_concurrency),
    )
    spread: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.repeats):
        for site, concurrency in runs:
            dev = await one(
                site,
                input_tokens=args.input_tokens,
                output_tokens=args.output_tokens,
                concurrency=concurrency,
                waves=args.waves,
                turnaround_ms=args.client_turnaround_ms,
                same_process=args.same_process,
            )
            spread.setdefault(f"{site.hardware} x{concurrency}", []).append(dev)
    if args.repeats > 1:
        print("client vs predict over the repeats (min .. max):")
        for name, devs in spread.items():
            ttft = sorted(d[0] for d in devs)
            tpot = sorted(d[1] for d in devs)
            print(
                f"  {name:16s} TTFT {ttft[0]:+6.1%} .. {ttft[-1]:+6.1%}   "
                f"TPOT {tpot[0]:+6.1%} .. {tpot[-1]:+6.1%}   ({len(devs)} runs)"
            )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="llama-3.3-70b")
    p.add_argument("--input-tokens", type=int, default=1000)
    p.add_argument("--output-tokens", type=int, default=100)
    p.add_argument("--gpu-concurrency", type=int, default=64)
    p.add_argument("--lpu-concurrency", type=int, default=128)
    p.add_argument("--waves", type=int, default=4, help="requests = waves x concurrency")
    p.add_argument("--repeats", type=int, default=1, help="live runs per deployment")
    p.add_argument("--client-turnaround-ms", type=float, default=DEFAULT_CLIENT_TURNAROUND_MS,
                   help="predict's mean client turnaround")
    p.add_argument("--same-process", action="store_true",
                   help="run the site on the client's event loop (the old set-up)")
    p.add_argument("--client-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="the measuring client's event loop (uvloop: fewer microseconds a read)")
    args = p.parse_args()
    run_event_loop(main_async(args), args.client_loop)


if __name__ == "__main__":
    main()
