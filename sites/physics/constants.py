"""Calibrated efficiency constants for the step-time physics, with where each came from.

Hardware peaks live in `sites.catalog.hardware` (published figures). The numbers here
turn peaks into achieved rates and add the overheads a plain roofline misses. Each is
global (per hardware family, precision class or framework), never per measurement
row; the fit notes say which published rows constrain it. See sites/physics/README.md
for the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sites.engine_api import Framework, Precision


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameworkProfile:
    """Serving-framework overheads and scheduler defaults (vLLM vs TensorRT-LLM)."""

    name: Framework
    iteration_overhead_s: float  # scheduler, sampling, launch per iteration (CUDA graphs on)
    layer_overhead_s: float  # per layer per iteration: kernel launches, norms, small ops
    prefill_overhead_s: float  # extra per iteration that runs a context (prefill) phase
    allreduce_latency_s: float  # per tensor-parallel all-reduce (custom all-reduce kernels)
    moe_layer_overhead_s: float  # per MoE layer: routing, permute/unpermute, grouped-GEMM launch
    default_max_num_seqs: int
    default_max_batched_tokens: int
    chunked_prefill: bool  # split prompts across iterations to fill the token budget


FRAMEWORKS: dict[Framework, FrameworkProfile] = {
    # vLLM V1 defaults on H100-class GPUs: max_num_seqs 256, chunked prefill with
    # max_num_batched_tokens 8192 (vllm/engine/arg_utils.py usage-context defaults).
    # Overheads fitted on the vLLM CI latency rows (GPU-VLLM-02/04: batch 8 decode);
    # layer_overhead_s on every c=1 decode row (~30 us/layer above the bandwidth time).
    "vllm": FrameworkProfile(
        name="vllm",
        iteration_overhead_s=1.2e-3,
        layer_overhead_s=30e-6,
        prefill_overhead_s=5.0e-3,
        allreduce_latency_s=12e-6,
        moe_layer_overhead_s=40e-6,
        default_max_num_seqs=256,
        default_max_batched_tokens=8192,
        chunked_prefill=True,  # vLLM V1: always on
    ),
    # TensorRT-LLM: max_batch_size 2048 and max_num_tokens 8192 are trtllm-build /
    # trtllm-serve defaults. Overheads fitted on the NIM TP2 sweep (GPU-NIM-01/07) and
    # the v0.9 first-token rows (GPU-TRT09-01/02/05).
    "trtllm": FrameworkProfile(
        name="trtllm",
        iteration_overhead_s=0.8e-3,
        layer_overhead_s=30e-6,
        prefill_overhead_s=5.0e-3,
        allreduce_latency_s=10e-6,
        moe_layer_overhead_s=30e-6,
        default_max_num_seqs=2048,
        default_max_batched_tokens=8192,
        # TensorRT-LLM `enable_chunked_context` defaults to off: a context request runs
        # whole when it fits the token budget, else waits (long prompts still chunk).
        chunked_prefill=False,
    ),
}

#: Achieved fraction of peak HBM bandwidth for weight and KV streaming (decode GEMV and
#: paged attention). Fit: GPU-NIM-01 (H100 TP2 ITL 18.6 ms at c=1), GPU-VLLM-04.
HBM_EFFICIENCY = 0.80

#: Achieved fraction of peak dense tensor throughput on large GEMMs, by precision class.
#: Fit: 16-bit from GPU-BLOG-04 / GPU-TRT09-05 (A100 FP16 prefill); 8-bit from
#: GPU-NIM-01 TTFT, GPU-TRT09-02, GPU-BLOG-03 (H100 FP8 prefill); FP4 from GPU-PO-06 /
#: GPU-PO-10 (B200 FP4 max-load), which reach a smaller share of peak than FP8.
COMPUTE_EFFICIENCY: dict[Precision, float] = {
    "fp16": 0.62,
    "bf16": 0.62,
    "fp8": 0.50,
    "int8": 0.50,
    "fp4": 0.33,
}

#: Exponent of the smooth roofline t = (t_mem^p + t_compute^p)^(1/p). A hard max
#: (p -> infinity) saturates too early: measured throughput keeps rising at large
#: batch because memory and compute phases only partly overlap. Fit: the large-batch
#: static rows (GPU-TRT09-07/11, GPU-BLOG-01) and max-load rows (GPU-PO-*).
ROOFLINE_P = 2.0

#: Achieved fraction of NVLink per-direction bandwidth in ring all-reduce (NCCL
#: busbw on H100 NVSwitch ~ 350-370 GB/s of 450). Fit: GPU-TRT09-02 (TP8 prefill).
LINK_EFFICIENCY = 0.75

#: Share of all HBM for weights + activations + KV (vLLM gpu_memory_utilization=0.9).
#: Used for TensorRT-LLM too: its default kv_cache_free_gpu_mem_fraction=0.9 of the
#: *free* memory would hold ~10% more KV, but the NIM sweep saturates at c~100 with
#: 5,500-token contexts (GPU-NIM-05/06), which fits this stricter budget.
GPU_MEMORY_UTILIZATION = 0.90

#: Activation / workspace reserve per GPU (CUDA context, NCCL buffers, activations for
#: 8k batched tokens). vLLM profiles ~2-4 GB on 70B-class TP deployments.
ACTIVATION_RESERVE_BYTES = 3e9

#: Paged KV-cache block size in tokens (vLLM default 16; TRT-LLM tokens_per_block 32/64).
KV_BLOCK_TOKENS = 16

#: Jump-ahead refresh: a stable decode segment re-evaluates its iteration time once the
#: growing KV cache would have lengthened it by this fraction (keeps error < 1%).
SEGMENT_TIME_TOLERANCE = 0.01

# --- LPU (GroqChip) -------------------------------------------------------------------
#: Per-layer pipeline time on GroqChip v1 (dense layer, including the chip-to-chip
#: hop into the next stage). Fit: the Groq rows' per-token time / layers (README:
#: 42-67 us/layer): LPU-03 (Llama-3.3-70B, 280 tok/s -> 44.6 us), LPU-07 (250 -> 50),
#: LPU-08 (Llama-2-70B 300 -> 41.7), LPU-10 (Llama-2-7B 750 -> 41.7).
LPU_LAYER_S = 43e-6

#: Extra time per MoE layer (expert dispatch and combine across chips: two more hops
#: and the gate). Fit: LPU-09 (Mixtral 480 tok/s -> 65 us/layer, 32 MoE layers).
LPU_MOE_LAYER_EXTRA_S = 20e-6

#: One chip-to-chip hop inside a layer's tensor-parallel group (ISCA 2022: < 3 us
#: end to end across 10,440 TSPs; one hop is well under a microsecond of that).
LPU_HOP_S = 0.6e-6

#: Fixed per-token time outside the layers (embedding, LM head, sampling). The fit over
#: the Groq rows leaves nothing for it beyond the per-layer time, so it is zero.
LPU_TOKEN_OVERHEAD_S = 0.0

#: Achieved fraction of the chip's peak in prefill (long streams of tokens keep the
#: MXM busy; deterministic scheduling). Assumption: no published Groq prefill data.
LPU_COMPUTE_EFFICIENCY = 0.5

#: Fraction of SRAM usable for weights and KV (the rest holds activations/program).
LPU_SRAM_USABLE = 0.90

#: Concurrent sequences per pipeline stage (layer): the deterministic pipeline keeps
#: one sequence's token per layer in flight, so a replica serves `layers` sequences.
LPU_SEQS_PER_LAYER = 1

#: KV budget per sequence when sizing a default LPU deployment (`devices=None`).
LPU_DEFAULT_CONTEXT_TOKENS = 4096
