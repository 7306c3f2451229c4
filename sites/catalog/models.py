"""Model architectures from their published Hugging Face `config.json` files.

Each entry names the config it was read from (`source=`). Parameter counts are
derived from the shapes (attention q/k/v/o, gated or plain MLP, routed and shared
experts, embeddings and LM head) and checked against the published totals in the
comments (e.g. Llama-3-70B 70.55 B, Mixtral 46.7 B total / 12.9 B active,
gpt-oss-120b 117 B / 5.1 B active, Llama-4 Maverick 400 B / 17 B active).
"""

from __future__ import annotations

from dataclasses import dataclass

from sites.engine_api import CatalogError


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """Transformer shape. `experts == 0` means a dense model."""

    id: str
    source: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # dense MLP width (Llama-4: `intermediate_size_mlp`)
    vocab: int
    max_context: int
    gated_mlp: bool = True
    experts: int = 0
    active_experts: int = 0
    expert_intermediate: int = 0
    shared_expert_intermediate: int = 0
    moe_layer_every: int = 1  # Llama-4 `interleave_moe_layer_step`
    tied_embeddings: bool = False
    sliding_window: int | None = None
    sliding_layer_fraction: float = 0.0  # share of layers that use the window

    # --- shapes -------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def moe_layers(self) -> int:
        return self.layers // self.moe_layer_every if self.is_moe else 0

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def attention_params_per_layer(self) -> int:
        return self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)

    @property
    def dense_mlp_params(self) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * self.intermediate

    @property
    def expert_params(self) -> int:
        """One routed expert (gated MLP)."""
        return 3 * self.hidden * self.expert_intermediate

    @property
    def shared_expert_params(self) -> int:
        return 3 * self.hidden * self.shared_expert_intermediate

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def lm_head_params(self) -> int:
        return self.vocab * self.hidden

    # --- totals -------------------------------------------------------------
    @property
    def dense_body_params(self) -> int:
        """Linear weights every token reads: attention, dense MLPs, shared experts, routers."""
        routers = self.moe_layers * self.hidden * self.experts
        return (
            self.layers * self.attention_params_per_layer
            + self.dense_layers * self.dense_mlp_params
            + self.moe_layers * self.shared_expert_params
            + routers
        )

    @property
    def routed_expert_params(self) -> int:
        return self.moe_layers * self.experts * self.expert_params

    @property
    def params_total(self) -> int:
        head = 0 if self.tied_embeddings else self.lm_head_params
        return self.dense_body_params + self.routed_expert_params + self.embedding_params + head

    @property
    def params_active(self) -> int:
        """Parameters one token's forward pass reads (LM head included, embedding lookup not)."""
        routed = self.moe_layers * self.active_experts * self.expert_params
        return self.dense_body_params + routed + self.lm_head_params

    def kv_elements_per_token(self, context_tokens: float) -> float:
        """KV-cache elements (K and V, all layers) per token of context, averaged over a
        context of `context_tokens` (sliding-window layers keep only the window)."""
        per_layer = 2 * self.kv_heads * self.head_dim
        if self.sliding_window is None or context_tokens <= self.sliding_window:
            return float(self.layers * per_layer)
        window_share = self.sliding_window / context_tokens
        f = self.sliding_layer_fraction
        return self.layers * per_layer * ((1 - f) + f * window_share)


def _llama(
    id: str, source: str, layers: int, hidden: int, heads: int, kv: int, inter: int,
    vocab: int, ctx: int,
) -> ModelSpec:
    return ModelSpec(
        id=id, source=source, layers=layers, hidden=hidden, heads=heads, kv_heads=kv,
        head_dim=hidden // heads, intermediate=inter, vocab=vocab, max_context=ctx,
    )


