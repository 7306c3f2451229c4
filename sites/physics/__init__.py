"""Step-time physics for GPU and LPU deployments (pure functions of the catalogs)."""

from sites.physics.gpu import GPUCostModel, build_gpu_cost_model, weight_footprint_bytes
from sites.physics.lpu import LPUCostModel, build_lpu_cost_model, chips_needed

__all__ = [
    "GPUCostModel",
    "LPUCostModel",
    "build_gpu_cost_model",
    "build_lpu_cost_model",
    "chips_needed",
    "weight_footprint_bytes",
]
