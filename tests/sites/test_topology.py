"""The strict topology format: every bad key or value names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sites.engine_api import DeploymentSpec
from sites.topology import (
    ConfigError,
    SiteConfig,
    check_keys,
    find_site,
    load_topology,
    parse_sites,
)

GOOD = """
[router]
port = 8080   # other layers' tables are not this module's business

[[sites]]
name = "riyadh-1"
place = "Riyadh"
hardware = "groq-lpu"
model = "llama-3.3-70b"

[[sites]]
name = "ireland"
place = "53.35,-6.26"
hardware = "h200"
model = "llama-3.3-70b"
precision = "fp8"
devices = 8
tp = 8
framework = "trtllm"
max_num_seqs = 128
max_batched_tokens = 8192
replicas = 2
price_per_device_hour = 3.5
power_w = 700
url = "http://10.0.0.5:8001/"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.toml"
    path.write_text(text)
    return path


def test_load_good_topology(tmp_path: Path) -> None:
    sites = load_topology(write(tmp_path, GOOD))
    assert [s.name for s in sites] == ["riyadh-1", "ireland"]
    riyadh, ireland = sites
    assert riyadh == SiteConfig(
        name="riyadh-1", place="Riyadh", hardware="groq-lpu", model="llama-3.3-70b"
    )
    assert (riyadh.precision, riyadh.framework, riyadh.replicas) == ("fp8", "vllm", 1)
    assert ireland.url == "http://10.0.0.5:8001"  # trailing slash dropped
    assert ireland.power_w == 700.0
    assert isinstance(ireland.power_w, float)
    assert ireland.deployment() == DeploymentSpec(
        hardware="h200",
        model="llama-3.3-70b",
        precision="fp8",
        devices=8,
        tp=8,
        framework="trtllm",
        max_num_seqs=128,
        max_batched_tokens=8192,
        replicas=2,
    )


BASE = {"name": "a", "place": "Riyadh", "hardware": "groq-lpu", "model": "llama-3.3-70b"}


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"hardwre": "h200"}, "sites[0].hardwre", "did you mean 'hardware'"),
        ({"hardware": "h300"}, "sites[0].hardware", "allowed: groq-lpu"),
        ({"model": "gpt-5"}, "sites[0].model", "allowed:"),
        ({"precision": "fp32"}, "sites[0].precision", "fp16, bf16, fp8, int8, fp4"),
        ({"framework": "sglang"}, "sites[0].framework", "vllm, trtllm"),
        ({"devices": 0}, "sites[0].devices", "positive integer"),
        ({"devices": -3}, "sites[0].devices", "positive integer"),
        ({"devices": 2.5}, "sites[0].devices", "positive integer"),
        ({"devices": True}, "sites[0].devices", "positive integer"),
        ({"tp": "8"}, "sites[0].tp", "positive integer"),
        ({"replicas": 0}, "sites[0].replicas", "positive integer"),
        ({"max_num_seqs": 0}, "sites[0].max_num_seqs", "positive integer"),
        ({"price_per_device_hour": -1.0}, "sites[0].price_per_device_hour", "positive number"),
        ({"power_w": "lots"}, "sites[0].power_w", "positive number"),
        ({"power_w": float("inf")}, "sites[0].power_w", "finite"),
        ({"name": "has space"}, "sites[0].name", "letters, digits"),
        ({"name": ""}, "sites[0].name", "non-empty string"),
        ({"place": 3}, "sites[0].place", "non-empty string"),
        ({"url": "ftp://x"}, "sites[0].url", "http://"),
    ],
)
def test_bad_values_name_file_and_key(change: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sites([{**BASE, **change}], file="t.toml")
    assert info.value.file == "t.toml"
    assert info.value.key == key
    assert str(info.value).startswith(f"t.toml: {key}: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize("missing", ["name", "place", "hardware", "model"])
def test_missing_required_key(missing: str) -> None:
    raw = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigError, match=rf"sites\[0\]\.{missing}: missing"):
        parse_sites([raw], file="t.toml")


def test_second_site_index_and_duplicates() -> None:
    with pytest.raises(ConfigError, match=r"sites\[1\]\.devices"):
        parse_sites([BASE, {**BASE, "name": "b", "devices": 0}], file="t.toml")
    with pytest.raises(
        ConfigError, match=r"sites\[2\]\.name: duplicate site name 'a' \(also sites\[0\]\)"
    ):
        parse_sites([BASE, {**BASE, "name": "b"}, BASE], file="t.toml")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [([], "at least one site"), ({"name": "x"}, "array of tables"), (["x"], "must be a table")],
)
def test_bad_sites_array(raw: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_sites(raw, file="t.toml")  # type: ignore[arg-type]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_topology(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_topology(write(tmp_path, "[[sites]\nname="))
    with pytest.raises(ConfigError, match=r"sites: missing"):
        load_topology(write(tmp_path, "[router]\nport = 1\n"))


def test_check_keys_for_other_sections() -> None:
    check_keys({"port": 1}, ["port", "policy"], "router", "t.toml")
    with pytest.raises(ConfigError) as info:
        check_keys({"polcy": "x"}, ["port", "policy"], "router", "t.toml")
    assert info.value.key == "router.polcy"
    assert "did you mean 'policy'" in str(info.value)
    with pytest.raises(ConfigError, match=r"^t.toml: seed: unknown key"):
        check_keys({"seed": 1}, ["router"], "", "t.toml")


def test_find_site() -> None:
    sites = parse_sites([BASE, {**BASE, "name": "b"}], file="t.toml")
    assert find_site(sites, "b", file="t.toml").name == "b"
    with pytest.raises(ConfigError, match="no site named 'c'; sites: a, b"):
        find_site(sites, "c", file="t.toml")


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        (
            {"hardware": "h100-sxm", "model": "llama-3.1-405b", "devices": 1},
            "sites[0].devices",
            "would hold it",
        ),
        ({"hardware": "h100-sxm", "devices": 4, "tp": 3}, "sites[0].tp", "not a multiple of tp 3"),
        ({"devices": 10}, "sites[0].devices", "chips would hold it"),
    ],
)
def test_impossible_deployments_fail_at_load(change: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sites([{**BASE, **change}], file="t.toml")
    assert info.value.key == key
    assert fragment in str(info.value)
