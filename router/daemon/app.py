"""`make_app`: wiring only. Long-lived resources (the client session to the sites, the
health poller, the recorder) open and close in `cleanup_ctx`."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from router.config import RouterConfig
from router.daemon import admin, ops, proxy
from router.daemon.health import health_ctx, poll_once
from router.daemon.keys import METRICS, RECORDER, ROUTER, SERVED, SESSION, SETTINGS, UPSTREAM
from router.daemon.metrics import RouterMetrics
from router.daemon.recorder import Recorder
from router.daemon.requests import served_models
from router.daemon.state import LiveSite, NetworkSampler, RouterState, TrafficControl
from router.daemon.upstream import UpstreamPool, parse_origin
from router.geo import distance_km, preload, resolve_place
from router.policies import LatencyEstimator, RoutingContext, make_policy
from router.policies.cost import usd_per_mtok_at_capacity
from router.stats import RollingStats
from sites.catalog import get_hardware
from sites.engine_api import DeploymentSpec
from sites.server.app import json_errors
from sites.server.openai_api import MAX_BODY_BYTES


class SetupError(ValueError):
    """The router cannot start as configured (message names the site or setting)."""


def _engines() -> tuple[LatencyEstimator, Callable[[DeploymentSpec], DeploymentSpec]]:
    from sites.engines import estimate_latency, resolve_deployment

    return estimate_latency, resolve_deployment


def build_state(
    config: RouterConfig,
    *,
    site_urls: Mapping[str, str],
    network: NetworkSampler,
    estimate_latency: LatencyEstimator,
    resolve: Callable[[DeploymentSpec], DeploymentSpec],
    admin_token: str | None,
    traffic: TrafficControl | None,
) -> RouterState:
    settings = config.router
    sites: dict[str, LiveSite] = {}
    for cfg in config.sites:
        url = site_urls.get(cfg.name) or cfg.url
        if not url:
            raise SetupError(
                f"{config.file}: sites: {cfg.name} has no url (give `url` in the topology "
                "for `georoute router`, or run `georoute up` to start the sites)"
            )
        try:
            parse_origin(url)  # the forward client's view of it, checked before serving
        except ValueError as exc:
            raise SetupError(f"{config.file}: sites: {cfg.name}: {exc}") from None
        spec = resolve(cfg.deployment())
        price = cfg.price_per_device_hour or get_hardware(cfg.hardware).price_usd_per_hour
        max_running = spec.max_num_seqs or 1
        sites[cfg.name] = LiveSite(
            config=cfg,
            place=resolve_place(cfg.place),
            spec=spec,
            url=url.rstrip("/"),
            weight=settings.weights.get(cfg.name, 1.0),
            max_running=max_running,
            usd_per_mtok=usd_per_mtok_at_capacity(
                spec,
                price_usd_per_device_hour=price,
                max_running=max_running,
                estimate_latency=estimate_latency,
            ),
        )
    ctx = RoutingContext(
        network=network,
        estimate_latency=estimate_latency,
        distance_km=distance_km,
        residency=settings.residency,
        latency_ceiling_ms=settings.latency_ceiling_ms,
    )
    return RouterState(
        sites=sites,
        ctx=ctx,
        network=network,
        policy=make_policy(settings.policy),
        rng=np.random.default_rng(settings.seed),
        default_place=resolve_place(settings.default_place),
        max_in_flight_per_site=settings.max_in_flight_per_site,
        max_in_flight_total=settings.max_in_flight_total,
        eject_after_errors=settings.eject_after_errors,
        eject_cooldown_s=settings.eject_cooldown_s,
        simulate_network=settings.simulate_network,
        admin_token=admin_token,
        stats=RollingStats(settings.stats_window_s),
        traffic=traffic,
    )


def make_app(
    config: RouterConfig,
    *,
    site_urls: Mapping[str, str] | None = None,
    db_path: str | Path | None = None,
    admin_token: str | None = None,
    network: NetworkSampler | None = None,
    estimate_latency: LatencyEstimator | None = None,
    resolve: Callable[[DeploymentSpec], DeploymentSpec] | None = None,
    traffic: TrafficControl | None = None,
    mode: str = "router",
    scenario: str = "router",
    on_run: Callable[[str], object] | None = None,
) -> web.Application:
    """The router app. `site_urls` overrides the topology's `url`s (how `up` points the
    router at the sites it started); `db_path=None` records nothing but still counts."""
    if network is None:
        from router.network import NetworkModel

        network = NetworkModel()
    if estimate_latency is None or resolve is None:
        real_estimate, real_resolve = _engines()
        estimate_latency = estimate_latency or real_estimate
        resolve = resolve or real_resolve
    state = build_state(
        config,
        site_urls=site_urls or {},
        network=network,
        estimate_latency=estimate_latency,
        resolve=resolve,
        admin_token=admin_token,
        traffic=traffic,
    )
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[ROUTER] = state
    app[SETTINGS] = config.router
    app[METRICS] = RouterMetrics()
    app[RECORDER] = Recorder(db_path)
    app[SERVED] = served_models({s.model for s in config.sites})

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=None)
        # The forwards' own pool: as many connections per site as requests in flight.
        per_site = config.router.max_in_flight_per_site
        pool = UpstreamPool(max_connections_per_site=per_site, max_idle_per_site=min(per_site, 512))
        app[UPSTREAM] = pool
        try:
            async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
                app[SESSION] = session
                await poll_once(state, session, config.router.health_timeout_s)
                yield
        finally:
            await pool.close()

    async def gazetteer_ctx(app: web.Application) -> AsyncIterator[None]:
        # The GeoNames city table loads lazily (~1 s, once per process): load it before
        # serving, in a thread, so the first unusual X-Client-Location does not stall
        # every open stream on the event loop.
        await asyncio.to_thread(preload)
        yield

    async def recorder_ctx(app: web.Application) -> AsyncIterator[None]:
        run_id = await app[RECORDER].open(
            scenario=scenario,
            mode=mode,
            policy=state.policy.name,
            config=_run_config(config),
            seed=config.router.seed,
        )
        if on_run is not None:
            on_run(run_id)
        yield
        await app[RECORDER].close()

    app.cleanup_ctx.append(gazetteer_ctx)
    app.cleanup_ctx.append(recorder_ctx)
    app.cleanup_ctx.append(session_ctx)
    app.cleanup_ctx.append(
        health_ctx(config.router.health_interval_s, config.router.health_timeout_s)
    )
    app.router.add_post("/v1/chat/completions", proxy.handle_chat)
    app.router.add_post("/v1/completions", proxy.handle_completions)
    app.router.add_get("/v1/models", ops.handle_models)
    app.router.add_get("/health", ops.handle_health)
    app.router.add_get("/metrics", ops.handle_metrics)
    app.router.add_get("/v1/router/stats", ops.handle_stats)
    app.router.add_get("/v1/router/events", ops.handle_events)
    app.router.add_post("/v1/router/admin/policy", admin.handle_policy)
    app.router.add_post(
        r"/v1/router/admin/sites/{name}/{action:drain|fail|restore}", admin.handle_site_action
    )
    app.router.add_post("/v1/router/admin/traffic", admin.handle_traffic)
    return app


def _run_config(config: RouterConfig) -> dict[str, Any]:
    return {
        "file": config.file,
        "sites": [dataclasses.asdict(s) for s in config.sites],
        "router": {k: v for k, v in dataclasses.asdict(config.router).items() if k != "residency"}
        | {"residency": [[sorted(r.clients), sorted(r.allowed)] for r in config.router.residency]},
    }
