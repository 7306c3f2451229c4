"""A live site under a large closed-loop load versus `georoute predict` (prints
figures; not a pytest test).

For each deployment, `predict` runs the closed loop in virtual time; then a live site
(real engine, wall clock, sockets on 127.0.0.1) is driven by the same closed loop from
a bare aiohttp client in this process (tests/sites/closed_loop.py). Printed: mean TTFT
and TPOT from predict, from the site's own `georoute` accounting, and as measured by
the client, with the client's deviation from predict.

Run: .venv/bin/python tests/perf/bench_site_vs_predict.py
     .venv/bin/python tests/perf/bench_site_vs_predict.py --gpu-concurrency 128 --waves 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sites"))

from closed_loop import closed_loop

from sites.predict import predict
from sites.server.runner import run_sites
from sites.topology import SiteConfig


async def one(
    site: SiteConfig, *, input_tokens: int, output_tokens: int, concurrency: int, waves: int
) -> None:
    expected = predict(
        site.deployment(),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        concurrency=concurrency,
    )
    group = await run_sites([site])
    t0 = time.perf_counter()
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            result = await closed_loop(
                (session, group.url(site.name)),
                model=site.model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                concurrency=concurrency,
                requests=waves * concurrency,
            )
    finally:
        await group.stop()
    wall = time.perf_counter() - t0
    print(
        f"{site.hardware} x {site.model}: {input_tokens}/{output_tokens} tokens, "
        f"concurrency {concurrency}, {len(result.samples)} requests "
        f"({len(result.steady)} in the steady window), {wall:.1f} s"
    )
    for key, pred in (("ttft_ms", expected.ttft_ms), ("tpot_ms", expected.tpot_ms)):
        site_v, client_v = result.site_mean(key), result.mean(key)
        print(
            f"  {key[:4].upper()} predict {pred:9.2f} ms   "
            f"site {site_v:9.2f} ms ({site_v / pred - 1:+6.1%})   "
            f"client {client_v:9.2f} ms ({client_v / pred - 1:+6.1%})"
        )


async def main_async(args: argparse.Namespace) -> None:
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    await one(
        SiteConfig(name="gpu", place="Ashburn", hardware="h100-sxm", model=args.model),
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        concurrency=args.gpu_concurrency,
        waves=args.waves,
    )
    await one(
        SiteConfig(name="lpu", place="Riyadh", hardware="groq-lpu", model=args.model),
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        concurrency=args.lpu_concurrency,
        waves=args.waves,
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
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
