"""Catalog figures: ids, sources, and parameter counts against the published totals."""

import pytest

from sites.catalog import HARDWARE, MODELS, check_precision, get_hardware, get_model
from sites.engine_api import PRECISIONS, CatalogError

DESIGN_HARDWARE = {"groq-lpu", "groq-lpu-3", "a100-80gb", "h100-sxm", "h200", "b200"}
DESIGN_MODELS = {
    "llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b",
    "llama-3.1-405b", "mixtral-8x7b", "llama-4-scout", "llama-4-maverick", "gpt-oss-20b",
    "gpt-oss-120b", "gpt-j-6b", "mistral-7b",
}


def test_catalog_ids_are_the_design_ids():
    assert set(HARDWARE) == DESIGN_HARDWARE
    assert set(MODELS) == DESIGN_MODELS


@pytest.mark.parametrize("hw", sorted(HARDWARE))
def test_every_hardware_cites_a_source_and_has_positive_figures(hw):
    h = HARDWARE[hw]
    assert h.source
    for value in (h.memory_bytes, h.memory_bandwidth_bytes_s, h.link_bandwidth_bytes_s,
                  h.power_w, h.price_usd_per_hour):
        assert value > 0
    assert h.idle_power_w < h.power_w
    for p in PRECISIONS:
        assert h.flops_s(p) > 0


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_cites_its_config(model):
    assert "config" in MODELS[model].source


# Published totals (model cards): total and active parameters, in billions.
@pytest.mark.parametrize(
    ("model", "total_b", "active_b"),
    [
        ("llama-2-7b", 6.74, None),
        ("llama-2-70b", 68.98, None),
        ("llama-3.1-8b", 8.03, None),
        ("llama-3.1-70b", 70.55, None),
        ("llama-3.1-405b", 405.0, None),
        ("mixtral-8x7b", 46.7, 12.9),
        ("llama-4-scout", 109.0, 17.0),
        ("llama-4-maverick", 400.0, 17.0),
        ("gpt-oss-20b", 21.0, 3.6),
        ("gpt-oss-120b", 117.0, 5.1),
        ("gpt-j-6b", 6.05, None),
        ("mistral-7b", 7.24, None),
    ],
)
def test_parameter_counts_match_published_totals(model, total_b, active_b):
    m = MODELS[model]
    assert m.params_total / 1e9 == pytest.approx(total_b, rel=0.02)
    if active_b is not None:
        # Published "active" figures round and sometimes count the embedding lookup.
        assert m.params_active / 1e9 == pytest.approx(active_b, rel=0.07)
    else:
        assert m.params_active <= m.params_total


@pytest.mark.parametrize(
    ("getter", "bad", "valid"),
    [(get_hardware, "h101", "h100-sxm"), (get_model, "llama-9", "llama-3.3-70b"),
     (check_precision, "fp12", "fp8")],
)
def test_unknown_ids_raise_listing_the_valid_ones(getter, bad, valid):
    with pytest.raises(CatalogError) as info:
        getter(bad)
    assert bad in str(info.value)
    assert valid in str(info.value)


def test_lpu3_is_marked_as_projection_and_lpu_v1_sram_is_220_mib():
    assert HARDWARE["groq-lpu-3"].projection
    assert not HARDWARE["groq-lpu"].projection
    assert HARDWARE["groq-lpu"].memory_bytes == 220 * 2**20


def test_sliding_window_shrinks_kv_only_beyond_the_window():
    m = MODELS["gpt-oss-120b"]
    assert m.kv_elements_per_token(100) == m.kv_elements_per_token(128)
    assert m.kv_elements_per_token(8192) < m.kv_elements_per_token(128)
