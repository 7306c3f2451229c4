"""Result rows (`router.store.REQUEST_COLUMNS` minus `run_id`) and per-site samples
(`SITE_SAMPLE_COLUMNS` minus `run_id`) as the simulator emits them."""

from __future__ import annotations

from typing import Any

from router.sim.state import Outcome, SimRequest, SimSite
from router.traffic import ClientGroup
from sites.engine_api import RequestResult


def _identity(req: SimRequest, site: str | None, policy: str, group: ClientGroup) -> dict[str, Any]:
    """The columns every row has, whatever became of the request."""
    return {
        "request_id": req.rid,
        "arrived_at": req.at_s,
        "client_place": group.place.name,
        "client_region": group.region,
        "client_lat": group.place.lat,
        "client_lon": group.place.lon,
        "site": site,
        "policy": policy,
        "prompt_tokens": req.prompt,
    }


def ok_template(site: str, policy: str, group: ClientGroup) -> dict[str, Any]:
    """The columns a served request's row shares with every other row of the same
    client group, site and policy (the rest are placeholders `ok_row` overwrites), in
    the rows' column order."""
    place = group.place
    return {
        "request_id": "",
        "arrived_at": 0.0,
        "client_place": place.name,
        "client_region": group.region,
        "client_lat": place.lat,
        "client_lon": place.lon,
        "site": site,
        "policy": policy,
        "prompt_tokens": 0,
        "output_tokens": 0,
        "net_up_ms": 0.0,
        "net_down_ms": 0.0,
        "handshake_ms": 0.0,
        "router_ms": 0.0,
        "queue_ms": 0.0,
        "prefill_ms": None,
        "decode_ms": None,
        "ttft_ms": None,
        "tpot_ms": None,
        "e2e_ms": 0.0,
        "status": "ok",
        "error": "",
        "retries": 0,
        "energy_j": 0.0,
        "cost_usd": 0.0,
    }


def ok_row(req: SimRequest, res: Outcome, template: dict[str, Any]) -> dict[str, Any]:
    """A served request (`template`: its `ok_template`). Client-side times add the
    network legs to the site's: TTFT = handshake + up (+ failed attempts) + queue +
    prefill + down. The row is a copy of the template with the request's columns set:
    a 25-key dict display costs ~40% more per row than the copy and 18 stores (this
    runs once per request)."""
    _rid, output_tokens, first_at, finished_at, queue_s, ttft_s, tpot_s, energy_j, cost_usd = res
    down_ms = req.net_down_ms
    at_s = req.at_s
    row = template.copy()
    row["request_id"] = req.rid
    row["arrived_at"] = at_s
    row["prompt_tokens"] = req.prompt
    row["output_tokens"] = output_tokens
    row["net_up_ms"] = req.net_up_ms
    row["net_down_ms"] = down_ms
    row["handshake_ms"] = req.handshake_ms
    row["queue_ms"] = queue_s * 1000.0
    if ttft_s is not None:
        row["prefill_ms"] = (ttft_s - queue_s) * 1000.0
    if first_at is not None:
        row["decode_ms"] = (finished_at - first_at) * 1000.0
        row["ttft_ms"] = (first_at - at_s) * 1000.0 + down_ms
    if tpot_s is not None:
        row["tpot_ms"] = tpot_s * 1000.0
    row["e2e_ms"] = (finished_at - at_s) * 1000.0 + down_ms
    if req.errors:
        row["error"] = "; ".join(req.errors)
    row["retries"] = req.attempt
    row["energy_j"] = energy_j
    row["cost_usd"] = cost_usd
    return row


def failed_row(
    req: SimRequest,
    site: str | None,
    policy: str,
    group: ClientGroup,
    status: str,
    error: str,
    *,
    e2e_ms: float | None = None,
    result: RequestResult | None = None,
) -> dict[str, Any]:
    """A request that was rejected, failed on every attempt, or broke mid-stream
    (`result`: what the site had done before it failed)."""
    row = _identity(req, site, policy, group)
    row.update(
        {
            "output_tokens": 0,
            "net_up_ms": req.net_up_ms if site else None,
            "net_down_ms": req.net_down_ms if site else None,
            "handshake_ms": req.handshake_ms,
            "router_ms": 0.0,
            "queue_ms": None,
            "prefill_ms": None,
            "decode_ms": None,
            "ttft_ms": None,
            "tpot_ms": None,
            "e2e_ms": e2e_ms,
            "status": status,
            "error": error,
            "retries": max(req.attempt - (1 if status == "failed" and site else 0), 0),
            "energy_j": None,
            "cost_usd": None,
        }
    )
    if result is not None:
        first_at = result.first_token_at
        row["output_tokens"] = result.output_tokens
        row["queue_ms"] = result.queue_s * 1000.0
        if first_at is not None:
            row["ttft_ms"] = (first_at - req.at_s) * 1000.0 + req.net_down_ms
        if result.ttft_s is not None:
            row["prefill_ms"] = (result.ttft_s - result.queue_s) * 1000.0
        row["energy_j"] = result.energy_j
        row["cost_usd"] = result.cost_usd
    return row


def site_sample(site: SimSite, at: float) -> dict[str, Any]:
    load = site.true_load
    return {
        "at": at,
        "site": site.name,
        "healthy": 0 if site.down else 1,
        "in_flight": site.in_flight,
        "queued": load.queued,
        "running": load.running,
        "kv_used_fraction": load.kv_used_fraction,
        "tokens_per_s": load.tokens_per_s,
    }
