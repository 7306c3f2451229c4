"""Resolve a DeploymentSpec: fill in devices, tensor parallelism and scheduler knobs,
check the model fits, and build the cost model. Pure and cached (specs are frozen)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from sites.catalog import HardwareSpec, ModelSpec, check_precision, get_hardware, get_model
from sites.engine_api import DeploymentError, DeploymentSpec, require_positive
from sites.physics import constants as consts
from sites.physics.gpu import (
    GPUCostModel,
    build_gpu_cost_model,
    kv_bytes_per_token_total,
    weight_footprint_bytes,
)
from sites.physics.lpu import LPUCostModel, build_lpu_cost_model, chips_needed

#: Tensor parallelism stays inside one NVLink domain (an 8-GPU HGX node).
MAX_TP = 8
#: Auto-sizing asks for room for at least this many KV tokens beside the weights.
MIN_AUTO_KV_TOKENS = 32768


@dataclass(frozen=True, slots=True, kw_only=True)
class GPUDeployment:
    spec: DeploymentSpec  # resolved
    hardware: HardwareSpec
    model: ModelSpec
    cost: GPUCostModel
    instances: int  # data-parallel tensor-parallel groups (× replicas)
    kv_blocks: int  # per instance
    max_num_seqs: int
    max_batched_tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LPUDeployment:
    spec: DeploymentSpec
    hardware: HardwareSpec
    model: ModelSpec
    cost: LPUCostModel
    replicas: int
    max_num_seqs: int  # per replica (pipeline slots, capped by SRAM KV)
    kv_capacity_tokens: int  # per replica


Deployment = GPUDeployment | LPUDeployment


def _gpu_kv_tokens(model: ModelSpec, hw: HardwareSpec, spec_precision: str, tp: int) -> float:
    """KV-cache tokens one tensor-parallel group holds (negative: weights do not fit)."""
    precision = check_precision(spec_precision)
    weights = weight_footprint_bytes(model, precision) / tp
    per_device_free = (
        hw.memory_bytes * consts.GPU_MEMORY_UTILIZATION - consts.ACTIVATION_RESERVE_BYTES - weights
    )
    kv_per_token = kv_bytes_per_token_total(model, precision, 0) / min(tp, model.kv_heads)
    return per_device_free / kv_per_token


def _gpu_need_message(model: ModelSpec, hw: HardwareSpec, precision: str, devices: int) -> str:
    p = check_precision(precision)
    need = weight_footprint_bytes(model, p)
    usable = hw.memory_bytes * consts.GPU_MEMORY_UTILIZATION - consts.ACTIVATION_RESERVE_BYTES
    fit = math.ceil(need / usable)
    while fit <= 64 and _gpu_kv_tokens(model, hw, precision, fit) <= 0:
        fit += 1
    return (
        f"{model.id} at {precision} needs {need / 1e9:.1f} GB for weights plus KV cache; "
        f"{devices}x {hw.id} offer {devices * usable / 1e9:.1f} GB usable; "
        f"at least {fit} {hw.id} would hold it"
        + (f" (tensor parallelism is limited to {MAX_TP} GPUs)" if fit > MAX_TP else "")
    )


def _resolve_gpu(spec: DeploymentSpec, hw: HardwareSpec, model: ModelSpec) -> GPUDeployment:
    profile = consts.FRAMEWORKS[spec.framework]
    devices, tp = spec.devices, spec.tp
    if devices is None:
        if tp is not None:
            devices = tp
        else:
            for n in (1, 2, 4, 8):
                kv = _gpu_kv_tokens(model, hw, spec.precision, n)
                if kv >= MIN_AUTO_KV_TOKENS:
                    devices = n
                    break
            else:
                raise DeploymentError(_gpu_need_message(model, hw, spec.precision, MAX_TP))
    if tp is None:  # the largest group that splits both the devices and the heads
        tp = min(devices, MAX_TP)
        while devices % tp or model.heads % tp:
            tp -= 1
    if devices % tp:
        raise DeploymentError(f"--devices {devices} is not a multiple of --tp {tp}")
    if model.heads % tp:
        raise DeploymentError(
            f"--tp {tp} must divide {model.id}'s {model.heads} attention heads"
        )
    if tp > MAX_TP:
        raise DeploymentError(
            f"--tp {tp} exceeds {MAX_TP}: tensor parallelism across NVLink nodes is not modelled"
        )
    kv_tokens = _gpu_kv_tokens(model, hw, spec.precision, tp)
    if kv_tokens < consts.KV_BLOCK_TOKENS * 4:
        raise DeploymentError(_gpu_need_message(model, hw, spec.precision, devices))
    max_seqs = spec.max_num_seqs or profile.default_max_num_seqs
    max_tokens = spec.max_batched_tokens or max(profile.default_max_batched_tokens, max_seqs)
    if max_tokens < max_seqs:
        raise DeploymentError(
            f"max_batched_tokens {max_tokens} must be >= max_num_seqs {max_seqs}"
        )
    resolved = replace(
        spec, devices=devices, tp=tp, max_num_seqs=max_seqs, max_batched_tokens=max_tokens
    )
    precision = check_precision(spec.precision)
    cost = build_gpu_cost_model(
        model=model, hardware=hw, precision=precision, tp=tp, profile=profile
    )
    return GPUDeployment(
        spec=resolved,
        hardware=hw,
        model=model,
        cost=cost,
        instances=(devices // tp) * spec.replicas,
        kv_blocks=int(kv_tokens // consts.KV_BLOCK_TOKENS),
        max_num_seqs=max_seqs,
        max_batched_tokens=max_tokens,
    )


def _resolve_lpu(spec: DeploymentSpec, hw: HardwareSpec, model: ModelSpec) -> LPUDeployment:
    precision = check_precision(spec.precision)
    slots = model.layers * consts.LPU_SEQS_PER_LAYER
    kv_per_token = kv_bytes_per_token_total(model, precision, consts.LPU_DEFAULT_CONTEXT_TOKENS)
    chips = spec.devices
    if chips is None:
        budget = slots * consts.LPU_DEFAULT_CONTEXT_TOKENS * kv_per_token
        chips = chips_needed(model, hw, precision, budget)
    min_chips = chips_needed(model, hw, precision, consts.LPU_DEFAULT_CONTEXT_TOKENS * kv_per_token)
    if chips < min_chips:
        need = weight_footprint_bytes(model, precision)
        raise DeploymentError(
            f"{model.id} at {precision} needs {need / 1e9:.1f} GB of SRAM for weights plus "
            f"KV cache; {chips}x {hw.id} hold {chips * hw.memory_bytes / 1e9:.1f} GB; "
            f"at least {min_chips} chips would hold it"
        )
    cost = build_lpu_cost_model(model=model, hardware=hw, precision=precision, chips=chips)
    kv_tokens = int(cost.kv_capacity_bytes // kv_per_token)
    capacity = max(1, min(slots, kv_tokens // consts.LPU_DEFAULT_CONTEXT_TOKENS))
    max_seqs = min(spec.max_num_seqs or capacity, slots)
    resolved = replace(
        spec, devices=chips, tp=chips, max_num_seqs=max_seqs,
        max_batched_tokens=spec.max_batched_tokens or 8192,
    )
    return LPUDeployment(
        spec=resolved, hardware=hw, model=model, cost=cost, replicas=spec.replicas,
        max_num_seqs=max_seqs, kv_capacity_tokens=kv_tokens,
    )


@lru_cache(maxsize=256)
def resolve(spec: DeploymentSpec) -> Deployment:
    """Validate `spec` and build everything an engine needs (cached per spec)."""
    hw = get_hardware(spec.hardware)
    model = get_model(spec.model)
    check_precision(spec.precision)
    require_positive(
        devices=spec.devices, tp=spec.tp, max_num_seqs=spec.max_num_seqs,
        max_batched_tokens=spec.max_batched_tokens, replicas=spec.replicas,
    )
    if spec.framework not in consts.FRAMEWORKS:
        raise DeploymentError(
            f"unknown framework {spec.framework!r}; valid: {', '.join(consts.FRAMEWORKS)}"
        )
    if hw.kind == "lpu":
        return _resolve_lpu(spec, hw, model)
    return _resolve_gpu(spec, hw, model)
