"""Validate a request body exactly as the sites do, before forwarding it.

The router reuses the sites' pure validator (`sites.server.openai_api.parse_request`),
so what a site would reject the router rejects with the same status and body, without
spending a network round trip. The resolved lengths (prompt tokens by the sites'
counting rule or the `georoute` extension; output tokens from `max_tokens` or the
deterministic natural length) feed the policy's forecast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from router.daemon.errors import error_response
from sites.catalog import get_model
from sites.server.openai_api import MAX_BODY_BYTES, ApiError, Kind, ServedModel, parse_request


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRequest:
    body: bytes
    model: str
    stream: bool
    prompt_tokens: int
    max_tokens: int


def served_models(models: set[str]) -> dict[str, ServedModel]:
    return {m: ServedModel(id=m, max_context=get_model(m).max_context) for m in sorted(models)}


def validate(raw: bytes, kind: Kind, served: dict[str, ServedModel]) -> ParsedRequest:
    """Raise ApiError as a site would; the model decides which served model applies."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(
            413,
            f"request body too large: {len(raw)} bytes (limit {MAX_BODY_BYTES})",
            code="request_too_large",
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON body: {exc}", code="invalid_json") from None
    model = body.get("model") if isinstance(body, dict) else None
    target = served.get(model) if isinstance(model, str) else None
    if target is None:
        target = next(iter(served.values()))  # the validator then reports the model error
    req = parse_request(body, kind, target)
    return ParsedRequest(
        body=raw,
        model=req.model,
        stream=req.stream,
        prompt_tokens=req.prompt_tokens,
        max_tokens=req.output_tokens,
    )


async def parse_body(request: web.Request, path: str) -> ParsedRequest | web.Response:
    from router.daemon.keys import SERVED

    kind: Kind = "chat" if path.endswith("chat/completions") else "completion"
    try:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(
                413,
                f"request body too large (limit {MAX_BODY_BYTES} bytes)",
                code="request_too_large",
            ) from None
        return validate(raw, kind, request.app[SERVED])
    except ApiError as err:
        return error_response(
            err.status, err.message, type_=err.type, param=err.param, code=err.code
        )
