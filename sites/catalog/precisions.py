"""Bytes per value and tensor-core support by numeric precision.

Sources: IEEE/OCP formats (FP16/BF16 2 bytes, FP8 E4M3 and INT8 1 byte, FP4 E2M1
half a byte). Block-scaled FP4 (NVFP4: one FP8 scale per 16 values; MXFP4: one
E8M0 scale per 32 values, as in gpt-oss) adds 1/16 byte per value at most, so FP4
weights cost 0.5625 bytes per parameter here (NVIDIA "Introducing NVFP4", 2025;
OCP Microscaling Formats spec v1.0, 2023).
"""

from __future__ import annotations

from sites.engine_api import PRECISIONS, CatalogError, Precision

#: Bytes per weight for the quantised linear layers.
WEIGHT_BYTES: dict[Precision, float] = {
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": 0.5625,  # 4 bits + one 8-bit scale per 16 values (NVFP4)
}

#: Bytes per KV-cache element. FP8 deployments store the KV cache in FP8 too
#: (TensorRT-LLM `kv_cache_quant_algo=FP8`, the NIM and MLPerf FP8 engines; vLLM
#: `--kv-cache-dtype fp8`); 16-bit deployments keep it in 16 bits.
KV_BYTES: dict[Precision, float] = {
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": 1.0,  # NVFP4 checkpoints ship with an FP8 KV cache
}

#: Embeddings, norms and the LM head stay in 16 bits in quantised checkpoints
#: (e.g. nvidia/Llama-3.3-70B-Instruct-FP8 `ignore: ["lm_head"]`).
UNQUANTISED_BYTES = 2.0


def check_precision(precision: str) -> Precision:
    """Return `precision` typed, or raise CatalogError listing the valid ids."""
    if precision not in PRECISIONS:
        raise CatalogError(
            f"unknown precision {precision!r}; valid ids: {', '.join(PRECISIONS)}"
        )
    return precision
