"""The OpenAI wire format of a site: request validation, response and chunk shapes,
error bodies (pure: no aiohttp here, so the router can reuse the validation).

Output length rules (documented for clients and load generators):
- `max_tokens` (or its newer name `max_completion_tokens`; if both are given they
  must agree) is an exact length by default: the filler never emits an end-of-sequence
  early, as with vLLM's `ignore_eos: true`, and `finish_reason` is "length". Send
  `"ignore_eos": false` to get min(natural length, max_tokens) instead.
- Without `max_tokens` the reply has a natural length (`tokens.natural_output_tokens`:
  the Azure conversation trace distribution, deterministic per request content),
  `finish_reason` "stop".
- Upper bound: prompt + output must fit the model's context (`max_context` of the
  catalog, e.g. 131,072 for Llama 3.x): beyond it, 400 `context_length_exceeded`.

Non-standard request extension, for load generators that replay traces:
`"georoute": {"prompt_tokens": N, "output_tokens": M, "timing": true}` (every key
optional). `prompt_tokens` replaces the counted prompt length; `output_tokens` fixes the
output length exactly (capped by `max_tokens` if both are given); `timing` adds to every
chunk `"georoute_t"`: the scheduled time of the chunk's last token in the server's
`time.monotonic()` seconds, so a client on the same host can measure pacing error (a
stream's `georoute` object then also carries `arrived_t`, when the site took the request).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sites.server import tokens

Kind = Literal["chat", "completion"]
FinishReason = Literal["stop", "length"]
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
EXTENSION_KEYS = ("prompt_tokens", "output_tokens", "timing")
MAX_BODY_BYTES = 1 << 20


class ApiError(Exception):
    """An error answered with OpenAI's body `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedModel:
    """What a site serves: the model id clients name, and its context length."""

    id: str
    max_context: int
    owned_by: str = "georoute"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompletionRequest:
    """A validated request, with both lengths resolved."""

    kind: Kind
    model: str
    stream: bool
    include_usage: bool
    prompt_tokens: int
    output_tokens: int
    finish_reason: FinishReason
    timing: bool = False


