"""Properties of the step-time physics (table-driven, no simulation)."""

import pytest

from sites.catalog import HARDWARE, MODELS
from sites.engine_api import DeploymentSpec
from sites.engines.deploy import GPUDeployment, LPUDeployment, resolve
from sites.physics import build_gpu_cost_model, build_lpu_cost_model
from sites.physics import constants as consts
from sites.physics.gpu import weight_footprint_bytes

GPUS = ["a100-80gb", "h100-sxm", "h200", "b200"]
DENSE = ["llama-2-7b", "llama-3.1-8b", "llama-3.1-70b", "gpt-j-6b", "mistral-7b"]


def gpu(hw, model, precision="fp8", tp=None, framework="vllm"):
    dep = resolve(DeploymentSpec(hardware=hw, model=model, precision=precision, tp=tp,
                                 devices=tp, framework=framework))
    assert isinstance(dep, GPUDeployment)
    return dep.cost


@pytest.mark.parametrize("hw", GPUS)
@pytest.mark.parametrize("model", DENSE)
@pytest.mark.parametrize("context", [1, 2048, 32768])
def test_decode_never_beats_the_bandwidth_floor(hw, model, context):
    cm = gpu(hw, model, precision="bf16")
    floor = cm.dense_weight_bytes / HARDWARE[hw].memory_bandwidth_bytes_s
    assert cm.iteration_s(decode_seqs=1, decode_context_tokens=context) >= floor
    assert cm.decode_floor_s == pytest.approx(floor)


def test_more_tensor_parallel_devices_lower_tpot_but_never_below_the_floor():
    times = []
    for tp in (2, 4, 8):
        cm = gpu("h100-sxm", "llama-3.1-70b", precision="fp8", tp=tp)
        t = cm.iteration_s(decode_seqs=1, decode_context_tokens=1000)
        whole_model_floor = weight_footprint_bytes(MODELS["llama-3.1-70b"], "fp8") / (
            tp * HARDWARE["h100-sxm"].memory_bandwidth_bytes_s)
        assert t > whole_model_floor * 0.95  # embeddings are not read per token
        times.append(t)
    assert times[0] > times[1] > times[2]


def test_moe_at_batch_one_costs_about_its_active_parameters():
    moe = gpu("h100-sxm", "mixtral-8x7b", precision="bf16", tp=2)
    m = MODELS["mixtral-8x7b"]
    t = moe.iteration_s(decode_seqs=1, decode_context_tokens=100)
    active_read = m.params_active * 2 / 2 / moe.mem_bw  # bf16 bytes over 2 GPUs
    total_read = m.params_total * 2 / 2 / moe.mem_bw
    assert t - moe.fixed_s == pytest.approx(active_read, rel=0.1)
    assert t < 0.6 * total_read
    # ...and touches more experts as the batch grows (1-(1-k/E)^n).
    t64 = moe.iteration_s(decode_seqs=64, decode_context_tokens=6400)
    assert t64 > 1.5 * t


def test_throughput_keeps_rising_at_large_batch():
    cm = gpu("h100-sxm", "llama-3.1-70b", precision="fp8", tp=2)
    rates = [b / cm.iteration_s(decode_seqs=b, decode_context_tokens=b * 300)
             for b in (64, 256, 1024, 2048)]
    assert rates == sorted(rates)
    assert rates[-1] > rates[-2] * 1.02  # no hard plateau


def test_prefill_is_compute_bound_and_decode_memory_bound():
    cm = gpu("h100-sxm", "llama-3.1-70b", precision="fp8", tp=2)
    t1 = cm.iteration_s(decode_seqs=0, decode_context_tokens=0, prefill_tokens=4000,
                        prefill_attention_pairs=4000 * 2000)
    t2 = cm.iteration_s(decode_seqs=0, decode_context_tokens=0, prefill_tokens=8000,
                        prefill_attention_pairs=8000 * 4000)
    assert 1.8 < t2 / t1 < 2.4  # ~linear in tokens
    d1 = cm.iteration_s(decode_seqs=1, decode_context_tokens=100)
    d8 = cm.iteration_s(decode_seqs=8, decode_context_tokens=800)
    assert d8 < 1.2 * d1  # more sequences are nearly free while memory-bound


def test_short_prefill_has_a_floor_above_a_decode_step():
    cm = gpu("h100-sxm", "llama-3.1-8b", precision="bf16")
    decode = cm.iteration_s(decode_seqs=1, decode_context_tokens=16)
    prefill = cm.iteration_s(decode_seqs=0, decode_context_tokens=0, prefill_tokens=16,
                             prefill_attention_pairs=16 * 8)
    assert prefill >= decode + consts.FRAMEWORKS["vllm"].prefill_overhead_s * 0.99


