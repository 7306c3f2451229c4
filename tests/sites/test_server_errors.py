"""Bad input gets the right status and an OpenAI-style error body, never a traceback
or HTML; random JSON never produces a 5xx."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from aiohttp import web
from conftest import MODEL, SITE, LiveSite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from site_fakes import FixedRateEngine

from sites.server.app import make_app

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MSG = [{"role": "user", "content": "hi"}]


async def error_of(resp) -> dict:
    assert resp.headers["Content-Type"].startswith("application/json")
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    ("path", "body", "status", "param", "code"),
    [
        (CHAT, {"model": MODEL}, 400, "messages", "missing_required_parameter"),
        (CHAT, {"model": MODEL, "messages": []}, 400, "messages", "empty_array"),
        (CHAT, {"model": MODEL, "messages": "hi"}, 400, "messages", "invalid_type"),
        (
            CHAT,
            {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "messages[0].role",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": [{"role": "user"}]},
            400,
            "messages[0].content",
            "missing_required_parameter",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            400,
            "messages[0].content[0]",
            "invalid_value",
        ),
        (COMPLETIONS, {"model": MODEL}, 400, "prompt", "missing_required_parameter"),
        (COMPLETIONS, {"model": MODEL, "prompt": ""}, 400, "prompt", "empty_string"),
        (COMPLETIONS, {"model": MODEL, "prompt": ["a", "b"]}, 400, "prompt", "unsupported_value"),
        (COMPLETIONS, {"model": MODEL, "prompt": 5}, 400, "prompt", "invalid_type"),
        (CHAT, {"messages": MSG}, 400, "model", "missing_required_parameter"),
        (CHAT, {"model": "gpt-9", "messages": MSG}, 404, "model", "model_not_found"),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": 0},
            400,
            "max_tokens",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": -5},
            400,
            "max_tokens",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": "10"},
            400,
            "max_tokens",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": 2.5},
            400,
            "max_tokens",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": True},
            400,
            "max_tokens",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_completion_tokens": 0},
            400,
            "max_completion_tokens",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": 5, "max_completion_tokens": 6},
            400,
            "max_completion_tokens",
            "invalid_value",
        ),
        # beyond the model's context (131,072 for Llama 3.1 8B)
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": 200_000},
            400,
            "max_tokens",
            "context_length_exceeded",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "georoute": {"prompt_tokens": 131_072}},
            400,
            "messages",
            "context_length_exceeded",
        ),
        (
            COMPLETIONS,
            {"model": MODEL, "prompt": "x", "georoute": {"output_tokens": 10**6}},
            400,
            "georoute.output_tokens",
            "context_length_exceeded",
        ),
        # beyond what this deployment can hold (the test engine's 4,096-token limit)
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "max_tokens": 5000},
            400,
            "messages",
            "context_length_exceeded",
        ),
        (CHAT, {"model": MODEL, "messages": MSG, "n": 2}, 400, "n", "unsupported_value"),
        (CHAT, {"model": MODEL, "messages": MSG, "stream": "yes"}, 400, "stream", "invalid_type"),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "stream_options": {"include_usage": True}},
            400,
            "stream_options",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "georoute": {"prompt_tokenz": 5}},
            400,
            "georoute.prompt_tokenz",
            "invalid_value",
        ),
        (
            CHAT,
            {"model": MODEL, "messages": MSG, "georoute": {"prompt_tokens": 0}},
            400,
            "georoute.prompt_tokens",
            "invalid_value",
        ),
        (CHAT, [1, 2, 3], 400, None, "invalid_type"),
    ],
)
async def test_bad_requests(live: LiveSite, path, body, status, param, code) -> None:
    resp = await live.http.post(path, json=body)
    assert resp.status == status
    error = await error_of(resp)
    assert error["param"] == param
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert live.engine.submitted == []


async def test_malformed_json(live: LiveSite) -> None:
    resp = await live.http.post(
        CHAT, data=b'{"model": ', headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await error_of(resp))["code"] == "invalid_json"
    resp = await live.http.post(
        CHAT, data=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400


async def test_body_over_one_mib(live: LiveSite) -> None:
    big = b'{"model": "' + b"x" * (1 << 20) + b'"}'
    resp = await live.http.post(
        CHAT, data=io.BytesIO(big), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await error_of(resp))["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", CHAT, 405, "method_not_allowed"),
        ("PUT", COMPLETIONS, 405, "method_not_allowed"),
        ("POST", "/health", 405, "method_not_allowed"),
        ("GET", "/v1/embeddings", 404, "not_found"),
        ("GET", "/", 404, "not_found"),
    ],
)
async def test_wrong_method_or_path(live: LiveSite, method, path, status, code) -> None:
    resp = await live.http.request(method, path)
    assert resp.status == status
    assert (await error_of(resp))["code"] == code


async def test_openai_client_sees_typed_errors(live: LiveSite) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        await live.openai.chat.completions.create(model="nope", messages=MSG)
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        await live.openai.chat.completions.create(model=MODEL, messages=MSG, max_tokens=0)
    assert bad.value.param == "max_tokens"


# --- property: random JSON never yields a 5xx -----------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "model",
    "messages",
    "prompt",
    "max_tokens",
    "max_completion_tokens",
    "stream",
    "stream_options",
    "n",
    "seed",
    "ignore_eos",
    "georoute",
]
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "model": st.just(MODEL) | json_values,
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "x"]), "content": json_values}
            ),
            max_size=3,
        )
        | json_values,
        "prompt": st.text(max_size=30) | st.lists(st.integers(0, 100), max_size=5) | json_values,
        "max_tokens": st.integers(-3, 40) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
        "n": st.integers(-1, 3),
        "georoute": st.dictionaries(
            st.sampled_from(["prompt_tokens", "output_tokens", "timing", "zz"]),
            json_values,
            max_size=3,
        ),
    },
)


@pytest.fixture(scope="module")
def threaded_site() -> Iterator[str]:
    """A site on its own event loop in a thread, so hypothesis can drive it with a
    synchronous client (hypothesis does not run async test functions)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        engine = FixedRateEngine(prefill_s=0.0005, tpot_s=0.00002, slots=64, max_context=1 << 20)
        runner = web.AppRunner(
            make_app(SITE, engine=engine, admin_token="t"), handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    started.wait(10)
    yield str(holder["url"])
    runner = holder["runner"]
    assert isinstance(runner, web.AppRunner)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from([CHAT, COMPLETIONS]), body=near_valid | json_values)
def test_random_json_never_5xx(threaded_site: str, path: str, body: object) -> None:
    request = urllib.request.Request(
        threaded_site + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    assert status < 500, text
    if status >= 400:
        error = json.loads(text)["error"]
        assert set(error) == {"message", "type", "param", "code"}
