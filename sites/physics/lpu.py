"""Per-token latency of a Groq LPU deployment from its chip pipeline.

A GroqChip keeps the weights (and the KV cache) in its 220 MiB of SRAM, so a model
spans as many chips as its bytes need, laid out as a pipeline of layers. A token's
decode latency is the pipeline depth: every layer costs a near-constant time (the
deterministic schedule of that layer's matrix and vector work plus the hop into the
next stage), independent of the bytes, so

    t_token = layers × LPU_LAYER_S + moe_layers × LPU_MOE_LAYER_EXTRA_S
              + layers × ⌈log2(chips per layer)⌉ × LPU_HOP_S       (tensor-parallel hops)
              + layers × attention FLOPs(context) / (chips per layer × chip rate)
              + LPU_TOKEN_OVERHEAD_S

This is NOT the SRAM-bandwidth floor (hw_specs.md §5: measured decode runs 10-20x
above it). Sequences pipeline: a replica keeps one sequence per layer stage in flight
(`LPU_SEQS_PER_LAYER`) at the same per-user speed, so speed is flat under load until
that capacity and requests queue beyond it. Prefill streams the prompt through the
pipeline at the chips' compute rate, with one pipeline traversal as its floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sites.catalog import HardwareSpec, ModelSpec
from sites.engine_api import Precision
from sites.physics import constants as consts
from sites.physics.gpu import kv_bytes_per_token_total, weight_footprint_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LPUCostModel:
    model: ModelSpec
    hardware: HardwareSpec
    precision: Precision
    chips: int  # per replica
    layer_s: float  # per-layer time, this generation of chip
    moe_layer_extra_s: float

    @property
    def chips_per_layer(self) -> float:
        return self.chips / self.model.layers

    @property
    def hops_per_layer(self) -> int:
        return max(0, math.ceil(math.log2(max(self.chips_per_layer, 1.0))))

    @property
    def chip_flops_s(self) -> float:
        return self.hardware.flops_s(self.precision) * consts.LPU_COMPUTE_EFFICIENCY

    @property
    def pipeline_s(self) -> float:
        """One traversal of the pipeline by one token, context-free part."""
        m = self.model
        return (
            m.layers * (self.layer_s + self.hops_per_layer * consts.LPU_HOP_S)
            + m.moe_layers * self.moe_layer_extra_s
            + consts.LPU_TOKEN_OVERHEAD_S
        )

    def token_s(self, context_tokens: float) -> float:
        """Decode time per output token at `context_tokens` of context."""
        m = self.model
        attn = 4.0 * m.heads * m.head_dim * context_tokens  # per layer
        return self.pipeline_s + m.layers * attn / (self.chips_per_layer * self.chip_flops_s)

    def prefill_s(self, prompt_tokens: int) -> float:
        """Prefill: the prompt streams through at the compute rate of each stage;
        one pipeline traversal is the floor (short prompts)."""
        m = self.model
        per_token_flops = 2.0 * m.params_active + 4.0 * m.layers * m.heads * m.head_dim * (
            prompt_tokens / 2.0
        )
        # Every stage works on its slice of the prompt in parallel with the others:
        # the slowest stage (one layer's chips) sets the streaming rate.
        stage_rate = self.chips_per_layer * self.chip_flops_s
        stream_s = prompt_tokens * per_token_flops / m.layers / stage_rate
        return self.pipeline_s + stream_s

    def seq_capacity(self, context_tokens: float) -> int:
        """Concurrent sequences one replica serves at `context_tokens` each: pipeline
        slots, limited by the SRAM left for KV after the weights."""
        slots = self.model.layers * consts.LPU_SEQS_PER_LAYER
        free = self.kv_capacity_bytes
        per_seq = kv_bytes_per_token_total(self.model, self.precision, context_tokens) * max(
            context_tokens, 1.0
        )
        return max(0, min(slots, int(free // per_seq)))

    @property
    def kv_capacity_bytes(self) -> float:
        usable = self.chips * self.hardware.memory_bytes * consts.LPU_SRAM_USABLE
        return usable - weight_footprint_bytes(self.model, self.precision)


def lpu_layer_constants(hardware: HardwareSpec) -> tuple[float, float]:
    """(per-layer s, MoE extra s) for a chip generation. groq-lpu-3 is a PROJECTION:
    the per-layer time scales with the FP8 compute rate ratio to v1 (1.23 PFLOPS vs
    0.75 POPS) and the hop with its 11x faster scale-up links; both unmeasured."""
    if hardware.id == "groq-lpu":
        return consts.LPU_LAYER_S, consts.LPU_MOE_LAYER_EXTRA_S
    speedup = hardware.flops_s("fp8") / (750e12)
    return consts.LPU_LAYER_S / speedup, consts.LPU_MOE_LAYER_EXTRA_S / speedup


def chips_needed(
    model: ModelSpec, hardware: HardwareSpec, precision: Precision, kv_bytes: float
) -> int:
    """Chips whose usable SRAM holds the weights plus `kv_bytes` of KV cache."""
    need = weight_footprint_bytes(model, precision) + kv_bytes
    return math.ceil(need / (hardware.memory_bytes * consts.LPU_SRAM_USABLE))


def build_lpu_cost_model(
    *, model: ModelSpec, hardware: HardwareSpec, precision: Precision, chips: int
) -> LPUCostModel:
    layer_s, moe_extra = lpu_layer_constants(hardware)
    return LPUCostModel(
        model=model, hardware=hardware, precision=precision, chips=chips,
        layer_s=layer_s, moe_layer_extra_s=moe_extra,
    )
