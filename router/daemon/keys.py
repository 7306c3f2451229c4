"""Typed application keys of the router app (one place, so handlers and tests agree)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from router.config import RouterSettings
from router.daemon.metrics import RouterMetrics
from router.daemon.recorder import Recorder
from router.daemon.state import RouterState
from router.daemon.upstream import UpstreamPool
from sites.server.openai_api import ServedModel

ROUTER = web.AppKey("router", RouterState)
SETTINGS = web.AppKey("settings", RouterSettings)
SESSION = web.AppKey("session", aiohttp.ClientSession)  # health checks and admin calls
UPSTREAM = web.AppKey("upstream", UpstreamPool)  # the forwards (the hot path)
RECORDER = web.AppKey("recorder", Recorder)
METRICS = web.AppKey("metrics", RouterMetrics)
SERVED = web.AppKey("served", dict[str, ServedModel])