MODELS: dict[str, ModelSpec] = {
    m.id: m
    for m in (
        # 6.74 B total.
        _llama("llama-2-7b", "meta-llama/Llama-2-7b-hf config.json",
               32, 4096, 32, 32, 11008, 32000, 4096),
        # 68.98 B total.
        _llama("llama-2-70b", "meta-llama/Llama-2-70b-hf config.json",
               80, 8192, 64, 8, 28672, 32000, 4096),
        # 8.03 B total.
        _llama("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct config.json",
               32, 4096, 32, 8, 14336, 128256, 131072),
        # 70.55 B total (hw_specs.md section 5 works the same sum).
        _llama("llama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct config.json",
               80, 8192, 64, 8, 28672, 128256, 131072),
        _llama("llama-3.3-70b", "meta-llama/Llama-3.3-70B-Instruct config.json",
               80, 8192, 64, 8, 28672, 128256, 131072),
        # 405.8 B total.
        _llama("llama-3.1-405b", "meta-llama/Llama-3.1-405B-Instruct config.json",
               126, 16384, 128, 8, 53248, 128256, 131072),
        ModelSpec(  # 46.7 B total, 12.9 B active.
            id="mixtral-8x7b", source="mistralai/Mixtral-8x7B-v0.1 config.json",
            layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, intermediate=14336,
            vocab=32000, max_context=32768, experts=8, active_experts=2,
            expert_intermediate=14336,
        ),
        ModelSpec(  # 108 B total (published 109 B), 17 B active.
            id="llama-4-scout", source="meta-llama/Llama-4-Scout-17B-16E-Instruct config.json",
            layers=48, hidden=5120, heads=40, kv_heads=8, head_dim=128, intermediate=16384,
            vocab=202048, max_context=10485760, experts=16, active_experts=1,
            expert_intermediate=8192, shared_expert_intermediate=8192,
        ),
        ModelSpec(  # 400 B total, 17 B active; MoE on every second layer.
            id="llama-4-maverick",
            source="meta-llama/Llama-4-Maverick-17B-128E-Instruct config.json",
            layers=48, hidden=5120, heads=40, kv_heads=8, head_dim=128, intermediate=16384,
            vocab=202048, max_context=1048576, experts=128, active_experts=1,
            expert_intermediate=8192, shared_expert_intermediate=8192, moe_layer_every=2,
        ),
        ModelSpec(  # 20.9 B total, 3.6 B active; alternating 128-token sliding window.
            id="gpt-oss-20b", source="openai/gpt-oss-20b config.json",
            layers=24, hidden=2880, heads=64, kv_heads=8, head_dim=64, intermediate=2880,
            vocab=201088, max_context=131072, experts=32, active_experts=4,
            expert_intermediate=2880, sliding_window=128, sliding_layer_fraction=0.5,
        ),
        ModelSpec(  # 116.8 B total, 5.1 B active.
            id="gpt-oss-120b", source="openai/gpt-oss-120b config.json",
            layers=36, hidden=2880, heads=64, kv_heads=8, head_dim=64, intermediate=2880,
            vocab=201088, max_context=131072, experts=128, active_experts=4,
            expert_intermediate=2880, sliding_window=128, sliding_layer_fraction=0.5,
        ),
        ModelSpec(  # 6.05 B total; plain (non-gated) 4x MLP, 256-wide heads.
            id="gpt-j-6b", source="EleutherAI/gpt-j-6b config.json (n_layer 28, n_embd 4096)",
            layers=28, hidden=4096, heads=16, kv_heads=16, head_dim=256, intermediate=16384,
            vocab=50400, max_context=2048, gated_mlp=False,
        ),
        ModelSpec(  # 7.24 B total; 4096-token sliding window on every layer.
            id="mistral-7b", source="mistralai/Mistral-7B-v0.1 config.json",
            layers=32, hidden=4096, heads=32, kv_heads=8, head_dim=128, intermediate=14336,
            vocab=32000, max_context=32768, sliding_window=4096, sliding_layer_fraction=1.0,
        ),
    )
}


def get_model(model_id: str) -> ModelSpec:
    """The model for `model_id`, or CatalogError listing the valid ids."""
    try:
        return MODELS[model_id]
    except KeyError:
        raise CatalogError(
            f"unknown model {model_id!r}; valid ids: {', '.join(MODELS)}"
        ) from None
