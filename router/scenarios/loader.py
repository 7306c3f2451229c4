"""Reading scenario files: `load_scenario(name_or_path)` and the built-in catalogue.

Top level of a scenario file (every section strict: an unknown key or a bad value is
a ScenarioError naming the file, the dotted key and what is allowed):

```toml
name = "eu-asia-baseline"   # default: the file's stem
description = "..."
duration_s = 600.0          # virtual seconds of arrivals
seed = 1
sample_interval_s = 1.0     # per-site samples in the results
scale = 1.0                 # a 1/scale slice of a bigger system: reports multiply rates by it

[[sites]]                   # sites.topology format
[[clients]]                 # place (gazetteer name or "lat,lon"), weight, region label
place = "Paris"
weight = 3.0
region = "europe"           # default: the place's region, lower-cased
[arrivals]                  # router.scenarios.parse_traffic
[lengths]
[routing]
policy = "fastest"          # router.policies.policy_names(); `bench run --policy` overrides
stats_interval_s = 1.0      # age of the site state the policy sees
max_attempts = 3            # sites tried per request (failover)
max_in_flight_per_site = 256  # beyond: the site is "overloaded" (the router's default)
latency_ceiling_ms = 10000.0   # for `cheapest`
weights = { riyadh-1 = 2.0 }   # for `weighted`
[[routing.residency]]
clients = ["EU"]            # "EU", ISO country codes or region names
allowed = ["EU"]            # "EU" or ISO country codes
[network]
connection_reuse = 0.0      # probability a request rides a warm connection (no handshake)
tls = true
[slo]
ttft_ms = 1500.0
tpot_ms = 100.0
e2e_ms = 30000.0
[[events]]
at_s = 120.0
site = "riyadh-1"
action = "fail"             # fail | restore | drain | undrain
```
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from router.geo import BadCoordinatesError, UnknownPlaceError, resolve_place
from router.policies import ResidencyRule, policy_names
from router.scenarios import fields as f
from router.scenarios.model import (
    EVENT_ACTIONS,
    SLO,
    NetworkSettings,
    RoutingSettings,
    Scenario,
    ScenarioError,
    SiteEvent,
)
from router.scenarios.parse_traffic import parse_arrivals, parse_lengths
from router.traffic import ClientGroup, Population, TraceArrivals, TrafficConfig
from sites.topology import ConfigError, SiteConfig, parse_sites, read_toml

TOP_KEYS = (
    "name",
    "description",
    "duration_s",
    "seed",
    "sample_interval_s",
    "scale",
    "sites",
    "clients",
    "arrivals",
    "lengths",
    "routing",
    "network",
    "slo",
    "events",
)
CLIENT_KEYS = ("place", "weight", "region")
ROUTING_KEYS = (
    "policy",
    "stats_interval_s",
    "max_attempts",
    "max_in_flight_per_site",
    "latency_ceiling_ms",
    "weights",
    "residency",
)
NETWORK_KEYS = ("connection_reuse", "tls")
SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")
EVENT_KEYS = ("at_s", "site", "action")


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in the package."""
    folder = resources.files("router.scenarios").joinpath("builtin")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a scenario TOML file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text:
        try:
            data = read_toml(text)
        except ConfigError as exc:
            raise ScenarioError(exc.file, exc.key, exc.reason) from None
        return parse_scenario(data, file=text, default_name=Path(text).stem)
    names = builtin_scenarios()
    if text not in names:
        raise ScenarioError(
            text, "", f"no such scenario file or built-in scenario; built-ins: {', '.join(names)}"
        )
    res = resources.files("router.scenarios").joinpath("builtin", f"{text}.toml")
    file = f"<builtin>/{text}.toml"
    try:
        data = tomllib.loads(res.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, "", f"invalid TOML: {exc}") from exc
    return parse_scenario(data, file=file, default_name=text)


def parse_scenario(data: dict[str, Any], *, file: str, default_name: str = "scenario") -> Scenario:
    """Validate a parsed TOML document into a Scenario."""
    f.keys(data, TOP_KEYS, "", file)
    sites = _sites(f.required(data, "sites", "", file), file)
    duration_s = f.number(f.required(data, "duration_s", "", file), "duration_s", file)
    arrivals = parse_arrivals(f.required(data, "arrivals", "", file), file, duration_s)
    lengths = parse_lengths(data["lengths"], file) if "lengths" in data else None
    if lengths is None and not isinstance(arrivals, TraceArrivals):
        from router.traffic import azure_conversation_lengths

        lengths = azure_conversation_lengths()
    names = [s.name for s in sites]
    return Scenario(
        name=f.string(data.get("name", default_name), "name", file),
        file=file,
        description=str(data.get("description", "")),
        sites=sites,
        population=_population(f.required(data, "clients", "", file), file),
        traffic=TrafficConfig(arrivals=arrivals, lengths=lengths),
        routing=_routing(data.get("routing", {}), names, file),
        network=_network(data.get("network", {}), file),
        duration_s=duration_s,
        seed=f.integer(data.get("seed", 1), "seed", file, minimum=0),
        slo=_slo(data.get("slo", {}), file),
        events=_events(data.get("events", []), names, duration_s, file),
        sample_interval_s=f.number(data.get("sample_interval_s", 1.0), "sample_interval_s", file),
        scale=f.number(data.get("scale", 1.0), "scale", file, minimum=1.0, allow_min=True),
    )


