"""Router TOML: the shipped default loads; bad keys and values name file, key, allowed."""

from __future__ import annotations

import pytest

from router.config import load_config
from sites.topology import ConfigError

SITE = """
[[sites]]
name = "ireland"
place = "Dublin"
hardware = "h100-sxm"
model = "llama-3.3-70b"
"""


def test_default_topology_is_the_documented_one():
    cfg = load_config()
    assert [s.name for s in cfg.sites] == ["riyadh-1", "riyadh-2", "virginia", "ireland"]
    assert {s.hardware for s in cfg.sites[:2]} == {"groq-lpu"}
    assert cfg.sites[2].place == "Ashburn"
    assert cfg.sites[3].hardware in ("h100-sxm", "h200")
    assert len({s.model for s in cfg.sites}) == 1
    assert {"Paris", "London", "Tokyo", "Singapore"} <= {c.place for c in cfg.clients}
    assert cfg.router.policy == "fastest"


def write(tmp_path, text: str):
    path = tmp_path / "topo.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("extra", "key", "allowed"),
    [
        ("[routr]\npolicy='nearest'\n", "routr", "router"),
        ("[router]\npolicy='closest'\n", "router.policy", "lowest-rtt"),
        ("[router]\nhealth_intervl_s=1\n", "router.health_intervl_s", "health_interval_s"),
        ("[router]\nhealth_interval_s=-1\n", "router.health_interval_s", "> 0"),
        ("[router]\nmax_in_flight_total=1.5\n", "router.max_in_flight_total", "integer"),
        ("[router]\ndefault_place='Xyzzyqq'\n", "router.default_place", "Xyzzyqq"),
        ("[router]\nweights={nowhere=1}\n", "router.weights.nowhere", "ireland"),
        ("[[router.residency]]\nclients=['EU']\n", "router.residency[0].allowed", "required"),
        ("[[clients]]\nplace='Paris'\nweigth=2\n", "clients[0].weigth", "weight"),
        ("[traffic]\nlengths='zipf'\n", "traffic.lengths", "azure-conversation"),
        ("[traffic]\nstream='yes'\n", "traffic.stream", "true or false"),
    ],
)
def test_bad_keys_and_values_name_file_key_and_allowed(tmp_path, extra, key, allowed):
    path = write(tmp_path, SITE + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.key == key
    assert allowed in str(info.value)


def test_site_errors_come_from_the_topology_parser(tmp_path):
    path = write(tmp_path, SITE.replace("h100-sxm", "h100"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "sites[0].hardware"


def test_residency_and_weights_parse(tmp_path):
    path = write(
        tmp_path,
        SITE + "[router]\nweights={ireland=2.5}\n[[router.residency]]\nclients=['EU','JP']\n"
        "allowed=['EU']\n",
    )
    cfg = load_config(path)
    assert cfg.router.weights == {"ireland": 2.5}
    assert cfg.router.residency[0].clients == frozenset({"EU", "JP"})


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[[sites]\n"))


def test_the_readme_configuration_reference_parses(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```toml\n[router]")
    block = readme[start + len("```toml\n") : readme.index("```", start + 7)]
    riyadh = SITE.replace('"ireland"', '"riyadh-1"').replace('"Dublin"', '"Riyadh"')
    cfg = load_config(write(tmp_path, SITE + riyadh + block))
    assert cfg.router.weights == {"riyadh-1": 2.0}
    assert cfg.router.residency[0].allowed == frozenset({"EU"})
    assert cfg.clients[0].place == "Paris"
