"""Typed application keys of the site app (aiohttp `web.AppKey`)."""

from __future__ import annotations

from aiohttp import web

from sites.server.runtime import SiteRuntime

RUNTIME = web.AppKey("georoute_site_runtime", SiteRuntime)
