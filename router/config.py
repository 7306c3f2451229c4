"""The router's TOML file: `[[sites]]` (sites.topology), `[router]`, `[[clients]]`,
`[traffic]`. Strict like the topology: an unknown key or a bad value raises
`sites.topology.ConfigError` naming the file, the dotted key and what is allowed.

```toml
[router]
policy = "fastest"             # see router.policies.policy_names()
default_place = "Paris"        # for requests without X-Client-Location
health_interval_s = 1.0        # active /health polls
health_timeout_s = 2.0
eject_after_errors = 3         # passive ejection after this many consecutive errors
eject_cooldown_s = 10.0
max_in_flight_per_site = 256   # beyond: the site is "overloaded" for the policy
max_in_flight_total = 1024     # beyond: 429 with Retry-After
first_byte_timeout_s = 30.0    # a site silent this long before its first byte has failed
max_attempts = 3               # sites tried per request (failover before the first byte)
simulate_network = true        # false: no simulated delays (overhead benchmark)
seed = 1
latency_ceiling_ms = 10000.0   # for `cheapest`
stats_window_s = 60.0
weights = { riyadh-1 = 2.0 }   # for `weighted` (default 1 per site)
[[router.residency]]           # EU clients only to EU sites
clients = ["EU"]               # "EU", ISO country codes or region names
allowed = ["EU"]               # "EU" or ISO country codes
```

Pure apart from reading the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from router.geo import BadCoordinatesError, UnknownPlaceError, resolve_place
from router.policies import ResidencyRule, policy_names
from sites.topology import ConfigError, SiteConfig, boolean, check_keys, parse_sites, str_list

TOP_KEYS = ("sites", "router", "clients", "traffic")
ROUTER_KEYS = (
    "policy",
    "default_place",
    "health_interval_s",
    "health_timeout_s",
    "eject_after_errors",
    "eject_cooldown_s",
    "max_in_flight_per_site",
    "max_in_flight_total",
    "first_byte_timeout_s",
    "max_attempts",
    "simulate_network",
    "seed",
    "latency_ceiling_ms",
    "stats_window_s",
    "weights",
    "residency",
)
CLIENT_KEYS = ("place", "weight")
TRAFFIC_KEYS = (
    "rate_rps",
    "lengths",
    "prompt_tokens",
    "output_tokens",
    "max_output_tokens",
    "stream",
    "seed",
)
LENGTHS = ("azure-conversation", "fixed")
DEFAULT_TOPOLOGY = "default_topology.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSettings:
    policy: str = "fastest"
    default_place: str = "Paris"
    health_interval_s: float = 1.0
    health_timeout_s: float = 2.0
    eject_after_errors: int = 3
    eject_cooldown_s: float = 10.0
    max_in_flight_per_site: int = 256
    max_in_flight_total: int = 1024
    first_byte_timeout_s: float = 30.0
    max_attempts: int = 3
    simulate_network: bool = True
    seed: int = 1
    latency_ceiling_ms: float = 10_000.0
    stats_window_s: float = 60.0
    weights: dict[str, float] = field(default_factory=dict)
    residency: tuple[ResidencyRule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientGroup:
    place: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficSettings:
    rate_rps: float = 2.0
    lengths: str = "azure-conversation"
    prompt_tokens: int = 1000  # for lengths = "fixed"
    output_tokens: int = 100  # for lengths = "fixed"
    max_output_tokens: int = 600
    stream: bool = True
    seed: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterConfig:
    file: str
    sites: tuple[SiteConfig, ...]
    router: RouterSettings = RouterSettings()
    clients: tuple[ClientGroup, ...] = ()
    traffic: TrafficSettings = TrafficSettings()


def _num(value: Any, key: str, file: str, *, integer: bool = False, zero: bool = False) -> Any:
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "an integer" if integer else "a number"
        raise ConfigError(file, key, f"must be {kind}, got {value!r}")
    if value < 0 or (value == 0 and not zero) or value == float("inf"):
        raise ConfigError(file, key, f"must be {'>= 0' if zero else '> 0'} and finite, got {value}")
    return value if integer else float(value)


def _place(value: Any, key: str, file: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(file, key, f"must be a place name or 'lat,lon', got {value!r}")
    try:
        resolve_place(value)
    except (UnknownPlaceError, BadCoordinatesError) as exc:
        raise ConfigError(file, key, str(exc)) from None
    return value


def parse_router(raw: Any, sites: tuple[SiteConfig, ...], file: str) -> RouterSettings:
    if not isinstance(raw, dict):
        raise ConfigError(file, "router", "must be a table ([router])")
    check_keys(raw, ROUTER_KEYS, "router", file)
    kw: dict[str, Any] = {}
    for key in (
        "health_interval_s",
        "health_timeout_s",
        "eject_cooldown_s",
        "first_byte_timeout_s",
        "latency_ceiling_ms",
        "stats_window_s",
    ):
        if key in raw:
            kw[key] = _num(raw[key], f"router.{key}", file)
    for key in (
        "eject_after_errors",
        "max_in_flight_per_site",
        "max_in_flight_total",
        "max_attempts",
    ):
        if key in raw:
            kw[key] = _num(raw[key], f"router.{key}", file, integer=True)
    if "seed" in raw:
        kw["seed"] = _num(raw["seed"], "router.seed", file, integer=True, zero=True)
    if "simulate_network" in raw:
        kw["simulate_network"] = boolean(raw["simulate_network"], "router.simulate_network", file)
    if "policy" in raw:
        names = policy_names()
        if raw["policy"] not in names:
            raise ConfigError(
                file,
                "router.policy",
                f"unknown policy {raw['policy']!r}; allowed: {', '.join(names)}",
            )
        kw["policy"] = raw["policy"]
    if "default_place" in raw:
        kw["default_place"] = _place(raw["default_place"], "router.default_place", file)
    if "weights" in raw:
        weights = raw["weights"]
        if not isinstance(weights, dict):
            raise ConfigError(file, "router.weights", "must be a table of site = weight")
        check_keys(weights, [s.name for s in sites], "router.weights", file)
        kw["weights"] = {
            k: _num(v, f"router.weights.{k}", file, zero=True) for k, v in weights.items()
        }
    if "residency" in raw:
        rules = raw["residency"]
        if not isinstance(rules, list):
            raise ConfigError(file, "router.residency", "must be an array of tables")
        parsed = []
        for i, rule in enumerate(rules):
            where = f"router.residency[{i}]"
            if not isinstance(rule, dict):
                raise ConfigError(file, where, "must be a table with clients and allowed")
            check_keys(rule, ("clients", "allowed"), where, file)
            for key in ("clients", "allowed"):
                if key not in rule:
                    raise ConfigError(file, f"{where}.{key}", "missing (required)")
            parsed.append(
                ResidencyRule(
                    clients=str_list(rule["clients"], f"{where}.clients", file),
                    allowed=str_list(rule["allowed"], f"{where}.allowed", file),
                )
            )
        kw["residency"] = tuple(parsed)
    return RouterSettings(**kw)


def parse_clients(raw: Any, file: str) -> tuple[ClientGroup, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(file, "clients", "must be a non-empty array of tables ([[clients]])")
    groups = []
    for i, item in enumerate(raw):
        where = f"clients[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(file, where, "must be a table with place and weight")
        check_keys(item, CLIENT_KEYS, where, file)
        if "place" not in item:
            raise ConfigError(file, f"{where}.place", "missing (required)")
        groups.append(
            ClientGroup(
                place=_place(item["place"], f"{where}.place", file),
                weight=_num(item.get("weight", 1.0), f"{where}.weight", file),
            )
        )
    return tuple(groups)


def parse_traffic(raw: Any, file: str) -> TrafficSettings:
    if not isinstance(raw, dict):
        raise ConfigError(file, "traffic", "must be a table ([traffic])")
    check_keys(raw, TRAFFIC_KEYS, "traffic", file)
    kw: dict[str, Any] = {}
    if "rate_rps" in raw:
        kw["rate_rps"] = _num(raw["rate_rps"], "traffic.rate_rps", file)
    for key in ("prompt_tokens", "output_tokens", "max_output_tokens"):
        if key in raw:
            kw[key] = _num(raw[key], f"traffic.{key}", file, integer=True)
    if "seed" in raw:
        kw["seed"] = _num(raw["seed"], "traffic.seed", file, integer=True, zero=True)
    if "stream" in raw:
        kw["stream"] = boolean(raw["stream"], "traffic.stream", file)
    if "lengths" in raw:
        if raw["lengths"] not in LENGTHS:
            raise ConfigError(
                file,
                "traffic.lengths",
                f"unknown value {raw['lengths']!r}; allowed: {', '.join(LENGTHS)}",
            )
        kw["lengths"] = raw["lengths"]
    return TrafficSettings(**kw)


def parse_config(data: dict[str, Any], *, file: str) -> RouterConfig:
    check_keys(data, TOP_KEYS, "", file)
    if "sites" not in data:
        raise ConfigError(file, "sites", "missing: the file needs at least one [[sites]] table")
    sites = tuple(parse_sites(data["sites"], file=file))
    for i, site in enumerate(sites):
        _place(site.place, f"sites[{i}].place", file)
    return RouterConfig(
        file=file,
        sites=sites,
        router=parse_router(data["router"], sites, file) if "router" in data else RouterSettings(),
        clients=parse_clients(data["clients"], file) if "clients" in data else (),
        traffic=parse_traffic(data["traffic"], file) if "traffic" in data else TrafficSettings(),
    )


def load_config(path: str | Path | None = None) -> RouterConfig:
    """Read and validate a router TOML file; None reads the packaged default topology."""
    if path is None:
        text = resources.files("router.data").joinpath(DEFAULT_TOPOLOGY).read_text("utf-8")
        return parse_config(tomllib.loads(text), file=f"<package>/router/data/{DEFAULT_TOPOLOGY}")
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"invalid TOML: {exc}") from exc
    return parse_config(data, file=file)
