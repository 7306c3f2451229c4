"""The data path: place the client, pick a site, add the simulated network, stream.

Per request: resolve `X-Client-Location`; validate the body the way the sites do;
admit (bounded in-flight, else 429); ask the policy for a ranked list; wait the
handshake (new connection) and the client->site one-way delay; forward; on a failure
before the first byte try the next site; then pass the response through, each chunk
delayed by the site->client one-way delay (`relay`). Every request ends as one row
(ok, failed, rejected or cancelled) in the recorder.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from router.daemon.errors import error_response
from router.daemon.keys import METRICS, RECORDER, ROUTER, SETTINGS, UPSTREAM
from router.daemon.relay import SITE_HEADER, Flow, relay_stream, relay_whole
from router.daemon.requests import ParsedRequest, parse_body
from router.daemon.state import RouterState
from router.daemon.upstream import UpstreamError, UpstreamResponse
from router.geo import BadCoordinatesError, UnknownPlaceError, resolve_place
from router.policies import RouteRequest

LOCATION_HEADER = "X-Client-Location"


def new_row(state: RouterState, arrived_at: float) -> dict[str, Any]:
    return {
        "request_id": "",
        "arrived_at": arrived_at,
        "client_place": "",
        "client_region": "",
        "client_lat": None,
        "client_lon": None,
        "site": "",
        "policy": state.policy.name,
        "prompt_tokens": 0,
        "output_tokens": 0,
        "net_up_ms": 0.0,
        "net_down_ms": 0.0,
        "handshake_ms": 0.0,
        "router_ms": 0.0,
        "queue_ms": 0.0,
        "prefill_ms": 0.0,
        "decode_ms": 0.0,
        "ttft_ms": None,
        "tpot_ms": None,
        "e2e_ms": 0.0,
        "status": "failed",
        "error": "",
        "retries": 0,
        "energy_j": 0.0,
        "cost_usd": 0.0,
    }


def resolve_client(state: RouterState, header: str | None) -> Any:
    if header is None or not header.strip():
        return state.default_place
    return resolve_place(header.strip())


async def handle_chat(request: web.Request) -> web.StreamResponse:
    return await proxy(request, "/v1/chat/completions")


async def handle_completions(request: web.Request) -> web.StreamResponse:
    return await proxy(request, "/v1/completions")


async def proxy(request: web.Request, path: str) -> web.StreamResponse:
    state = request.app[ROUTER]
    flow = Flow(t0=time.monotonic(), row=new_row(state, time.time()))
    try:
        return await _proxy(request, path, state, flow)
    except asyncio.CancelledError:
        _fail(flow, "cancelled", "request cancelled (client gone or shutdown)")
        raise
    except ConnectionResetError as exc:
        _fail(flow, "cancelled", f"client disconnected: {exc}")
        raise
    finally:
        row = flow.row
        if not row["e2e_ms"]:
            row["e2e_ms"] = (time.monotonic() - flow.t0) * 1000.0
        row["retries"] = flow.retries
        if row["status"] != "ok" and not row["error"]:
            row["error"] = "; ".join(flow.errors) or "unknown"
        state.record(row)
        request.app[RECORDER].add(row)
        request.app[METRICS].observe(row)


def _fail(flow: Flow, status: str, error: str) -> None:
    if flow.row["status"] not in ("ok",) and not flow.row["error"]:
        flow.row["status"], flow.row["error"] = status, error[:500]


def _reject(flow: Flow, response: web.Response, reason: str) -> web.Response:
    flow.row["status"], flow.row["error"] = "rejected", reason[:500]
    return response


async def _proxy(
    request: web.Request, path: str, state: RouterState, flow: Flow
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    row = flow.row
    # A connection pays the handshakes once, with its first request, whatever becomes
    # of that request (a kept-alive connection whose first request was rejected has
    # paid them already).
    transport = request.transport
    new_connection = transport is not None and transport not in state.seen_transports
    if new_connection:
        state.seen_transports.add(transport)
    try:
        client = resolve_client(state, request.headers.get(LOCATION_HEADER))
    except (UnknownPlaceError, BadCoordinatesError, ValueError) as exc:
        msg = f"invalid {LOCATION_HEADER} header: {exc}"
        return _reject(
            flow,
            error_response(400, msg, param=LOCATION_HEADER, code="invalid_client_location"),
            msg,
        )
    flow.client = client
    row.update(
        client_place=client.name,
        client_region=client.region,
        client_lat=client.lat,
        client_lon=client.lon,
    )
    parsed = await parse_body(request, path)
    if isinstance(parsed, web.Response):
        return _reject(flow, parsed, f"HTTP {parsed.status}: {parsed.text or ''}")
    row["prompt_tokens"] = parsed.prompt_tokens
    if state.in_flight >= state.max_in_flight_total:
        return _reject(
            flow, _overloaded(state, "the router is at its in-flight limit"), "overloaded"
        )
    now = time.monotonic()
    decision = state.policy.decide(
        RouteRequest(
            client=client,
            prompt_tokens=parsed.prompt_tokens,
            max_output_tokens=parsed.max_tokens,
            new_connection=new_connection,
        ),
        state.views(now),
        state.ctx,
    )
    if not decision.ranked:
        if decision.all_overloaded:
            return _reject(
                flow,
                _overloaded(state, "every eligible site is at its in-flight limit"),
                "overloaded",
            )
        reasons = ", ".join(f"{s}: {r}" for s, r in decision.excluded)
        msg = f"no site may serve this request ({reasons})"
        flow.errors.append(msg)
        return error_response(503, msg, type_="server_error", code="no_eligible_site")
    state.in_flight += 1
    try:
        return await _attempts(
            request,
            path,
            state,
            flow,
            parsed,
            decision.ranked[: settings.max_attempts],
            new_connection,
            settings.first_byte_timeout_s,
        )
    finally:
        state.in_flight -= 1


def _overloaded(state: RouterState, why: str) -> web.Response:
    now = time.time()
    if now - state.last_overload_event_at > 5.0:
        state.last_overload_event_at = now
        state.event("overload", None, f"429: {why}")
    return error_response(
        429,
        f"overloaded: {why}; retry shortly",
        type_="rate_limit_error",
        code="overloaded",
        headers={"Retry-After": "1"},
    )


async def _attempts(
    request: web.Request,
    path: str,
    state: RouterState,
    flow: Flow,
    parsed: ParsedRequest,
    ranked: tuple[str, ...],
    new_connection: bool,
    first_byte_timeout_s: float,
) -> web.StreamResponse:
    pool = request.app[UPSTREAM]
    sim = state.simulate_network
    if sim and new_connection:
        rtt = state.ctx.rtt_ms(flow.client, state.sites[ranked[0]].place)
        flow.handshake_ms = state.network.handshake_ms(rtt, tls=True)
    for attempt, name in enumerate(ranked):
        site = state.sites[name]
        if attempt:
            flow.retries += 1
            state.event("failover", name, f"retrying on {name} after: {flow.errors[-1]}")
        up_ms = (
            float(state.network.sample_one_way_ms(flow.client, site.place, state.rng))
            if sim
            else 0.0
        )
        flow.down_ms = (
            float(state.network.sample_one_way_ms(site.place, flow.client, state.rng))
            if sim
            else 0.0
        )
        site.in_flight += 1  # counted from the decision on, so the per-site bound holds
        flow.row["site"] = name  # the site tried last, also for failed or cancelled rows
        try:
            wait_ms = up_ms + (flow.handshake_ms if attempt == 0 else 0.0)
            if wait_ms:
                await asyncio.sleep(wait_ms / 1000.0)
            flow.up_ms += up_ms
            flow.t_fwd = time.monotonic()
            try:
                # Returns with the response head; the first-byte timeout covers the wait
                # for it and every gap in the body after it.
                resp = await pool.post(
                    site.url, path, parsed.body, read_timeout_s=first_byte_timeout_s
                )
            except UpstreamError as exc:
                why = f"{name}: {type(exc).__name__}: {exc}".rstrip(": ")
                flow.errors.append(why)
                state.site_error(site, why, time.monotonic())
                continue
            try:
                if resp.status >= 500 or resp.status == 429:
                    body = await _read_quietly(resp)
                    why = f"{name}: HTTP {resp.status} {_error_message(body)}"
                    flow.errors.append(why)
                    if resp.status >= 500:
                        state.site_error(site, why, time.monotonic())
                    continue
                if resp.status != 200:
                    try:
                        body = await resp.read()
                    except UpstreamError as exc:
                        why = f"{name}: HTTP {resp.status}, then {type(exc).__name__}: {exc}"
                        flow.errors.append(why)
                        state.site_error(site, why, time.monotonic())
                        continue
                    flow.row["site"] = name
                    return _reject(
                        flow,
                        web.Response(
                            status=resp.status,
                            body=body,
                            content_type=resp.content_type,
                            headers={SITE_HEADER: name},
                        ),
                        f"site rejected: HTTP {resp.status} {_error_message(body)}",
                    )
                flow.pre_ms = (flow.t_fwd - flow.t0) * 1000.0 - flow.handshake_ms - flow.up_ms
                if parsed.stream:
                    return await relay_stream(request, state, site, resp, flow)
                return await relay_whole(state, site, resp, flow)
            finally:
                resp.close()
        finally:
            site.in_flight -= 1
    msg = "every site failed before the first byte: " + "; ".join(flow.errors)
    flow.row["status"], flow.row["error"] = "failed", msg[:500]
    return error_response(503, msg, type_="server_error", code="sites_unavailable")


async def _read_quietly(resp: UpstreamResponse) -> bytes:
    try:
        return await resp.read()
    except UpstreamError:
        return b""


def _error_message(body: bytes) -> str:
    try:
        err = json.loads(body)["error"]
        return str(err.get("code") or err.get("message") or "")
    except (ValueError, KeyError, TypeError):
        return body[:120].decode("utf-8", "replace")
