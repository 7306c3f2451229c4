"""Prometheus metrics of one site, in a registry of its own (several sites share a
process, so the global default registry would mix them). Every series carries a
`site` label so that scrapes of several sites can be merged.

Gauges of the engine's load are read at scrape time (callbacks), so the hot path
only increments counters and observes histograms.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sites.engine_api import EngineLoad

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latency buckets from LPU-fast (a few ms) to long queues (tens of seconds).
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)
_TPOT_BUCKETS = (0.001, 0.002, 0.004, 0.006, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5)
_LAG_BUCKETS = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)


class SiteMetrics:
    """The site's counters and histograms, and the text exposition of them."""

    def __init__(self, site: str, load: Callable[[], EngineLoad], open_streams: Callable[[], int]):
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        labels = ("site",)

        def gauge(name: str, doc: str, read: Callable[[], float]) -> None:
            Gauge(name, doc, labels, registry=reg).labels(site).set_function(read)

        gauge(
            "georoute_site_queue_depth", "Requests waiting for a batch slot", lambda: load().queued
        )
        gauge("georoute_site_running_sequences", "Sequences in the batch", lambda: load().running)
        gauge("georoute_site_max_running", "Batch slots", lambda: load().max_running)
        gauge(
            "georoute_site_kv_used_fraction",
            "Share of the KV-cache budget in use",
            lambda: load().kv_used_fraction,
        )
        gauge(
            "georoute_site_tokens_per_second",
            "Output tokens per second (engine's recent rate)",
            lambda: load().tokens_per_s,
        )
        gauge("georoute_site_open_streams", "Responses in progress", lambda: float(open_streams()))

        self.requests = Counter(
            "georoute_site_requests",
            "Requests by outcome: ok, cancelled (client gone), dropped (fault), "
            "rejected (4xx/503), failed (engine error)",
            ("site", "status"),
            registry=reg,
        )
        self.cancellations = Counter(
            "georoute_site_cancellations",
            "Requests cancelled because the client disconnected",
            labels,
            registry=reg,
        ).labels(site)
        self.output_tokens = Counter(
            "georoute_site_output_tokens", "Output tokens sent", labels, registry=reg
        ).labels(site)
        self.prompt_tokens = Counter(
            "georoute_site_prompt_tokens", "Prompt tokens admitted", labels, registry=reg
        ).labels(site)
        self.chunks = Counter(
            "georoute_site_stream_chunks", "SSE token chunks written", labels, registry=reg
        ).labels(site)
        self.ttft = Histogram(
            "georoute_site_ttft_seconds",
            "Site-side time to first token (arrival to first token's scheduled time)",
            labels,
            buckets=_TTFT_BUCKETS,
            registry=reg,
        ).labels(site)
        self.tpot = Histogram(
            "georoute_site_tpot_seconds",
            "Site-side mean time per output token after the first, per request",
            labels,
            buckets=_TPOT_BUCKETS,
            registry=reg,
        ).labels(site)
        self.queue = Histogram(
            "georoute_site_queue_seconds",
            "Time from arrival to the first iteration that served the request",
            labels,
            buckets=_TTFT_BUCKETS,
            registry=reg,
        ).labels(site)
        self.send_lag = Histogram(
            "georoute_site_chunk_lag_seconds",
            "How late a chunk was written versus its last token's scheduled time",
            labels,
            buckets=_LAG_BUCKETS,
            registry=reg,
        ).labels(site)
        self._site = site

    def outcome(self, status: str) -> None:
        self.requests.labels(self._site, status).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
