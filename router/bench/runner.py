"""`georoute bench run`: run a scenario once per policy on the same seeded traffic.

Sim mode calls `router.sim.simulate` (virtual time); live mode drives a running
router with `router.bench.live`. Either way rows stream to SQLite in batches through a
writer thread, one run (one `runs` row) per policy, and a rich progress bar shows how
far each run has got. What the report later needs beyond the rows (the SLOs, the
phases, the regret summary, the start of the run's clock) is kept in the run's config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from router.bench import facts
from router.bench.facts import BenchError
from router.bench.writer import StoreWriter
from router.scenarios import Scenario, stream_rng
from router.scenarios.model import STREAM_CONNECTIONS
from router.store import ResultsStore

if TYPE_CHECKING:
    from router.bench.live import LiveConfig, LiveResult

Mode = Literal["sim", "live"]
LOCAL = "local"  # --router local: start the scenario's sites and router in this process


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOptions:
    scenario: str  # built-in name or TOML path
    mode: Mode = "sim"
    policies: tuple[str, ...] = ()  # empty: the scenario's policy (sim) or the router's (live)
    seed: int | None = None  # None: the scenario's seed
    db: Path = Path("georoute.db")
    router_url: str | None = None
    max_requests: int | None = None
    duration_s: float | None = None
    no_residency: bool = False  # counterfactual: drop the scenario's residency rules
    no_events: bool = False  # counterfactual: drop the scenario's scripted events
    progress: bool = True


@dataclass(slots=True, kw_only=True)
class RunOutcome:
    run_id: str
    policy: str
    requests: int
    wall_s: float
    summary: dict[str, Any] = field(default_factory=dict)


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        disable=not enabled,
        transient=False,
    )


def _advance(bar: Progress, task: TaskID) -> Callable[[float], None]:
    def update(fraction: float) -> None:
        bar.update(task, completed=fraction)

    return update


def _finish(
    store: ResultsStore,
    run_id: str,
    config: dict[str, Any],
    *,
    policy: str,
    t0: float,
    summary: dict[str, Any],
) -> RunOutcome:
    """Record the run's end, its row count and what the report needs besides rows
    (`t0`: where arrival times count from; the summary), and return its outcome."""
    config["t0"] = t0
    config["result"] = summary
    store.finish_run(run_id)
    store.db.table("runs").update(
        run_id, {"config": json.dumps(config, sort_keys=True, default=str)}
    )
    return RunOutcome(
        run_id=run_id,
        policy=policy,
        requests=int(summary["requests"]),
        wall_s=float(summary["wall_s"]),
        summary=summary,
    )


def run_bench(opts: BenchOptions, console: Console | None = None) -> list[RunOutcome]:
    """Run every policy of `opts` and return one outcome per run (in policy order)."""
    console = console or Console(stderr=True)
    scenario = facts.load(opts.scenario)
    if opts.duration_s is not None:
        scenario = facts.with_duration(scenario, opts.duration_s)
    if opts.no_residency:
        scenario = facts.without_residency(scenario)
    if opts.no_events:
        scenario = facts.without_events(scenario)
    seed = scenario.seed if opts.seed is None else opts.seed
    if opts.mode == "sim":
        policies = opts.policies or (scenario.routing.policy,)
        facts.check_policies(policies)
        return _run_sim(opts, scenario, policies, seed, console)
    if opts.mode == "live":
        if not opts.router_url:
            raise BenchError("--mode live needs --router URL (a running `georoute up` or router)")
        if opts.policies:
            facts.check_policies(opts.policies)
        return _run_live(opts, scenario, seed, console)
    raise BenchError(f"--mode: unknown mode {opts.mode!r}; allowed: sim, live")


def _base_config(opts: BenchOptions, scenario: Scenario, seed: int, policy: str) -> dict[str, Any]:
    return {
        "scenario": opts.scenario,
        "mode": opts.mode,
        "policy": policy,
        "seed": seed,
        "max_requests": opts.max_requests,
        # a run cut by --requests spans its own arrivals, not the scenario's duration
        "duration_s": None if opts.max_requests is not None else scenario.duration_s,
        "slo": facts.slo_dict(scenario),
        "phases": facts.phases_dict(scenario),
        "router_url": opts.router_url,
    }


def _run_sim(
    opts: BenchOptions, scenario: Scenario, policies: Sequence[str], seed: int, console: Console
) -> list[RunOutcome]:
    from router.sim import simulate

    outcomes: list[RunOutcome] = []
    store = ResultsStore(opts.db)
    try:
        with _progress(console, opts.progress) as bar:
            for policy in policies:
                name = scenario.name
                task = bar.add_task(f"sim {name} · {policy}", total=1.0, note="")
                config = _base_config(opts, scenario, seed, policy)
                run_id = store.start_run(
                    scenario=name, mode="sim", policy=policy, config=config, seed=seed
                )
                with StoreWriter(opts.db) as writer:  # closing waits for every row
                    result = simulate(
                        scenario,
                        policy=policy,
                        seed=seed,
                        on_rows=partial(writer.put, run_id),
                        on_site_samples=partial(writer.put_samples, run_id),
                        progress=_advance(bar, task),
                        max_requests=opts.max_requests,
                    )
                summary = facts.sim_summary(result)
                bar.update(
                    task,
                    completed=1.0,
                    note=f"{summary['requests']} requests in {summary['wall_s']:.2f} s",
                )
                outcomes.append(
                    _finish(store, run_id, config, policy=policy, t0=0.0, summary=summary)
                )
    finally:
        store.close()
    return outcomes


def _live_requests(opts: BenchOptions, scenario: Scenario, seed: int) -> Iterator[Any]:
    requests = facts.client_requests(scenario, seed)
    for n, req in enumerate(requests):
        if opts.max_requests is not None and n >= opts.max_requests:
            return
        yield req


def _run_live(
    opts: BenchOptions, scenario: Scenario, seed: int, console: Console
) -> list[RunOutcome]:
    from router.bench.live import LiveConfig

    assert opts.router_url is not None
    policies: Sequence[str | None] = opts.policies or (None,)
    outcomes: list[RunOutcome] = []
    store = ResultsStore(opts.db)
    try:
        with _progress(console, opts.progress) as bar:
            for wanted in policies:
                if opts.router_url == LOCAL:
                    policy = wanted or scenario.routing.policy
                else:
                    policy = asyncio.run(_set_router_policy(opts.router_url, wanted))
                task = bar.add_task(f"live {scenario.name} · {policy}", total=1.0, note="")
                config = _base_config(opts, scenario, seed, policy)
                started = time.time()
                run_id = store.start_run(
                    scenario=scenario.name,
                    mode="live",
                    policy=policy,
                    config=config,
                    seed=seed,
                    started_at=started,
                )
                cfg = LiveConfig(
                    router_url=opts.router_url,
                    model=facts.model_of(scenario),
                    policy=policy,
                    connection_reuse=scenario.network.connection_reuse,
                )
                with StoreWriter(opts.db) as writer:
                    result = asyncio.run(
                        _drive(
                            cfg,
                            scenario,
                            seed,
                            _live_requests(opts, scenario, seed),
                            on_rows=partial(writer.put, run_id),
                            progress=_advance(bar, task),
                        )
                    )
                summary = {
                    "requests": result.sent,
                    "ok": result.ok,
                    "failed": result.failed,
                    "rejected": result.rejected,
                    "cancelled": result.cancelled,
                    "wall_s": round(result.wall_s, 3),
                    "max_lateness_ms": round(result.max_lateness_ms, 3),
                }
                bar.update(
                    task,
                    completed=1.0,
                    note=f"{result.sent} requests, {result.ok} ok, {result.wall_s:.1f} s",
                )
                # arrivals are Unix times from the start of the drive
                outcomes.append(
                    _finish(
                        store, run_id, config, policy=policy, t0=result.started_at,
                        summary=summary,
                    )
                )
    finally:
        store.close()
    return outcomes


async def _drive(
    cfg: LiveConfig,
    scenario: Scenario,
    seed: int,
    requests: Iterator[Any],
    *,
    on_rows: Callable[[list[dict[str, Any]]], None],
    progress: Callable[[float], None],
) -> LiveResult:
    """Drive the router at `cfg.router_url`, or (`local`) a system started here for it."""
    from router.bench.live import drive

    async with contextlib.AsyncExitStack() as stack:
        if cfg.router_url == LOCAL:
            from router.bench.local import local_system

            system = await stack.enter_async_context(
                local_system(scenario, policy=cfg.policy, seed=seed)
            )
            cfg = replace(cfg, router_url=system.router_url)
        return await drive(
            cfg,
            requests,
            on_rows=on_rows,
            duration_s=scenario.duration_s,
            progress=progress,
            reuse_rng=stream_rng(seed, STREAM_CONNECTIONS),
        )


async def _set_router_policy(url: str, policy: str | None) -> str:
    """Switch the router to `policy` through its admin API (or read the policy in force)."""
    import aiohttp

    base = url.rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            if policy is None:
                async with session.get(f"{base}/v1/router/stats") as resp:
                    if resp.status != 200:
                        raise BenchError(f"--router {url}: GET /v1/router/stats gave {resp.status}")
                    return str((await resp.json()).get("policy") or "router")
            token = os.environ.get("GEOROUTE_ADMIN_TOKEN")
            if not token:
                raise BenchError(
                    "--policy in live mode switches the router's policy: set GEOROUTE_ADMIN_TOKEN"
                )
            async with session.post(
                f"{base}/v1/router/admin/policy",
                json={"policy": policy},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                if resp.status != 200:
                    raise BenchError(
                        f"--policy {policy}: the router refused ({resp.status}): "
                        f"{(await resp.text())[:200]}"
                    )
    except aiohttp.ClientError as exc:
        raise BenchError(f"--router {url}: cannot reach the router ({exc})") from exc
    return policy
