"""Operational endpoints: `/health`, `/metrics`, `/v1/models` and the admin API
(`/admin/fault`, `/admin/drain`) behind `Authorization: Bearer <GEOROUTE_ADMIN_TOKEN>`.

/health answers 200 when ready and 503 when draining or failed, with the same JSON
body either way; a hung site does not answer /health either (that is what hung
means to a health checker). /metrics and the admin API always answer.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from sites.server.faults import FaultSpecError, parse_fault
from sites.server.handlers import json_error, read_json
from sites.server.keys import RUNTIME
from sites.server.metrics import CONTENT_TYPE
from sites.server.openai_api import ApiError, models_list


async def health(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    await rt.wait_unhung()
    body = rt.health()
    return web.json_response(body, status=200 if body["status"] == "ready" else 503)


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return web.Response(body=rt.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


async def models(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return web.json_response(models_list(rt.served, created=rt.created))


def _authorised(request: web.Request) -> ApiError | None:
    """None when the bearer token matches (constant-time), else the 401 to send.
    A site started without a token refuses every admin call."""
    token = request.app[RUNTIME].admin_token
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token:
        return ApiError(
            401,
            "admin API disabled: start the site with GEOROUTE_ADMIN_TOKEN set",
            type="authentication_error",
            code="admin_disabled",
        )
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return ApiError(
            401,
            "missing or wrong admin bearer token",
            type="authentication_error",
            code="invalid_api_key",
        )
    return None


async def set_fault(request: web.Request) -> web.Response:
    if (denied := _authorised(request)) is not None:
        return json_error(denied)
    rt = request.app[RUNTIME]
    try:
        fault = parse_fault(await read_json(request))
    except ApiError as err:
        return json_error(err)
    except FaultSpecError as exc:
        return json_error(ApiError(400, str(exc), param=exc.param or None, code="invalid_value"))
    dropped = rt.apply_fault(fault)
    return web.json_response(
        {"fault": rt.state.describe(), "dropped_streams": dropped, "status": rt.state.status}
    )


async def clear_fault(request: web.Request) -> web.Response:
    if (denied := _authorised(request)) is not None:
        return json_error(denied)
    rt = request.app[RUNTIME]
    rt.clear_fault()
    return web.json_response({"fault": None, "status": rt.state.status})


async def start_drain(request: web.Request) -> web.Response:
    if (denied := _authorised(request)) is not None:
        return json_error(denied)
    rt = request.app[RUNTIME]
    rt.state.draining = True
    return web.json_response({"status": rt.state.status, "open_streams": len(rt.driver.streams)})


async def stop_drain(request: web.Request) -> web.Response:
    if (denied := _authorised(request)) is not None:
        return json_error(denied)
    rt = request.app[RUNTIME]
    rt.state.draining = False
    return web.json_response({"status": rt.state.status})
