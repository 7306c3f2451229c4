"""The site's aiohttp application: wiring only (routes, middleware, lifecycle).

The engine loop starts and stops with the app (`cleanup_ctx`); on shutdown the site
first drains (new requests get 503 `site_draining`) while aiohttp lets in-flight
streams finish, bounded by the runner's shutdown timeout. Every error, including
aiohttp's own 404/405/413, is an OpenAI-style JSON body, never HTML or a traceback.
Run it with `handler_cancellation=True` (as `runner.run_sites` and aiohttp's test
server do) so a client that disconnects cancels its request at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from sites.clock import Clock
from sites.engine_api import Engine
from sites.server import handlers, ops
from sites.server.driver import Pacing
from sites.server.keys import RUNTIME
from sites.server.openai_api import MAX_BODY_BYTES, ApiError
from sites.server.runtime import SiteRuntime
from sites.topology import SiteConfig

log = logging.getLogger(__name__)

ADMIN_TOKEN_ENV = "GEOROUTE_ADMIN_TOKEN"
SITE_HEADER = "X-Georoute-Site"

_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    404: ("not_found", "invalid_request_error"),
    405: ("method_not_allowed", "invalid_request_error"),
    413: ("payload_too_large", "invalid_request_error"),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's HTTP exceptions and unexpected errors into JSON error bodies."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, kind = _HTTP_ERRORS.get(exc.status, ("http_error", "invalid_request_error"))
        message = f"{exc.reason}: {request.method} {request.path}"
        if exc.status == 405:
            message += f" (allowed: {exc.headers.get('Allow', '')})"
        err = ApiError(exc.status, message, code=code, type=kind)
        headers = {k: v for k, v in exc.headers.items() if k == "Allow"}
        return web.json_response(err.body(), status=exc.status, headers=headers)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        err = ApiError(
            500, "internal error in the site server", type="server_error", code="internal_error"
        )
        return web.json_response(err.body(), status=500)


def make_app(
    site: SiteConfig,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    admin_token: str | None = None,
    pacing: Pacing | None = None,
) -> web.Application:
    """The aiohttp app of one site. `engine` defaults to `sites.engines.build_engine`
    of the site's deployment; `admin_token` to $GEOROUTE_ADMIN_TOKEN (no token: the
    admin API answers 401 to everyone); `pacing` tunes the driver (`driver.Pacing`)."""
    if engine is None:
        from sites.engines import build_engine

        engine = build_engine(site.deployment())
    if admin_token is None:
        admin_token = os.environ.get(ADMIN_TOKEN_ENV) or None
    runtime = SiteRuntime(site, engine, clock=clock, admin_token=admin_token, pacing=pacing)

    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[RUNTIME] = runtime
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    app.router.add_post("/v1/completions", handlers.completions)
    app.router.add_get("/v1/models", ops.models)
    app.router.add_get("/health", ops.health)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_post("/admin/fault", ops.set_fault)
    app.router.add_delete("/admin/fault", ops.clear_fault)
    app.router.add_post("/admin/drain", ops.start_drain)
    app.router.add_delete("/admin/drain", ops.stop_drain)
    app.cleanup_ctx.append(_engine_loop)
    app.on_shutdown.append(_drain_on_shutdown)
    app.on_response_prepare.append(_site_header)
    return app


async def _engine_loop(app: web.Application) -> AsyncIterator[None]:
    driver = app[RUNTIME].driver
    driver.start()
    yield
    await driver.stop()


async def _drain_on_shutdown(app: web.Application) -> None:
    rt = app[RUNTIME]
    rt.state.draining = True
    rt.clear_fault()  # a hung site must not block shutdown forever


async def _site_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[SITE_HEADER] = request.app[RUNTIME].site.name
