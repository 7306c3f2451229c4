"""Time of one GPU serving iteration, from first principles plus calibrated efficiencies.

One iteration runs the whole model once over a batch of decode tokens (one per running
sequence) and prefill chunks. Per device of a tensor-parallel group of `tp` GPUs:

    t_mem      = (weights touched + KV read + KV written) / tp / (HBM bw × HBM_EFFICIENCY)
    t_compute  = FLOPs / tp / (peak[precision] × COMPUTE_EFFICIENCY[precision])
    t_core     = (t_mem^p + t_compute^p)^(1/p)           (smooth roofline, p = ROOFLINE_P)
    t_comm     = 2 × layers × (α + 2(tp-1)/tp × tokens × hidden × 2 B / (link × LINK_EFF))
    t          = t_core + t_comm + iteration + per-layer overheads (+ prefill overhead)
                 + MoE overhead

MoE: each MoE layer reads the experts the batch touches, E × (1 - (1 - k/E)^n) for n
tokens, plus a per-layer routing/grouped-GEMM overhead. Decode is memory-bound, prefill
compute-bound, and the smooth roofline keeps throughput rising at large batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

from sites.catalog import KV_BYTES, WEIGHT_BYTES, HardwareSpec, ModelSpec
from sites.catalog.precisions import UNQUANTISED_BYTES
from sites.engine_api import Precision
from sites.physics import constants as consts
from sites.physics.constants import FrameworkProfile


class PrefillShape(TypedDict, total=False):
    """The prefill part of an iteration's batch (all optional: decode-only by default)."""

    prefill_tokens: int
    prefill_attention_pairs: float
    prefill_context_tokens: float
    logits_tokens: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUCostModel:
    """Pre-computed per-device coefficients for one tensor-parallel group."""

    model: ModelSpec
    hardware: HardwareSpec
    precision: Precision
    tp: int
    profile: FrameworkProfile
    dense_weight_bytes: float  # per device, read every iteration
    expert_bytes: float  # one routed expert, per device
    kv_bytes_per_token: float  # per device, all layers
    linear_flops_per_token: float  # per device (2 × active linear params / tp)
    logits_flops_per_token: float  # per device
    attn_flops_per_pair: float  # per device: 4 × layers × heads × head_dim / tp
    mem_bw: float  # achieved bytes/s
    flops_s: float  # achieved FLOP/s
    comm_bytes_per_token: float  # ring all-reduce bytes per token per collective
    link_bw: float  # achieved bytes/s
    fixed_s: float  # per-iteration fixed overheads (framework, collectives' latency, MoE)

    def iteration_s(
        self, *, decode_seqs: int, decode_context_tokens: float, **prefill: Unpack[PrefillShape]
    ) -> float:
        """Duration of one iteration (see `iteration_parts`)."""
        return self.iteration_parts(
            decode_seqs=decode_seqs, decode_context_tokens=decode_context_tokens, **prefill
        )[0]

    def iteration_parts(
        self,
        *,
        decode_seqs: int,
        decode_context_tokens: float,
        prefill_tokens: int = 0,
        prefill_attention_pairs: float = 0.0,
        prefill_context_tokens: float = 0.0,
        logits_tokens: int | None = None,
    ) -> tuple[float, float]:
        """(duration_s, busy fraction of the roofline part, for energy accounting).

        `decode_context_tokens`: sum of the decode sequences' context lengths.
        `prefill_attention_pairs`: Σ chunk × (prior context + chunk/2) over prefill chunks.
        `prefill_context_tokens`: Σ prior context read by the prefill chunks.
        `logits_tokens`: tokens that produce logits (default: decodes + one per prefill).
        """
        tokens = decode_seqs + prefill_tokens
        if tokens <= 0:
            return 0.0, 0.0
        if logits_tokens is None:
            logits_tokens = decode_seqs + (1 if prefill_tokens else 0)
        m = self.model
        weight_bytes = self.dense_weight_bytes
        if m.is_moe:
            e = m.experts
            touched = e * (1.0 - (1.0 - m.active_experts / e) ** tokens)
            weight_bytes += m.moe_layers * touched * self.expert_bytes
        decode_ctx = decode_context_tokens
        if m.sliding_window is not None and decode_seqs:
            # Sliding-window layers read only the window: scale by the share of KV a
            # sequence of the batch's mean context actually attends to.
            mean = decode_context_tokens / decode_seqs
            decode_ctx *= m.kv_elements_per_token(mean) / m.kv_elements_per_token(0)
        kv_bytes = (decode_ctx + prefill_context_tokens + tokens) * self.kv_bytes_per_token
        t_mem = (weight_bytes + kv_bytes) / self.mem_bw
        flops = (
            tokens * self.linear_flops_per_token
            + logits_tokens * self.logits_flops_per_token
            + (decode_ctx + prefill_attention_pairs) * self.attn_flops_per_pair
        )
        t_cmp = flops / self.flops_s
        p = consts.ROOFLINE_P
        t_core = (t_mem**p + t_cmp**p) ** (1.0 / p)
        t_comm = 0.0
        if self.tp > 1:
            t_comm = 2 * m.layers * tokens * self.comm_bytes_per_token / self.link_bw
        t = t_core + t_comm + self.fixed_s
        if prefill_tokens:
            t += self.profile.prefill_overhead_s
        return t, t_core / t

    @property
    def decode_floor_s(self) -> float:
        """Bandwidth floor for one batch-1 decode token: weights over *peak* bandwidth."""
        return self.dense_weight_bytes / self.hardware.memory_bandwidth_bytes_s


