"""A live site under a closed-loop load reproduces `georoute predict` for the same
deployment (the real engines, the real clock, sockets on 127.0.0.1).

The load uses a bare aiohttp client rather than the openai package: on this shared
machine the openai client needs 5-10 ms of its own to issue each request under load,
which spreads each wave of a closed loop over ~50 ms and desynchronises it from
predict's lock-step waves (measured: TTFT -14%, TPOT +17% with the openai client at
concurrency 8; within 1% with the bare client). Everything else in tests/sites drives
the sites through the openai package.
"""

from __future__ import annotations

import aiohttp
import pytest
from closed_loop import closed_loop

from sites.predict import predict
from sites.server.runner import run_sites
from sites.topology import SiteConfig

pytestmark = pytest.mark.slow


CONCURRENCY = 3
WAVES = 5


async def test_gpu_site_reproduces_predict() -> None:
    site = SiteConfig(name="virginia", place="Ashburn", hardware="h100-sxm", model="llama-3.3-70b")
    lengths = {"input_tokens": 1500, "output_tokens": 16}
    expected = predict(site.deployment(), concurrency=CONCURRENCY, **lengths)
    group = await run_sites([site])
    try:
        async with aiohttp.ClientSession() as session:
            result = await closed_loop(
                (session, group.url("virginia")),
                model=site.model,
                concurrency=CONCURRENCY,
                requests=WAVES * CONCURRENCY,
                **lengths,
            )
    finally:
        await group.stop()
    assert len(result.steady) >= 2 * CONCURRENCY
    figures = {
        "predict": (expected.ttft_ms, expected.tpot_ms),
        "site": (result.site_mean("ttft_ms"), result.site_mean("tpot_ms")),
        "client": (result.mean("ttft_ms"), result.mean("tpot_ms")),
    }
    # the site's own schedule (the georoute object), and what the client measured
    for who in ("site", "client"):
        ttft_ms, tpot_ms = figures[who]
        assert ttft_ms == pytest.approx(expected.ttft_ms, rel=0.05), figures
        assert tpot_ms == pytest.approx(expected.tpot_ms, rel=0.05), figures
