"""The topology file: which sites exist, where, and what each one runs.

A topology is the `[[sites]]` array of a TOML file. The same file may hold other
top-level tables (`router`, `clients`, `traffic`, ...) that other layers validate;
this module validates only `[[sites]]`, strictly: an unknown key or a bad value is a
`ConfigError` whose message names the file, the dotted key (`sites[2].hardwre`, indices
0-based) and what is allowed. `check_keys` is the reusable strict-key checker for
those other sections, so every part of a scenario file reports errors the same way.

```toml
[[sites]]
name = "riyadh-1"            # unique; letters, digits, '-', '_', '.'
place = "Riyadh"             # gazetteer name or "lat,lon"
hardware = "groq-lpu"        # catalog id
model = "llama-3.3-70b"      # catalog id
precision = "fp8"            # fp16 | bf16 | fp8 | int8 | fp4 (default fp8)
devices = 576                # optional: default = smallest deployment that holds the model
tp = 8                       # optional tensor parallelism (GPUs)
framework = "vllm"           # vllm | trtllm (default vllm)
max_num_seqs = 256           # optional serving knobs
max_batched_tokens = 8192
replicas = 1                 # identical copies behind the site (default 1)
price_per_device_hour = 2.5  # optional USD override of the catalog price
power_w = 700.0              # optional per-device power override
url = "http://10.0.0.5:8001" # optional: a site that runs elsewhere (georoute router)
```

Pure: no I/O beyond reading the file in `load_topology`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from sites.catalog import HARDWARE, MODELS
from sites.engine_api import (
    PRECISIONS,
    CatalogError,
    DeploymentError,
    DeploymentSpec,
    Framework,
    Precision,
)

FRAMEWORKS: tuple[Framework, ...] = get_args(Framework)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

SITE_KEYS: tuple[str, ...] = (
    "name",
    "place",
    "hardware",
    "model",
    "precision",
    "devices",
    "tp",
    "framework",
    "max_num_seqs",
    "max_batched_tokens",
    "replicas",
    "price_per_device_hour",
    "power_w",
    "url",
)
_REQUIRED = ("name", "place", "hardware", "model")


class ConfigError(ValueError):
    """A bad configuration value. The message names the file, the dotted key and what
    is allowed, e.g. `topo.toml: sites[2].hardwre: unknown key; allowed: ...`."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.reason = message
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteConfig:
    """One site of the topology: where it is and what it runs."""

    name: str
    place: str
    hardware: str
    model: str
    precision: Precision = "fp8"
    devices: int | None = None
    tp: int | None = None
    framework: Framework = "vllm"
    max_num_seqs: int | None = None
    max_batched_tokens: int | None = None
    replicas: int = 1
    price_per_device_hour: float | None = None
    power_w: float | None = None
    url: str | None = None

    def deployment(self) -> DeploymentSpec:
        """The engine's view of this site (the price and power overrides are the
        site server's business, not the physics')."""
        return DeploymentSpec(
            hardware=self.hardware,
            model=self.model,
            precision=self.precision,
            devices=self.devices,
            tp=self.tp,
            framework=self.framework,
            max_num_seqs=self.max_num_seqs,
            max_batched_tokens=self.max_batched_tokens,
            replicas=self.replicas,
        )


def known_hardware() -> tuple[str, ...]:
    """Hardware ids of the catalog."""
    return tuple(HARDWARE)


def known_models() -> tuple[str, ...]:
    """Model ids of the catalog."""
    return tuple(MODELS)


