"""Value checkers for scenario files: each raises ScenarioError naming the file, the
dotted key and what is allowed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from router.scenarios.model import ScenarioError
from sites.topology import check_keys


def table(raw: Any, key: str, file: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(file, key, f"must be a table, got {type(raw).__name__}")
    return raw


def keys(raw: Mapping[str, Any], allowed: Iterable[str], where: str, file: str) -> None:
    """Strict keys, re-raised as ScenarioError (sites.topology.check_keys words it)."""
    try:
        check_keys(raw, allowed, where, file)
    except ScenarioError:
        raise
    except ValueError as exc:
        key = getattr(exc, "key", where)
        reason = getattr(exc, "reason", str(exc))
        raise ScenarioError(file, key, reason) from None


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
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(file, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def boolean(value: Any, key: str, file: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(file, key, f"must be true or false, got {value!r}")
    return value


def choice(value: Any, allowed: Iterable[str], key: str, file: str) -> str:
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        hint = difflib.get_close_matches(str(value), options, n=1)
        maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ScenarioError(
            file, key, f"unknown value {value!r}{maybe}; allowed: {', '.join(options)}"
        )
    return value


def required(raw: Mapping[str, Any], name: str, where: str, file: str) -> Any:
    if name not in raw:
        raise ScenarioError(file, f"{where}.{name}" if where else name, "missing (required)")
    return raw[name]


def str_list(value: Any, key: str, file: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ScenarioError(file, key, f"must be a non-empty list of strings, got {value!r}")
    return frozenset(v.strip() for v in value)