def build_gpu_cost_model(
    *,
    model: ModelSpec,
    hardware: HardwareSpec,
    precision: Precision,
    tp: int,
    profile: FrameworkProfile,
) -> GPUCostModel:
    """Coefficients for `model` on a `tp`-way tensor-parallel group of `hardware`."""
    wb = WEIGHT_BYTES[precision]
    dense_weight_bytes = (
        m_body_bytes(model, wb) + model.lm_head_params * UNQUANTISED_BYTES
    ) / tp
    expert_bytes = model.expert_params * wb / tp
    kv_heads_per_device = max(model.kv_heads / tp, 1.0)  # KV heads replicate when tp > kv
    kv_bytes_per_token = (
        model.layers * 2 * kv_heads_per_device * model.head_dim * KV_BYTES[precision]
    )
    linear_params = model.params_active - model.lm_head_params
    comm_latency = 2 * model.layers * profile.allreduce_latency_s if tp > 1 else 0.0
    moe = model.moe_layers * profile.moe_layer_overhead_s
    return GPUCostModel(
        model=model,
        hardware=hardware,
        precision=precision,
        tp=tp,
        profile=profile,
        dense_weight_bytes=dense_weight_bytes,
        expert_bytes=expert_bytes,
        kv_bytes_per_token=kv_bytes_per_token,
        linear_flops_per_token=2.0 * linear_params / tp,
        logits_flops_per_token=2.0 * model.lm_head_params / tp,
        attn_flops_per_pair=4.0 * model.layers * model.heads * model.head_dim / tp,
        mem_bw=hardware.memory_bandwidth_bytes_s * consts.HBM_EFFICIENCY,
        flops_s=hardware.flops_s(precision) * consts.COMPUTE_EFFICIENCY[precision],
        comm_bytes_per_token=2.0 * (tp - 1) / tp * model.hidden * 2.0,
        link_bw=hardware.link_bandwidth_bytes_s * consts.LINK_EFFICIENCY,
        fixed_s=profile.iteration_overhead_s
        + model.layers * profile.layer_overhead_s
        + comm_latency
        + moe,
    )


def m_body_bytes(model: ModelSpec, weight_bytes: float) -> float:
    """Bytes of the linear layers every token reads (quantised)."""
    return model.dense_body_params * weight_bytes


def weight_footprint_bytes(model: ModelSpec, precision: Precision) -> float:
    """Bytes all weights occupy: quantised linear layers, 16-bit embeddings and LM head."""
    wb = WEIGHT_BYTES[precision]
    head = 0 if model.tied_embeddings else model.lm_head_params
    linear = model.dense_body_params + model.routed_expert_params
    return linear * wb + (model.embedding_params + head) * UNQUANTISED_BYTES


def kv_bytes_per_token_total(model: ModelSpec, precision: Precision, context: float) -> float:
    """KV-cache bytes per context token for the whole model (all devices)."""
    return model.kv_elements_per_token(context) * KV_BYTES[precision]
