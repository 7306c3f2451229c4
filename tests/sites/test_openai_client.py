"""A site as the official `openai` client sees it: chat and completions, streaming
and not, usage, the `georoute` timing object, models, natural lengths and the
exact-length request extension."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL, LiveSite
from site_fakes import COST_USD_PER_TOKEN, ENERGY_J_PER_TOKEN

from sites.server import tokens

MESSAGES = [{"role": "user", "content": "Where is Riyadh?"}]
COUNTED = tokens.chat_prompt_tokens(MESSAGES)

GEOROUTE_KEYS = {
    "site",
    "queue_ms",
    "prefill_ms",
    "ttft_ms",
    "decode_ms",
    "tpot_ms",
    "e2e_ms",
    "prompt_tokens",
    "output_tokens",
    "energy_j",
    "cost_usd",
    "preemptions",
}


def check_timing(georoute: dict, *, prompt: int, output: int) -> None:
    """The site's own account for a lone request on the fixed-rate engine
    (prefill 10 ms, 2 ms per token): exact, because it comes from the schedule."""
    assert set(georoute) == GEOROUTE_KEYS
    assert georoute["site"] == "test-site"
    assert georoute["prompt_tokens"] == prompt
    assert georoute["output_tokens"] == output
    assert georoute["queue_ms"] == pytest.approx(0.0, abs=1e-3)
    assert georoute["ttft_ms"] == pytest.approx(10.0, abs=1e-3)
    assert georoute["prefill_ms"] == pytest.approx(10.0, abs=1e-3)
    assert georoute["tpot_ms"] == pytest.approx(2.0 if output > 1 else 0.0, abs=1e-3)
    assert georoute["e2e_ms"] == pytest.approx(10.0 + 2.0 * (output - 1), abs=1e-3)
    assert georoute["energy_j"] == pytest.approx(ENERGY_J_PER_TOKEN * output)
    assert georoute["cost_usd"] == pytest.approx(COST_USD_PER_TOKEN * output)


async def test_chat_non_streaming(live: LiveSite) -> None:
    raw = await live.openai.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=7
    )
    assert raw.headers["X-Georoute-Site"] == "test-site"
    reply = raw.parse()
    assert reply.object == "chat.completion"
    assert reply.model == MODEL
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == tokens.filler(0, 7)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (COUNTED, 7)
    assert reply.usage.total_tokens == COUNTED + 7
    check_timing(reply.model_extra["georoute"], prompt=COUNTED, output=7)
    # the engine saw exactly these lengths
    (request,) = live.engine.submitted
    assert (request.prompt_tokens, request.output_tokens) == (COUNTED, 7)


async def test_chat_streaming_with_usage(live: LiveSite) -> None:
    stream = await live.openai.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_completion_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    content = [c for c in chunks if c.choices]
    assert content[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in content) == tokens.filler(0, 12)
    assert [c.choices[0].finish_reason for c in content][-1] == "length"
    assert all(c.choices[0].finish_reason is None for c in content[:-1])
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == 12
    check_timing(usage_chunk.model_extra["georoute"], prompt=COUNTED, output=12)


async def test_stream_wire_format(live: LiveSite) -> None:
    """SSE framing: event-stream, no-cache, `data: {json}` blocks, then [DONE];
    without include_usage the finish chunk carries the georoute object."""
    resp = await live.http.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": MESSAGES, "max_tokens": 4, "stream": True},
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Georoute-Site"] == "test-site"
    body = await resp.text()
    events = body.split("\n\n")
    assert events[-1] == ""
    assert events[-2] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-1])
    assert "usage" not in payloads[-1]
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"
    check_timing(payloads[-1]["georoute"], prompt=COUNTED, output=4)
    assert all("georoute" not in p for p in payloads[:-1])


async def test_completions_both_ways(live: LiveSite) -> None:
    reply = await live.openai.completions.create(model=MODEL, prompt="x" * 40, max_tokens=5)
    assert reply.object == "text_completion"
    assert reply.choices[0].text == tokens.filler(0, 5)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 10  # 40 bytes / 4
    check_timing(reply.model_extra["georoute"], prompt=10, output=5)

    stream = await live.openai.completions.create(
        model=MODEL,
        prompt=[1, 2, 3],
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == tokens.filler(0, 6)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 3  # one per token id


async def test_models(live: LiveSite) -> None:
    models = await live.openai.models.list()
    assert [m.id for m in models.data] == [MODEL]


async def test_natural_length_is_deterministic(live: LiveSite) -> None:
    messages = [{"role": "user", "content": "Tell me a story."}]
    a = await live.openai.chat.completions.create(model=MODEL, messages=messages)
    b = await live.openai.chat.completions.create(model=MODEL, messages=messages)
    expected = tokens.natural_output_tokens(
        tokens.content_quantile(MODEL, messages, None),
        cap=131_072 - tokens.chat_prompt_tokens(messages),
    )
    assert a.usage is not None
    assert b.usage is not None
    assert a.usage.completion_tokens == b.usage.completion_tokens == expected
    assert a.choices[0].finish_reason == "stop"
    c = await live.openai.chat.completions.create(model=MODEL, messages=messages, seed=7)
    assert c.usage is not None
    assert c.usage.completion_tokens == tokens.natural_output_tokens(
        tokens.content_quantile(MODEL, messages, 7), cap=131_072
    )


async def test_ignore_eos_false_caps_natural_length(live: LiveSite) -> None:
    natural = tokens.natural_output_tokens(
        tokens.content_quantile(MODEL, MESSAGES, None), cap=10**6
    )
    reply = await live.openai.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=natural + 50, extra_body={"ignore_eos": False}
    )
    assert reply.usage is not None
    assert reply.usage.completion_tokens == natural
    assert reply.choices[0].finish_reason == "stop"


async def test_exact_length_extension(live: LiveSite) -> None:
    reply = await live.openai.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        extra_body={"georoute": {"prompt_tokens": 1500, "output_tokens": 9}},
    )
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (1500, 9)
    assert reply.choices[0].finish_reason == "stop"
    assert live.engine.submitted[-1].prompt_tokens == 1500
    assert live.engine.submitted[-1].output_tokens == 9


async def test_timing_extension_stamps_chunks(live: LiveSite) -> None:
    stream = await live.openai.completions.create(
        model=MODEL,
        prompt="hi",
        max_tokens=5,
        stream=True,
        extra_body={"georoute": {"timing": True}},
    )
    chunks = [c async for c in stream]
    stamps = [c.model_extra["georoute_t"] for c in chunks]
    assert stamps == sorted(stamps)
    # a stamp is its chunk's last token's time; tokens are 2 ms apart and the filler
    # is one word per token, so the first chunk's size fixes the expected span
    first_chunk_tokens = len(chunks[0].choices[0].text.split())
    assert stamps[-1] - stamps[0] == pytest.approx(0.002 * (5 - first_chunk_tokens), abs=1e-6)
