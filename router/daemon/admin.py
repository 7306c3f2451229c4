"""Admin actions, behind `Authorization: Bearer $GEOROUTE_ADMIN_TOKEN`.

The token is compared in constant time (hmac.compare_digest); a missing or wrong
token, or a router started without a token, answers 401 and changes nothing.

- `POST /v1/router/admin/policy` `{"policy": NAME}`: switch the policy in force.
- `POST /v1/router/admin/sites/{name}/drain`: no new requests (open ones finish).
- `POST /v1/router/admin/sites/{name}/fail`: `POST /admin/fault {"mode": "fail"}` on
  the site, and mark it failed at once.
- `POST /v1/router/admin/sites/{name}/restore`: `DELETE /admin/fault` on the site,
  undrain, clear any ejection, and re-check its health now.
- `POST /v1/router/admin/traffic` `{"rate_rps": float, "paused": bool}`: steer the
  attached traffic generator (409 when none is attached).
"""

from __future__ import annotations

import hmac
import json
import math
import time
from typing import Any

import aiohttp
from aiohttp import web

from router.daemon.errors import error_response
from router.daemon.health import check_site
from router.daemon.keys import ROUTER, SESSION, SETTINGS
from router.daemon.state import RouterState
from router.policies import UnknownPolicyError, policy_names


def authorised(request: web.Request, state: RouterState) -> bool:
    token = state.admin_token
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


def _unauthorised() -> web.Response:
    return error_response(
        401,
        "admin endpoints need Authorization: Bearer $GEOROUTE_ADMIN_TOKEN",
        type_="authentication_error",
        code="unauthorized",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        return error_response(400, f"malformed JSON body: {exc}", code="invalid_json")
    if not isinstance(body, dict):
        return error_response(400, "the request body must be a JSON object", code="invalid_type")
    return body


async def handle_policy(request: web.Request) -> web.Response:
    state = request.app[ROUTER]
    if not authorised(request, state):
        return _unauthorised()
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    name = body.get("policy")
    if not isinstance(name, str):
        return error_response(
            400,
            f'give {{"policy": NAME}}; valid policies: {", ".join(policy_names())}',
            param="policy",
            code="missing_required_parameter",
        )
    try:
        state.set_policy(name)
    except UnknownPolicyError as exc:
        return error_response(400, str(exc), param="policy", code="unknown_policy")
    return web.json_response({"policy": state.policy.name, "policies": policy_names()})


async def _site_fault(request: web.Request, method: str, body: dict[str, Any] | None) -> str | None:
    """Call the site's fault endpoint; None on success, else the reason."""
    state = request.app[ROUTER]
    site = state.sites[request.match_info["name"]]
    headers = {"Authorization": f"Bearer {state.admin_token}"}
    try:
        async with request.app[SESSION].request(
            method,
            f"{site.url}/admin/fault",
            json=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=5.0),
        ) as resp:
            if resp.status >= 300:
                return f"site answered HTTP {resp.status}: {(await resp.text())[:200]}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"site unreachable: {type(exc).__name__}: {exc}"
    return None


async def handle_site_action(request: web.Request) -> web.Response:
    state = request.app[ROUTER]
    if not authorised(request, state):
        return _unauthorised()
    name, action = request.match_info["name"], request.match_info["action"]
    site = state.sites.get(name)
    if site is None:
        return error_response(
            404,
            f"no site named {name!r}; sites: {', '.join(state.sites)}",
            param="name",
            code="site_not_found",
        )
    if action == "drain":
        site.drained = True
        state.event("site-drained", name, f"{name} drained by admin")
    elif action == "fail":
        problem = await _site_fault(request, "POST", {"mode": "fail"})
        if problem:
            return error_response(
                502,
                f"could not fail {name}: {problem}",
                type_="server_error",
                code="site_fault_failed",
            )
        site.polled = "failed"
        state.event("site-failed", name, f"{name} failed by admin")
    else:  # restore
        problem = await _site_fault(request, "DELETE", None)
        if problem:
            return error_response(
                502,
                f"could not restore {name}: {problem}",
                type_="server_error",
                code="site_fault_failed",
            )
        site.drained = False
        site.ejected_until = 0.0
        site.consecutive_errors = 0
        site.polled = "unknown"
        await check_site(state, request.app[SESSION], site, request.app[SETTINGS].health_timeout_s)
        state.event("site-restored", name, f"{name} restored by admin ({site.polled})")
    return web.json_response({"site": name, "health": site.health(time.monotonic())})


async def handle_traffic(request: web.Request) -> web.Response:
    state = request.app[ROUTER]
    if not authorised(request, state):
        return _unauthorised()
    if state.traffic is None:
        return error_response(
            409, "no traffic generator is attached to this router", code="no_traffic_generator"
        )
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    unknown = set(body) - {"rate_rps", "paused"}
    if unknown:
        return error_response(
            400,
            f"unknown field(s) {sorted(unknown)}; allowed: rate_rps, paused",
            param=sorted(unknown)[0],
            code="invalid_value",
        )
    rate = body.get("rate_rps")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf
    ):
        return error_response(
            400,
            f"rate_rps must be a positive number, got {rate!r}",
            param="rate_rps",
            code="invalid_value",
        )
    paused = body.get("paused")
    if paused is not None and not isinstance(paused, bool):
        return error_response(
            400,
            f"paused must be true or false, got {paused!r}",
            param="paused",
            code="invalid_type",
        )
    state.traffic.set(rate_rps=None if rate is None else float(rate), paused=paused)
    state.event(
        "rate-changed",
        None,
        f"traffic {state.traffic.rate_rps:g} req/s{' (paused)' if state.traffic.paused else ''}",
    )
    return web.json_response({"rate_rps": state.traffic.rate_rps, "paused": state.traffic.paused})
