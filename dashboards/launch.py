"""`georoute up --dash`: run the dashboard in front of a running `up`.

The dashboard runs as a child process (`python -m georoute dash --router URL`) on the
same terminal rather than in `up`'s event loop: drawing a 160-column screen takes
tens of milliseconds, which would otherwise delay the sites' token pacing and the
router's proxying, i.e. the very latencies on display. `up` awaits
`run_dashboard_process` instead of printing status lines; quitting the dashboard
(`q`), a stop signal or `--duration` ends it, and `up` then drains as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence

TOKEN_ENV = "GEOROUTE_ADMIN_TOKEN"


def dash_command(router_url: str, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "georoute", "dash", "--router", router_url, *extra]


async def run_dashboard_process(
    router_url: str,
    token: str | None,
    *,
    stop: asyncio.Event | None = None,
    duration_s: float | None = None,
    extra_args: Sequence[str] = (),
    terminate_timeout_s: float = 5.0,
) -> int:
    """Run the dashboard until it exits, `stop` is set or `duration_s` passes.

    The token goes through the environment, never the command line (which `ps` shows).
    Returns the dashboard's exit status (or -15 style statuses when it was stopped).
    """
    env = dict(os.environ)
    if token:
        env[TOKEN_ENV] = token
    proc = await asyncio.create_subprocess_exec(*dash_command(router_url, extra_args), env=env)
    waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(proc.wait())}
    if stop is not None:
        waiters.add(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), terminate_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
    return int(proc.returncode if proc.returncode is not None else 0)
