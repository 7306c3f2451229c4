"""Value checkers for scenario files: each raises ScenarioError naming the file, the
dotted key and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from router.scenarios.model import ScenarioError
from sites import topology


def table(raw: Any, key: str, file: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(file, key, f"must be a table, got {type(raw).__name__}")
    return raw


def keys(raw: Mapping[str, Any], allowed: Iterable[str], where: str, file: str) -> None:
    topology.check_keys(raw, allowed, where, file, error=ScenarioError)


def number(
    value: Any, key: str, file: str, *, minimum: float = 0.0, allow_min: bool = False
) -> float:
    """A finite number > minimum (>= when allow_min)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(file, key, f"must be a finite number, got {value!r}")
    if value < minimum or (value == minimum and not allow_min):
        bound = ">=" if allow_min else ">"
        raise ScenarioError(file, key, f"must be {bound} {minimum:g}, got {value!r}")
    return float(value)


def fraction(value: Any, key: str, file: str) -> float:
    v = number(value, key, file, minimum=0.0, allow_min=True)
    if v > 1.0:
        raise ScenarioError(file, key, f"must be between 0 and 1, got {value!r}")
    return v


def integer(value: Any, key: str, file: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ScenarioError(file, key, f"must be an integer >= {minimum}, got {value!r}")
    return value


def string(value: Any, key: str, file: str) -> str:
    return topology.string(value, key, file, error=ScenarioError)


def boolean(value: Any, key: str, file: str) -> bool:
    return topology.boolean(value, key, file, error=ScenarioError)


def choice(value: Any, allowed: Iterable[str], key: str, file: str) -> str:
    return topology.choice(value, allowed, key, file, error=ScenarioError)


def required(raw: Mapping[str, Any], name: str, where: str, file: str) -> Any:
    if name not in raw:
        raise ScenarioError(file, f"{where}.{name}" if where else name, "missing (required)")
    return raw[name]


def str_list(value: Any, key: str, file: str) -> frozenset[str]:
    return topology.str_list(value, key, file, error=ScenarioError)
