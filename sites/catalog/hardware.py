"""Accelerator specifications, each figure with its source.

Primary collection: /work/shared/calibration/hw_specs.md (the project's table of
published figures, with URLs); the `source=` field of each entry repeats the ones
used. FLOP rates are dense tensor-core peaks (no sparsity). Link bandwidth is per
device and per direction (NVLink "900 GB/s" is bidirectional, so 450 GB/s each way).

Prices are ASSUMPTIONS, not measurements: typical 2025 on-demand cloud list prices
per device-hour for the GPUs (e.g. Lambda/Vultr-style rates: A100 ~$1.8, H100 ~$3.0,
H200 ~$3.8, B200 ~$5.0), and for Groq an amortised hardware-plus-power figure per
chip (a GroqCard was reported around $20k; over 4 years at 300 W that is ~$0.6/h;
we use $0.75/h with hosting). Change them in scenario files where you know better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sites.engine_api import CatalogError, Precision

GiB = 2**30
MiB = 2**20
TB = 1e12
GB = 1e9
T = 1e12


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareSpec:
    """One accelerator. `tensor_flops` lists the precisions with native tensor-core
    support; other precisions are stored weight-only and computed in 16 bits."""

    id: str
    kind: Literal["gpu", "lpu"]
    name: str
    memory_bytes: float  # HBM per GPU, or on-chip SRAM per LPU chip
    memory_bandwidth_bytes_s: float
    tensor_flops: dict[Precision, float] = field(default_factory=dict)
    link_bandwidth_bytes_s: float  # per device, per direction
    power_w: float  # board power at full load (TDP/TGP)
    idle_power_w: float  # assumption: ~25% of TDP for GPUs (nvidia-smi idle H100 ~70-100 W)
    price_usd_per_hour: float  # assumption, see module docstring
    projection: bool = False
    source: str = ""

    def flops_s(self, precision: Precision) -> float:
        """Peak dense FLOP/s for matrix maths at `precision` (16-bit rate when the
        hardware has no native unit for it: weight-only quantisation)."""
        if precision in self.tensor_flops:
            return self.tensor_flops[precision]
        return self.tensor_flops["bf16"]


HARDWARE: dict[str, HardwareSpec] = {
    h.id: h
    for h in (
        HardwareSpec(
            id="groq-lpu", kind="lpu", name="GroqChip v1 (TSP, 14 nm)",
            memory_bytes=220 * MiB,  # "Each TSP contributes 220 MiBytes" (ISCA 2022)
            memory_bandwidth_bytes_s=80 * TB,  # techpowerup ~Feb 2024 (secondary)
            # 750 TOPS INT8, 188 TFLOPS FP16 (techpowerup); FP8 weights run on the
            # 8-bit MXM path (assumption: no native FP8 on v1, TruePoint numerics).
            tensor_flops={"fp16": 188 * T, "bf16": 188 * T, "int8": 750 * T, "fp8": 750 * T},
            # 16 C2C links x 4 lanes x 30 Gb/s = 14 GB/s each way per link (Linley 2020-11-10)
            link_bandwidth_bytes_s=16 * 14 * GB,
            power_w=300.0,  # "demands 300W per core", techspot Jan 2020
            idle_power_w=100.0,  # assumption (a third of TDP; static SRAM and SerDes)
            price_usd_per_hour=0.75,
            source="hw_specs.md §1.1: groq.com ISCA 2020/2022 pages, techpowerup, "
            "linleygroup 2020-11-10, techspot 2020-01",
        ),
        HardwareSpec(
            id="groq-lpu-3", kind="lpu", name="Groq 3 LPU (NVIDIA LPX, announced GTC 2026)",
            memory_bytes=500e6,  # "500 MB SRAM per chip" (secondary news, March 2026)
            memory_bandwidth_bytes_s=150 * TB,  # voice.lapaas.com; 40 PB/s / 256 chips = 156
            # 315 PFLOPS FP8 per 256-chip LPX rack = 1.23 PFLOPS FP8 per chip; the 16-bit
            # rate is a PROJECTION at half the FP8 rate (NVIDIA's usual ratio).
            tensor_flops={"fp8": 315e15 / 256, "int8": 315e15 / 256,
                          "fp16": 315e15 / 512, "bf16": 315e15 / 512},
            link_bandwidth_bytes_s=640 * TB / 256,  # 640 TB/s rack scale-up / 256 chips
            power_w=500.0,  # PROJECTION: no published figure
            idle_power_w=150.0,  # PROJECTION
            price_usd_per_hour=2.0,  # PROJECTION
            projection=True,
            source="hw_specs.md §1.1 'Groq 3 LPU': voice.lapaas.com, allthingsgeek.me, "
            "baristalabs.io (secondary, unverified against NVIDIA documents)",
        ),
        HardwareSpec(
            id="a100-80gb", kind="gpu", name="NVIDIA A100 SXM 80GB",
            memory_bytes=80 * GiB, memory_bandwidth_bytes_s=2039 * GB,
            # 312 TFLOPS BF16/FP16 dense, 624 TOPS INT8; no FP8/FP4 units.
            tensor_flops={"fp16": 312 * T, "bf16": 312 * T, "int8": 624 * T},
            link_bandwidth_bytes_s=300 * GB,  # NVLink3 600 GB/s bidirectional
            power_w=400.0, idle_power_w=100.0, price_usd_per_hour=1.8,
            source="hw_specs.md §2: glennklockwood.com/garden/processors/A100 (NVIDIA "
            "datasheet), microsoft/vidur data/device_configs/a100.yml",
        ),
        HardwareSpec(
            id="h100-sxm", kind="gpu", name="NVIDIA H100 SXM 80GB",
            memory_bytes=80 * GiB, memory_bandwidth_bytes_s=3.35 * TB,
            tensor_flops={"fp16": 989 * T, "bf16": 989 * T, "fp8": 1979 * T, "int8": 1979 * T},
            link_bandwidth_bytes_s=450 * GB,  # NVLink4 900 GB/s bidirectional
            power_w=700.0, idle_power_w=175.0, price_usd_per_hour=3.0,
            source="hw_specs.md §2: glennklockwood.com/garden/processors/h100, "
            "baseten.co H100 blog",
        ),
        HardwareSpec(
            id="h200", kind="gpu", name="NVIDIA H200 SXM 141GB",
            memory_bytes=141 * GiB, memory_bandwidth_bytes_s=4.8 * TB,
            tensor_flops={"fp16": 989 * T, "bf16": 989 * T, "fp8": 1979 * T, "int8": 1979 * T},
            link_bandwidth_bytes_s=450 * GB,
            power_w=700.0, idle_power_w=175.0, price_usd_per_hour=3.8,
            source="hw_specs.md §2: NVIDIA/TensorRT-LLM docs/source/blogs/H200launch.md; "
            "MLPerf v5.0 H200-SXM-141GBx8_TRT README (TGP 700 W)",
        ),
        HardwareSpec(
            id="b200", kind="gpu", name="NVIDIA B200 (HGX, 1000 W)",
            memory_bytes=179 * GiB,  # 180 GB nominal, 179 GB visible (Vultr 2026-03-11)
            memory_bandwidth_bytes_s=8 * TB,
            tensor_flops={"fp16": 2250 * T, "bf16": 2250 * T, "fp8": 4500 * T,
                          "int8": 4500 * T, "fp4": 9000 * T},
            link_bandwidth_bytes_s=900 * GB,  # NVLink5 1.8 TB/s bidirectional
            power_w=1000.0, idle_power_w=250.0, price_usd_per_hour=5.0,
            source="hw_specs.md §2: MLPerf v5.0 B200-SXM-180GBx8_TRT README, "
            "glennklockwood.com/garden/processors/B200, docs.vultr.com hardware overview",
        ),
    )
}


def get_hardware(hardware_id: str) -> HardwareSpec:
    """The hardware for `hardware_id`, or CatalogError listing the valid ids."""
    try:
        return HARDWARE[hardware_id]
    except KeyError:
        raise CatalogError(
            f"unknown hardware {hardware_id!r}; valid ids: {', '.join(HARDWARE)}"
        ) from None