def _sites(raw: Any, file: str) -> tuple[SiteConfig, ...]:
    try:
        sites = tuple(parse_sites(raw, file=file))
    except ScenarioError:
        raise
    except ConfigError as exc:
        raise ScenarioError(exc.file, exc.key, exc.reason) from None
    for i, site in enumerate(sites):
        _place(site.place, f"sites[{i}].place", file)
    return sites


def _place(value: Any, key: str, file: str) -> Any:
    text = f.string(value, key, file)
    try:
        return resolve_place(text)
    except (UnknownPlaceError, BadCoordinatesError) as exc:
        raise ScenarioError(file, key, str(exc)) from None


def _population(raw: Any, file: str) -> Population:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(file, "clients", "must be a non-empty array of tables ([[clients]])")
    groups = []
    for i, item in enumerate(raw):
        where = f"clients[{i}]"
        item = f.table(item, where, file)
        f.keys(item, CLIENT_KEYS, where, file)
        place = _place(f.required(item, "place", where, file), f"{where}.place", file)
        weight = f.number(item.get("weight", 1.0), f"{where}.weight", file)
        region = (
            f.string(item["region"], f"{where}.region", file)
            if "region" in item
            else place.region.strip().lower().replace(" ", "-")
        )
        groups.append(ClientGroup(place=place, weight=weight, region=region))
    return Population(groups=tuple(groups))


def _routing(raw: Any, site_names: list[str], file: str) -> RoutingSettings:
    where = "routing"
    raw = f.table(raw, where, file)
    f.keys(raw, ROUTING_KEYS, where, file)
    kw: dict[str, Any] = {}
    if "policy" in raw:
        kw["policy"] = f.choice(raw["policy"], policy_names(), f"{where}.policy", file)
    if "stats_interval_s" in raw:
        kw["stats_interval_s"] = f.number(
            raw["stats_interval_s"], f"{where}.stats_interval_s", file
        )
    if "max_attempts" in raw:
        kw["max_attempts"] = f.integer(raw["max_attempts"], f"{where}.max_attempts", file)
    if "max_in_flight_per_site" in raw:
        kw["max_in_flight_per_site"] = f.integer(
            raw["max_in_flight_per_site"], f"{where}.max_in_flight_per_site", file
        )
    if "latency_ceiling_ms" in raw:
        kw["latency_ceiling_ms"] = f.number(
            raw["latency_ceiling_ms"], f"{where}.latency_ceiling_ms", file
        )
    if "weights" in raw:
        weights = f.table(raw["weights"], f"{where}.weights", file)
        f.keys(weights, site_names, f"{where}.weights", file)
        kw["weights"] = {
            k: f.number(v, f"{where}.weights.{k}", file, allow_min=True) for k, v in weights.items()
        }
    if "residency" in raw:
        rules = raw["residency"]
        if not isinstance(rules, list):
            raise ScenarioError(file, f"{where}.residency", "must be an array of tables")
        parsed = []
        for i, rule in enumerate(rules):
            rw = f"{where}.residency[{i}]"
            rule = f.table(rule, rw, file)
            f.keys(rule, ("clients", "allowed"), rw, file)
            parsed.append(
                ResidencyRule(
                    clients=f.str_list(
                        f.required(rule, "clients", rw, file), f"{rw}.clients", file
                    ),
                    allowed=f.str_list(
                        f.required(rule, "allowed", rw, file), f"{rw}.allowed", file
                    ),
                )
            )
        kw["residency"] = tuple(parsed)
    return RoutingSettings(**kw)


def _network(raw: Any, file: str) -> NetworkSettings:
    raw = f.table(raw, "network", file)
    f.keys(raw, NETWORK_KEYS, "network", file)
    return NetworkSettings(
        connection_reuse=f.fraction(
            raw.get("connection_reuse", 0.0), "network.connection_reuse", file
        ),
        tls=f.boolean(raw.get("tls", True), "network.tls", file),
    )


def _slo(raw: Any, file: str) -> SLO:
    raw = f.table(raw, "slo", file)
    f.keys(raw, SLO_KEYS, "slo", file)
    return SLO(**{k: f.number(v, f"slo.{k}", file) for k, v in raw.items()})


def _events(raw: Any, site_names: list[str], duration_s: float, file: str) -> tuple[SiteEvent, ...]:
    if not isinstance(raw, list):
        raise ScenarioError(file, "events", "must be an array of tables ([[events]])")
    events = []
    for i, item in enumerate(raw):
        where = f"events[{i}]"
        item = f.table(item, where, file)
        f.keys(item, EVENT_KEYS, where, file)
        at_s = f.number(
            f.required(item, "at_s", where, file), f"{where}.at_s", file, allow_min=True
        )
        if at_s > duration_s:
            raise ScenarioError(
                file, f"{where}.at_s", f"must be <= duration_s ({duration_s:g}), got {at_s:g}"
            )
        events.append(
            SiteEvent(
                at_s=at_s,
                site=f.choice(
                    f.required(item, "site", where, file), site_names, f"{where}.site", file
                ),
                action=f.choice(  # type: ignore[arg-type]
                    f.required(item, "action", where, file), EVENT_ACTIONS, f"{where}.action", file
                ),
            )
        )
    return tuple(sorted(events, key=lambda e: e.at_s))