def _bad(message: str, param: str | None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _optional_positive_int(body: Mapping[str, Any], key: str, param: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(f"{param} must be a positive integer, got {value!r}", param, "invalid_value")
    return value


def _optional_bool(body: Mapping[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"{key} must be true or false, got {value!r}", key, "invalid_type")
    return value


def _check_messages(messages: Any) -> list[Mapping[str, Any]]:
    if messages is None:
        raise _bad("you must provide 'messages'", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _bad("'messages' must be an array of message objects", "messages", "invalid_type")
    if not messages:
        raise _bad("'messages' must contain at least one message", "messages", "empty_array")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(f"{where} must be an object", where, "invalid_type")
        role = message.get("role")
        if role not in CHAT_ROLES:
            allowed = ", ".join(sorted(CHAT_ROLES))
            raise _bad(
                f"{where}.role must be one of {allowed}, got {role!r}",
                f"{where}.role",
                "invalid_value",
            )
        content = message.get("content")
        if content is None and role != "assistant":
            raise _bad(
                f"{where}.content is required", f"{where}.content", "missing_required_parameter"
            )
        if content is not None and not isinstance(content, str | list):
            raise _bad(
                f"{where}.content must be a string or an array of content parts",
                f"{where}.content",
                "invalid_type",
            )
        if isinstance(content, list):
            for j, part in enumerate(content):
                if (
                    not isinstance(part, dict)
                    or part.get("type") != "text"
                    or not isinstance(part.get("text"), str)
                ):
                    raise _bad(
                        f"{where}.content[{j}]: only text parts are supported",
                        f"{where}.content[{j}]",
                        "invalid_value",
                    )
    return messages


def _check_prompt(prompt: Any) -> str | list[int]:
    if prompt is None:
        raise _bad("you must provide 'prompt'", "prompt", "missing_required_parameter")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, str):
        if not prompt:
            raise _bad("'prompt' must not be empty", "prompt", "empty_string")
        return prompt
    if isinstance(prompt, list):
        if not prompt:
            raise _bad("'prompt' must not be empty", "prompt", "empty_array")
        if all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt):
            return prompt
        if all(isinstance(t, str | list) for t in prompt):
            raise _bad(
                "batched prompts are not supported: send one prompt per request",
                "prompt",
                "unsupported_value",
            )
    raise _bad("'prompt' must be a string or an array of token ids", "prompt", "invalid_type")


def _extension(body: Mapping[str, Any]) -> Mapping[str, Any]:
    ext = body.get("georoute")
    if ext is None:
        return {}
    if not isinstance(ext, dict):
        raise _bad("'georoute' must be an object", "georoute", "invalid_type")
    for key in ext:
        if key not in EXTENSION_KEYS:
            raise _bad(
                f"unknown field georoute.{key}; allowed: {', '.join(EXTENSION_KEYS)}",
                f"georoute.{key}",
                "invalid_value",
            )
    return ext


def parse_request(body: Any, kind: Kind, served: ServedModel) -> CompletionRequest:
    """Validate a chat-completions or completions body and resolve its lengths.
    Raises ApiError (400, or 404 `model_not_found`)."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", None, "invalid_type")
    model = body.get("model")
    if model is None:
        raise _bad("you must provide a model parameter", "model", "missing_required_parameter")
    if not isinstance(model, str):
        raise _bad("'model' must be a string", "model", "invalid_type")
    if model != served.id:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it. "
            f"This site serves `{served.id}`.",
            param="model",
            code="model_not_found",
        )
    if kind == "chat":
        messages = _check_messages(body.get("messages"))
        counted = tokens.chat_prompt_tokens(messages)
        content: Any = messages
        prompt_param = "messages"
    else:
        prompt = _check_prompt(body.get("prompt"))
        counted = tokens.completion_prompt_tokens(prompt)
        content = prompt
        prompt_param = "prompt"

    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n != 1):
        raise _bad(
            f"n={n!r} is not supported: this site returns exactly one choice (n=1)",
            "n",
            "unsupported_value",
        )
    stream = bool(_optional_bool(body, "stream"))
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise _bad(
                "stream_options is only allowed when stream is true",
                "stream_options",
                "invalid_value",
            )
        if not isinstance(options, dict):
            raise _bad("stream_options must be an object", "stream_options", "invalid_type")
        include_usage = bool(_optional_bool(options, "include_usage"))
    ignore_eos = _optional_bool(body, "ignore_eos")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(f"seed must be an integer, got {seed!r}", "seed", "invalid_type")

    max_tokens = _optional_positive_int(body, "max_tokens", "max_tokens")
    max_completion = _optional_positive_int(body, "max_completion_tokens", "max_completion_tokens")
    if max_tokens is not None and max_completion is not None and max_tokens != max_completion:
        raise _bad(
            "max_tokens and max_completion_tokens disagree: give one",
            "max_completion_tokens",
            "invalid_value",
        )
    limit = max_completion if max_completion is not None else max_tokens
    limit_param = "max_completion_tokens" if max_completion is not None else "max_tokens"

    ext = _extension(body)
    prompt_tokens = (
        _optional_positive_int(ext, "prompt_tokens", "georoute.prompt_tokens") or counted
    )
    forced_output = _optional_positive_int(ext, "output_tokens", "georoute.output_tokens")
    timing = bool(_optional_bool(ext, "timing"))

    ctx = served.max_context
    if prompt_tokens >= ctx:
        raise _bad(
            f"This model's maximum context length is {ctx} tokens. However, your {prompt_param} "
            f"resulted in {prompt_tokens} tokens (no room for output).",
            prompt_param,
            "context_length_exceeded",
        )
    room = ctx - prompt_tokens
    if limit is not None and limit > room:
        raise _bad(
            f"This model's maximum context length is {ctx} tokens. However, you requested "
            f"{prompt_tokens + limit} tokens ({prompt_tokens} in the {prompt_param}, "
            f"{limit} in the completion). Reduce the {prompt_param} or the completion.",
            limit_param,
            "context_length_exceeded",
        )
    if forced_output is not None and forced_output > room:
        raise _bad(
            f"georoute.output_tokens={forced_output} does not fit the context: "
            f"{room} tokens are left after {prompt_tokens} prompt tokens (maximum context {ctx})",
            "georoute.output_tokens",
            "context_length_exceeded",
        )

    finish: FinishReason
    if forced_output is not None:
        output = min(forced_output, limit) if limit is not None else forced_output
        finish = "length" if limit is not None and output == limit else "stop"
    elif limit is not None and ignore_eos is not False:
        output, finish = limit, "length"
    else:
        cap = limit if limit is not None else room
        u = tokens.content_quantile(model, content, seed)
        output = tokens.natural_output_tokens(u, cap=cap)
        finish = "length" if output == cap else "stop"
    return CompletionRequest(
        kind=kind,
        model=model,
        stream=stream,
        include_usage=include_usage,
        prompt_tokens=prompt_tokens,
        output_tokens=output,
        finish_reason=finish,
        timing=timing,
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _json_text(text: str) -> str:
    """A chunk's text as a JSON string: the filler repeats, so most are cached."""
    return json.dumps(text)


class ChunkFormatter:
    """Builds one response's SSE chunks and bodies. Token chunks are the hot path
    (hundreds of thousands a minute), so they are spliced from a precomputed prefix
    and suffix around the JSON-escaped text."""

    def __init__(self, request: CompletionRequest, *, response_id: str, created: int) -> None:
        self.request = request
        self.response_id = response_id
        self.created = created
        head = {
            "id": response_id,
            "object": self._object(stream=True),
            "created": created,
            "model": request.model,
        }
        head_json = _dumps(head)[:-1]
        if request.kind == "chat":
            self._prefix = f'data: {head_json},"choices":[{{"index":0,"delta":{{"content":'
            self._suffix = '},"logprobs":null,"finish_reason":null}]'
        else:
            self._prefix = f'data: {head_json},"choices":[{{"index":0,"text":'
            self._suffix = ',"logprobs":null,"finish_reason":null}]'
        self._head = head

    def _object(self, *, stream: bool) -> str:
        if self.request.kind == "chat":
            return "chat.completion.chunk" if stream else "chat.completion"
        return "text_completion"

    def _stamp(self, at: float | None) -> str:
        return f',"georoute_t":{at:.6f}' if self.request.timing and at is not None else ""

    def token_chunk(self, text: str, *, first: bool, at: float | None = None) -> bytes:
        """A chunk of output text (the first one also carries the assistant role)."""
        if first and self.request.kind == "chat":
            start = self._prefix.replace(
                '"delta":{"content":', '"delta":{"role":"assistant","content":'
            )
            return f"{start}{_json_text(text)}{self._suffix}{self._stamp(at)}}}\n\n".encode()
        return f"{self._prefix}{_json_text(text)}{self._suffix}{self._stamp(at)}}}\n\n".encode()

    def final_chunks(
        self,
        text: str,
        *,
        first: bool,
        usage: Mapping[str, int],
        georoute: Mapping[str, Any],
        at: float | None = None,
    ) -> bytes:
        """The last token chunk (with `finish_reason`), the usage chunk if asked for,
        and `data: [DONE]`. The `georoute` timing rides on the chunk before [DONE]."""
        choice: dict[str, Any] = {"index": 0}
        if self.request.kind == "chat":
            delta: dict[str, Any] = {"role": "assistant"} if first else {}
            delta["content"] = text
            choice["delta"] = delta
        else:
            choice["text"] = text
        choice["logprobs"] = None
        choice["finish_reason"] = self.request.finish_reason
        last: dict[str, Any] = {**self._head, "choices": [choice]}
        if self.request.timing and at is not None:
            last["georoute_t"] = round(at, 6)
        parts = [last]
        if self.request.include_usage:
            parts.append({**self._head, "choices": [], "usage": dict(usage)})
        parts[-1]["georoute"] = dict(georoute)
        return "".join(f"data: {_dumps(p)}\n\n" for p in parts).encode() + b"data: [DONE]\n\n"

    def full_response(
        self, text: str, *, usage: Mapping[str, int], georoute: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The non-streaming body."""
        choice: dict[str, Any] = {"index": 0}
        if self.request.kind == "chat":
            choice["message"] = {"role": "assistant", "content": text, "refusal": None}
        else:
            choice["text"] = text
        choice["logprobs"] = None
        choice["finish_reason"] = self.request.finish_reason
        return {
            "id": self.response_id,
            "object": self._object(stream=False),
            "created": self.created,
            "model": self.request.model,
            "choices": [choice],
            "usage": dict(usage),
            "georoute": dict(georoute),
        }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def models_list(served: ServedModel, *, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": served.id, "object": "model", "created": created, "owned_by": served.owned_by}
        ],
    }
