"""Everything one running site holds: its config, engine, driver, fault state and
metrics, and the values it reports (/health, the `georoute` timing object).

No aiohttp here: the HTTP handlers translate requests into calls on this object.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

from sites.clock import Clock, WallClock
from sites.engine_api import Engine, RequestResult
from sites.server.driver import Pacing, SiteDriver, TokenStream
from sites.server.faults import Fault, SiteState
from sites.server.metrics import SiteMetrics
from sites.server.openai_api import ServedModel
from sites.topology import SiteConfig

DEFAULT_CONTEXT = 131_072


@dataclass(frozen=True, slots=True, kw_only=True)
class CostScale:
    """Multipliers for the engine's energy and cost when the topology overrides the
    catalog's per-device power or price."""

    energy: float = 1.0
    cost: float = 1.0


def served_model(site: SiteConfig) -> ServedModel:
    """The model id and context length clients see (context from the catalog)."""
    try:
        from sites.catalog import get_model
    except ImportError:  # pragma: no cover - the catalog ships with the engines
        return ServedModel(id=site.model, max_context=DEFAULT_CONTEXT)
    return ServedModel(id=site.model, max_context=get_model(site.model).max_context)


def default_pacing(site: SiteConfig) -> Pacing:
    """The driver defaults for the site's engine family (LPU or GPU)."""
    from sites.catalog import get_hardware

    return Pacing.for_hardware_kind(get_hardware(site.hardware).kind)


def cost_scale(site: SiteConfig) -> CostScale:
    if site.price_per_device_hour is None and site.power_w is None:
        return CostScale()
    from sites.catalog import get_hardware

    hw = get_hardware(site.hardware)
    return CostScale(
        energy=site.power_w / hw.power_w if site.power_w is not None else 1.0,
        cost=(
            site.price_per_device_hour / hw.price_usd_per_hour
            if site.price_per_device_hour is not None
            else 1.0
        ),
    )


class SiteRuntime:
    """One site's live state, shared by its handlers."""

    def __init__(
        self,
        site: SiteConfig,
        engine: Engine,
        *,
        clock: Clock | None = None,
        admin_token: str | None = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.site = site
        self.engine = engine
        self.clock = clock if clock is not None else WallClock()
        self.admin_token = admin_token
        self.served = served_model(site)
        self.scale = cost_scale(site)
        self.state = SiteState()
        self.driver = SiteDriver(engine, self.clock, pacing=pacing or default_pacing(site))
        self.metrics = SiteMetrics(site.name, engine.load, lambda: len(self.driver.streams))
        self.created = int(time.time())
        self._ids = itertools.count(1)
        self._resume = asyncio.Event()
        self._resume.set()

    # --- requests ------------------------------------------------------------
    def next_id(self, kind: str) -> str:
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        return f"{prefix}-{self.site.name}-{next(self._ids)}"

    async def wait_unhung(self) -> None:
        """Block (cancellably) while the site is hung."""
        while self.state.mode == "hang":
            await self._resume.wait()

    def monotonic(self, at: float) -> float:
        """A clock time on the `time.monotonic()` scale (for the timing extension)."""
        to_mono = getattr(self.clock, "to_monotonic", None)
        return float(to_mono(at)) if to_mono is not None else at

    def timing(self, stream: TokenStream, result: RequestResult | None) -> dict[str, Any]:
        """The site's own account of one request: the `georoute` object."""
        arrived = stream.arrived_at
        first = stream.first_token_at if stream.first_token_at is not None else arrived
        last = stream.last_token_at if stream.last_token_at is not None else first
        factor = self.driver.time.factor
        factor = factor if factor < float("inf") else 1.0
        ttft_ms = (first - arrived) * 1000.0
        queue_ms = min(ttft_ms, result.queue_s * 1000.0 * factor) if result is not None else 0.0
        decode_ms = (last - first) * 1000.0
        n = stream.output_tokens
        return {
            "site": self.site.name,
            "queue_ms": round(queue_ms, 3),
            "prefill_ms": round(ttft_ms - queue_ms, 3),
            "ttft_ms": round(ttft_ms, 3),
            "decode_ms": round(decode_ms, 3),
            "tpot_ms": round(decode_ms / (n - 1), 3) if n > 1 else 0.0,
            "e2e_ms": round((last - arrived) * 1000.0, 3),
            "prompt_tokens": stream.prompt_tokens,
            "output_tokens": n,
            "energy_j": round(result.energy_j * self.scale.energy, 3) if result else 0.0,
            "cost_usd": result.cost_usd * self.scale.cost if result else 0.0,
            "preemptions": result.preemptions if result else 0,
        }

    # --- operations ----------------------------------------------------------
    def apply_fault(self, fault: Fault) -> int:
        """Apply a fault; returns the number of streams it cut."""
        self.state.apply(fault)
        self._sync_time()
        dropped = 0
        if fault.drop_streams:
            dropped = self.driver.drop_streams("stream dropped by fault injection")
            for _ in range(dropped):
                self.metrics.outcome("dropped")
        return dropped

    def clear_fault(self) -> None:
        self.state.clear()
        self._sync_time()

    def _sync_time(self) -> None:
        self.driver.set_time_factor(self.state.time_factor)
        if self.state.mode == "hang":
            self._resume.clear()
        else:
            self._resume.set()

    def health(self) -> dict[str, Any]:
        """The /health body (the router polls it about once a second)."""
        load = self.engine.load()
        spec = self.engine.spec
        failure = self.driver.failure
        return {
            "status": "failed" if failure is not None else self.state.status,
            "site": self.site.name,
            "place": self.site.place,
            "hardware": spec.hardware,
            "model": spec.model,
            "precision": spec.precision,
            "devices": spec.devices,
            "tp": spec.tp,
            "framework": spec.framework,
            "replicas": spec.replicas,
            "fault": self.state.describe(),
            "error": str(failure) if failure is not None else None,
            "load": {
                "queued": load.queued,
                "running": load.running,
                "max_running": load.max_running,
                "queued_prompt_tokens": load.queued_prompt_tokens,
                "kv_used_fraction": load.kv_used_fraction,
                "tokens_per_s": load.tokens_per_s,
                "open_streams": len(self.driver.streams),
            },
        }
