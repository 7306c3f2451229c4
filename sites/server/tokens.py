"""Token counts and filler text: what a site says it read and what it writes back.

Content does not matter to a latency simulator, counts and timing do, so every rule
here is deterministic and documented (pure module, no I/O):

Prompt tokens (no tokenizer: a rule anyone can reproduce)
    `text_tokens(s) = ceil(utf8_bytes(s) / 4)` (about 4 bytes per token, the usual
    figure for English with Llama-3/GPT-4-class BPE vocabularies).
    Chat: each message costs `text_tokens(content) + text_tokens(name) + 4` (role and
    separators), plus 3 for the assistant's reply header; content given as a list of
    parts counts the text of its `text` parts. Completions: `text_tokens(prompt)`, at
    least 1; a prompt given as a list of token ids counts one token per id.
    A load generator that needs exact lengths overrides the count with the request
    extension `"georoute": {"prompt_tokens": N}` (see `openai_api`).

Natural output length (a request without `max_tokens`)
    Sampled from the empirical output-length distribution of the Azure LLM inference
    trace 2023, conversation set (19,366 requests; p50 129, p90 424, p99 601, max
    1,000): the quantile function is interpolated log-linearly between the knots in
    `AZURE_CONV_OUTPUT_QUANTILES`, at a quantile `u` derived from a BLAKE2b hash of
    the request's content (model, messages or prompt, and `seed` if given), so the
    same request always gets the same length and different requests spread over the
    distribution. The result is capped by the room left in the model's context.

Filler text
    Token i of every reply is the i-th word (with its leading space) of a fixed
    pangram cycle, so a chunk's text is a pure function of its token indices.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3

# (quantile, output tokens) of GeneratedTokens in AzureLLMInferenceTrace_conv.csv
# (Azure/AzurePublicDataset, CC BY 4.0), measured with numpy.quantile on the file.
AZURE_CONV_OUTPUT_QUANTILES: tuple[tuple[float, float], ...] = (
    (0.0, 7.0),
    (0.01, 16.0),
    (0.05, 41.0),
    (0.10, 54.0),
    (0.25, 85.0),
    (0.50, 129.0),
    (0.75, 395.0),
    (0.90, 424.0),
    (0.95, 451.0),
    (0.99, 601.0),
    (0.999, 954.0),
    (1.0, 1000.0),
)

_PANGRAMS = (
    "The quick brown fox jumps over the lazy dog while five boxing wizards jump "
    "quickly and a wizard's job is to vex chumps quickly in fog."
)
_WORDS: tuple[str, ...] = tuple(" " + w for w in _PANGRAMS.split(" "))


def text_tokens(text: str) -> int:
    """ceil(UTF-8 bytes / 4): the site's one tokenizer-free counting rule."""
    return -(-len(text.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN)


def content_text(content: object) -> str:
    """The text of a chat message's `content`: a string, or the `text` of each part
    of a list of parts (non-text parts contribute nothing). None counts as empty."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content)


def chat_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens of a chat request (rule in the module docstring)."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + text_tokens(content_text(message.get("content")))
        name = message.get("name")
        if isinstance(name, str):
            total += text_tokens(name)
    return total


def completion_prompt_tokens(prompt: str | Sequence[int]) -> int:
    """Prompt tokens of a completions request: text by the byte rule (at least 1),
    a list of token ids one each."""
    if isinstance(prompt, str):
        return max(1, text_tokens(prompt))
    return len(prompt)


def content_quantile(*parts: object) -> float:
    """A deterministic number in [0, 1) from the request's content (BLAKE2b of its
    canonical JSON), standing in for a random draw that replays identically."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def natural_output_tokens(u: float, *, cap: int) -> int:
    """The output length at quantile `u` of the Azure conversation distribution
    (log-linear between knots), at least 1 and at most `cap`."""
    if not 0.0 <= u <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], got {u}")
    knots = AZURE_CONV_OUTPUT_QUANTILES
    for (q0, v0), (q1, v1) in itertools.pairwise(knots):
        if u <= q1:
            frac = (u - q0) / (q1 - q0)
            value = math.exp(math.log(v0) + frac * (math.log(v1) - math.log(v0)))
            break
    else:  # pragma: no cover - u <= 1.0 always hits the last knot
        value = knots[-1][1]
    return max(1, min(cap, round(value)))


def filler(first_index: int, count: int) -> str:
    """The text of output tokens `first_index .. first_index + count - 1`."""
    n = len(_WORDS)
    return "".join(_WORDS[i % n] for i in range(first_index, first_index + count))