def check_keys(
    table: Mapping[str, object],
    allowed: Iterable[str],
    where: str,
    file: str,
    *,
    error: type[ConfigError] = ConfigError,
) -> None:
    """Raise `error` (a ConfigError) naming the first key of `table` that is not in
    `allowed` (with a did-you-mean hint). `where` is the dotted path of `table` ("" at
    top level). The validators below take `error` too, so other config layers (router
    settings, scenarios) share them and still raise their own subclass."""
    allowed_list = list(allowed)
    for key in table:
        if key not in allowed_list:
            hint = difflib.get_close_matches(key, allowed_list, n=1)
            maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise error(
                file,
                _join(where, key),
                f"unknown key{maybe}; allowed: {', '.join(allowed_list)}",
            )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _positive_int(value: Any, key: str, file: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(file, key, f"must be a positive integer, got {value!r}")
    return value


def _positive_float(value: Any, key: str, file: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(file, key, f"must be a positive number, got {value!r}")
    if value == float("inf"):
        raise ConfigError(file, key, "must be finite")
    return float(value)


def string(value: Any, key: str, file: str, *, error: type[ConfigError] = ConfigError) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise error(file, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def choice(
    value: Any,
    choices: Iterable[str],
    key: str,
    file: str,
    *,
    error: type[ConfigError] = ConfigError,
) -> str:
    """One of `choices`, with a did-you-mean hint."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        hint = difflib.get_close_matches(str(value), options, n=1)
        maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise error(file, key, f"unknown value {value!r}{maybe}; allowed: {', '.join(options)}")
    return value


def boolean(value: Any, key: str, file: str, *, error: type[ConfigError] = ConfigError) -> bool:
    if not isinstance(value, bool):
        raise error(file, key, f"must be true or false, got {value!r}")
    return value


def str_list(
    value: Any, key: str, file: str, *, error: type[ConfigError] = ConfigError
) -> frozenset[str]:
    """A non-empty list of strings, as a set of stripped strings."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise error(file, key, f"must be a non-empty list of strings, got {value!r}")
    return frozenset(v.strip() for v in value)


def parse_site(raw: Mapping[str, Any], *, where: str, file: str) -> SiteConfig:
    """Validate one `[[sites]]` table; `where` is its dotted path (`sites[0]`)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(file, where, f"must be a table, got {type(raw).__name__}")
    check_keys(raw, SITE_KEYS, where, file)
    for key in _REQUIRED:
        if key not in raw:
            raise ConfigError(file, _join(where, key), "missing (required)")

    def at(k: str) -> str:
        return _join(where, k)

    name = string(raw["name"], at("name"), file)
    if not _NAME_RE.match(name):
        raise ConfigError(file, at("name"), f"{name!r}: use 1-64 letters, digits, '-', '_' or '.'")
    opt_ints: dict[str, int | None] = {}
    for k in ("devices", "tp", "max_num_seqs", "max_batched_tokens"):
        opt_ints[k] = _positive_int(raw[k], at(k), file) if k in raw else None
    url = None
    if "url" in raw:
        url = string(raw["url"], at("url"), file).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(file, at("url"), f"must start with http:// or https://, got {url!r}")
    return SiteConfig(
        name=name,
        place=string(raw["place"], at("place"), file),
        hardware=choice(raw["hardware"], known_hardware(), at("hardware"), file),
        model=choice(raw["model"], known_models(), at("model"), file),
        precision=choice(raw.get("precision", "fp8"), PRECISIONS, at("precision"), file),  # type: ignore[arg-type]
        framework=choice(raw.get("framework", "vllm"), FRAMEWORKS, at("framework"), file),  # type: ignore[arg-type]
        devices=opt_ints["devices"],
        tp=opt_ints["tp"],
        max_num_seqs=opt_ints["max_num_seqs"],
        max_batched_tokens=opt_ints["max_batched_tokens"],
        replicas=_positive_int(raw.get("replicas", 1), at("replicas"), file),
        price_per_device_hour=(
            _positive_float(raw["price_per_device_hour"], at("price_per_device_hour"), file)
            if "price_per_device_hour" in raw
            else None
        ),
        power_w=_positive_float(raw["power_w"], at("power_w"), file) if "power_w" in raw else None,
        url=url,
    )


def parse_sites(raw_sites: Any, *, file: str) -> list[SiteConfig]:
    """Validate the `[[sites]]` array: at least one site, each valid, names unique."""
    if not isinstance(raw_sites, list):
        raise ConfigError(file, "sites", "must be an array of tables ([[sites]])")
    if not raw_sites:
        raise ConfigError(file, "sites", "needs at least one site")
    sites: list[SiteConfig] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_sites):
        site = parse_site(raw, where=f"sites[{i}]", file=file)
        if site.name in seen:
            raise ConfigError(
                file,
                f"sites[{i}].name",
                f"duplicate site name {site.name!r} (also sites[{seen[site.name]}])",
            )
        seen[site.name] = i
        check_deployment(site, where=f"sites[{i}]", file=file)
        sites.append(site)
    return sites


def check_deployment(site: SiteConfig, *, where: str, file: str) -> None:
    """Fail at load time, naming the key, when the deployment cannot exist (the model
    does not fit the devices, tp does not divide them...)."""
    from sites.engines import resolve_deployment

    try:
        resolve_deployment(site.deployment())
    except (DeploymentError, CatalogError) as exc:
        message = str(exc)
        if "--tp" in message or "tensor parallelism" in message:
            key = "tp"
        elif site.devices is not None:
            key = "devices"
        else:
            key = "model"
        raise ConfigError(file, _join(where, key), message.replace("--", "")) from exc


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file's tables; ConfigError (naming the file) if unreadable or not TOML.
    Shared by every loader of scenario and topology files."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"invalid TOML: {exc}") from exc


def load_topology(path: str | Path) -> list[SiteConfig]:
    """Read a TOML file and validate its `[[sites]]` (other top-level tables are left
    to their own layers). Raises ConfigError for unreadable files and bad TOML too."""
    file = str(path)
    data = read_toml(path)
    if "sites" not in data:
        raise ConfigError(file, "sites", "missing: the file needs at least one [[sites]] table")
    return parse_sites(data["sites"], file=file)


def find_site(sites: Iterable[SiteConfig], name: str, *, file: str) -> SiteConfig:
    """The site called `name`, or a ConfigError listing the names there are."""
    sites = list(sites)
    for site in sites:
        if site.name == name:
            return site
    names = ", ".join(s.name for s in sites)
    raise ConfigError(file, "sites", f"no site named {name!r}; sites: {names}")