def test_precision_changes_bytes_and_flop_rate():
    b16 = gpu("b200", "llama-3.1-70b", precision="bf16", tp=2)
    f8 = gpu("b200", "llama-3.1-70b", precision="fp8", tp=2)
    f4 = gpu("b200", "llama-3.1-70b", precision="fp4", tp=2)
    assert b16.dense_weight_bytes > f8.dense_weight_bytes > f4.dense_weight_bytes
    assert f4.flops_s > f8.flops_s > b16.flops_s
    # FP4 reaches a smaller share of its peak than FP8.
    assert consts.COMPUTE_EFFICIENCY["fp4"] < consts.COMPUTE_EFFICIENCY["fp8"]


def test_trtllm_iteration_overhead_is_lower_than_vllm():
    v = gpu("h100-sxm", "llama-3.1-8b", framework="vllm")
    t = gpu("h100-sxm", "llama-3.1-8b", framework="trtllm")
    assert t.fixed_s < v.fixed_s


# --- LPU -----------------------------------------------------------------------------

def lpu(model, hardware="groq-lpu"):
    dep = resolve(DeploymentSpec(hardware=hardware, model=model, precision="fp8"))
    assert isinstance(dep, LPUDeployment)
    return dep


@pytest.mark.parametrize("model", ["llama-2-7b", "llama-2-70b", "llama-3.3-70b"])
def test_lpu_token_time_comes_from_pipeline_depth_not_sram_bandwidth(model):
    dep = lpu(model)
    cm = dep.cost
    per_layer = cm.token_s(1000) / MODELS[model].layers
    assert 40e-6 < per_layer < 70e-6  # the calibration README's 42-67 us per layer
    sram_floor = weight_footprint_bytes(MODELS[model], "fp8") / (
        cm.chips * HARDWARE["groq-lpu"].memory_bandwidth_bytes_s)
    assert cm.token_s(1000) > 10 * sram_floor


def test_lpu_deployment_holds_weights_and_kv_in_sram():
    dep = lpu("llama-2-70b")
    held = dep.cost.chips * HARDWARE["groq-lpu"].memory_bytes
    assert held > weight_footprint_bytes(MODELS["llama-2-70b"], "fp8")
    assert dep.kv_capacity_tokens >= dep.max_num_seqs * consts.LPU_DEFAULT_CONTEXT_TOKENS
    # The published ~576-chip system for Llama-2-70B is the right order of magnitude.
    assert 400 < dep.cost.chips < 800


def test_lpu_moe_layers_cost_more_per_layer():
    dense = lpu("llama-2-7b").cost.token_s(500) / 32
    moe = lpu("mixtral-8x7b").cost.token_s(500) / 32
    assert moe > dense + 0.5 * consts.LPU_MOE_LAYER_EXTRA_S


def test_lpu_prefill_is_at_least_one_pipeline_traversal_and_grows_with_prompt():
    cm = lpu("llama-3.3-70b").cost
    assert cm.prefill_s(1) >= cm.pipeline_s
    assert cm.prefill_s(8000) > cm.prefill_s(1000) > cm.prefill_s(1)


def test_lpu3_projection_is_faster_and_needs_fewer_chips():
    v1 = lpu("llama-4-maverick")
    v3 = lpu("llama-4-maverick", hardware="groq-lpu-3")
    assert v3.cost.token_s(2000) < v1.cost.token_s(2000)
    assert v3.cost.chips < v1.cost.chips


def test_build_cost_models_directly():
    m = MODELS["llama-3.1-8b"]
    cm = build_gpu_cost_model(model=m, hardware=HARDWARE["h100-sxm"], precision="bf16",
                              tp=1, profile=consts.FRAMEWORKS["vllm"])
    assert cm.iteration_s(decode_seqs=0, decode_context_tokens=0) == 0.0
    lcm = build_lpu_cost_model(model=m, hardware=HARDWARE["groq-lpu"], precision="fp8",
                               chips=64)
    assert lcm.seq_capacity(1000) > 0


def test_sliding_window_layers_read_less_kv_at_long_context():
    oss = gpu("h100-sxm", "gpt-oss-120b", precision="fp8", tp=2)
    llama = gpu("h100-sxm", "llama-3.1-70b", precision="fp8", tp=2)

    def kv_growth(cm):
        short = cm.iteration_s(decode_seqs=64, decode_context_tokens=64 * 100)
        long = cm.iteration_s(decode_seqs=64, decode_context_tokens=64 * 32000)
        return long - short
    per_elem_oss = oss.kv_bytes_per_token
    per_elem_llama = llama.kv_bytes_per_token
    # Normalised by KV bytes per token, gpt-oss (half its layers windowed) grows ~half as fast.
    ratio = (kv_growth(oss) / per_elem_oss) / (kv_growth(llama) / per_elem_llama)
    assert 0.3 < ratio < 0.75
