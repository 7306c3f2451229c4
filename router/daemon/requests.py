"""Validate a request body exactly as the sites do, before forwarding it.

The router reuses the sites' own body reader and pure validator
(`sites.server.handlers.read_json`, `sites.server.openai_api.parse_request`), so what
a site would reject the router rejects with the same status and body, without spending
a network round trip. The resolved lengths (prompt tokens by the sites' counting rule
or the `georoute` extension; output tokens from `max_tokens` or the deterministic
natural length) feed the policy's forecast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from router.daemon.errors import error_response
from sites.catalog import get_model
from sites.server.handlers import read_json
from sites.server.openai_api import ApiError, Kind, ServedModel, parse_request


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedRequest:
    body: bytes
    model: str
    stream: bool
    prompt_tokens: int
    max_tokens: int  # the exact output length the site will produce


def served_models(models: set[str]) -> dict[str, ServedModel]:
    return {m: ServedModel(id=m, max_context=get_model(m).max_context) for m in sorted(models)}


def validate(
    body: object, kind: Kind, served: dict[str, ServedModel], raw: bytes | None = None
) -> ParsedRequest:
    """Raise ApiError as a site would; the model named picks the served model."""
    model = body.get("model") if isinstance(body, dict) else None
    target = served.get(model) if isinstance(model, str) else None
    if target is None:
        target = next(iter(served.values()))  # the validator then reports the model error
    req = parse_request(body, kind, target)
    return ParsedRequest(
        body=raw if raw is not None else json.dumps(body).encode(),
        model=req.model,
        stream=req.stream,
        prompt_tokens=req.prompt_tokens,
        max_tokens=req.output_tokens,
    )


async def parse_body(request: web.Request, path: str) -> ParsedRequest | web.Response:
    from router.daemon.keys import SERVED

    kind: Kind = "chat" if path.endswith("chat/completions") else "completion"
    try:
        body = await read_json(request)
        return validate(body, kind, request.app[SERVED], await request.read())
    except ApiError as err:
        return error_response(
            err.status, err.message, type_=err.type, param=err.param, code=err.code
        )
