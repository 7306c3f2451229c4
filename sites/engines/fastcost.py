"""Per-deployment constants of the LPU and GPU cost models, computed once.

`LPUCostModel.token_s` and `prefill_s` re-derive the pipeline time (a log2 and a
ceil), chips per layer and the model's active parameters on every call; the router's
`fastest` policy and the engines call them per request. `LPUTerms` holds those
constants and evaluates the same expressions in the same order, so the results are
bit-identical to the cost model's (a test pins that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from sites.physics import constants as consts
from sites.physics.gpu import GPUCostModel
from sites.physics.lpu import LPUCostModel


class LPUTerms:
    """`token_s` / `prefill_s` of one `LPUCostModel` with its constants folded."""

    __slots__ = ("_attn_k", "_layers", "_pf_a", "_pf_b", "_stage_rate", "pipeline_s")

    def __init__(self, cm: LPUCostModel) -> None:
        m = cm.model
        self.pipeline_s = cm.pipeline_s
        self._layers = m.layers
        self._attn_k = 4.0 * m.heads * m.head_dim
        self._stage_rate = cm.chips_per_layer * cm.chip_flops_s
        self._pf_a = 2.0 * m.params_active
        self._pf_b = 4.0 * m.layers * m.heads * m.head_dim

    def token_s(self, context_tokens: float) -> float:
        """= LPUCostModel.token_s(context_tokens)."""
        attn = self._attn_k * context_tokens
        return self.pipeline_s + self._layers * attn / self._stage_rate

    def prefill_s(self, prompt_tokens: int) -> float:
        """= LPUCostModel.prefill_s(prompt_tokens)."""
        per_token_flops = self._pf_a + self._pf_b * (prompt_tokens / 2.0)
        stream_s = prompt_tokens * per_token_flops / self._layers / self._stage_rate
        return self.pipeline_s + stream_s


def lpu_terms(cm: LPUCostModel) -> LPUTerms:
    """The folded constants of `cm` (cached by identity: resolved deployments are)."""
    return _by_identity(cm, LPUTerms)


class GPUTerms:
    """`GPUCostModel.iteration_parts(...)[0]` with positional arguments and its
    constants folded, for dense models without sliding-window layers (bit-identical:
    the same operations in the same order); other models go to the cost model."""

    __slots__ = ("_attn", "_cm", "_comm", "_dense", "_fast", "_fixed", "_flops_s", "_inv_p",
                 "_kvb", "_lin", "_logits", "_mem_bw", "_p", "_prefill_over")

    def __init__(self, cm: GPUCostModel) -> None:
        m = cm.model
        self._cm = cm
        self._fast = not m.is_moe and m.sliding_window is None
        self._dense = cm.dense_weight_bytes
        self._kvb = cm.kv_bytes_per_token
        self._mem_bw = cm.mem_bw
        self._lin = cm.linear_flops_per_token
        self._logits = cm.logits_flops_per_token
        self._attn = cm.attn_flops_per_pair
        self._flops_s = cm.flops_s
        self._p = consts.ROOFLINE_P
        self._inv_p = 1.0 / consts.ROOFLINE_P
        # 2 × layers × bytes per token / link bandwidth, applied as in the cost model.
        self._comm = (2 * m.layers, cm.comm_bytes_per_token, cm.link_bw) if cm.tp > 1 else None
        self._fixed = cm.fixed_s
        self._prefill_over = cm.profile.prefill_overhead_s

    def iteration_s(self, decode_seqs: int, decode_context_tokens: float,
                    prefill_tokens: int = 0, prefill_attention_pairs: float = 0.0,
                    prefill_context_tokens: float = 0.0) -> float:
        """Duration of one iteration (logits for every decode and one per prefill)."""
        if not self._fast:
            return self._cm.iteration_parts(
                decode_seqs=decode_seqs, decode_context_tokens=decode_context_tokens,
                prefill_tokens=prefill_tokens, prefill_attention_pairs=prefill_attention_pairs,
                prefill_context_tokens=prefill_context_tokens,
            )[0]
        tokens = decode_seqs + prefill_tokens
        if tokens <= 0:
            return 0.0
        logits_tokens = decode_seqs + (1 if prefill_tokens else 0)
        kv_bytes = (decode_context_tokens + prefill_context_tokens + tokens) * self._kvb
        t_mem = (self._dense + kv_bytes) / self._mem_bw
        flops = (
            tokens * self._lin
            + logits_tokens * self._logits
            + (decode_context_tokens + prefill_attention_pairs) * self._attn
        )
        t_cmp = flops / self._flops_s
        p = self._p
        t_core: float = (t_mem**p + t_cmp**p) ** self._inv_p
        t_comm = 0.0
        if self._comm is not None:
            layers2, bytes_per_token, link_bw = self._comm
            t_comm = layers2 * tokens * bytes_per_token / link_bw
        t = t_core + t_comm + self._fixed
        if prefill_tokens:
            t += self._prefill_over
        return t


def gpu_terms(cm: GPUCostModel) -> GPUTerms:
    """The folded constants of `cm` (cached by identity)."""
    return _by_identity(cm, GPUTerms)


_CostModel = TypeVar("_CostModel", LPUCostModel, GPUCostModel)
_Terms = TypeVar("_Terms", LPUTerms, GPUTerms)
_CACHE: dict[int, tuple[object, object]] = {}


def _by_identity(cm: _CostModel, build: Callable[[_CostModel], _Terms]) -> _Terms:
    """`build(cm)`, once per cost-model object (the entry keeps it, so its id stays its)."""
    hit = _CACHE.get(id(cm))
    if hit is not None and hit[0] is cm:
        return cast(_Terms, hit[1])
    terms = build(cm)
    if len(_CACHE) > 1024:
        _CACHE.clear()
    _CACHE[id(cm)] = (cm, terms)
    return terms
