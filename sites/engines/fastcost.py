"""Per-deployment constants of the LPU cost model, computed once.

`LPUCostModel.token_s` and `prefill_s` re-derive the pipeline time (a log2 and a
ceil), chips per layer and the model's active parameters on every call; the router's
`fastest` policy and the engines call them per request. `LPUTerms` holds those
constants and evaluates the same expressions in the same order, so the results are
bit-identical to the cost model's (a test pins that).
"""

from __future__ import annotations

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


_TERMS: dict[int, tuple[LPUCostModel, LPUTerms]] = {}


def lpu_terms(cm: LPUCostModel) -> LPUTerms:
    """The folded constants of `cm` (cached by identity: resolved deployments are)."""
    hit = _TERMS.get(id(cm))
    if hit is not None and hit[0] is cm:
        return hit[1]
    terms = LPUTerms(cm)
    if len(_TERMS) > 1024:
        _TERMS.clear()
    _TERMS[id(cm)] = (cm, terms)
    return terms
