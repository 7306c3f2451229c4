"""What the bench commands read from a scenario and a simulation result, in one place:
loading with user-facing errors, the SLOs and phases the report needs, the client
request stream shared by sim and live mode."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, is_dataclass, replace
from typing import Any

from router.scenarios import Scenario, ScenarioError, builtin_scenarios, load_scenario
from router.traffic import ClientRequest


class BenchError(ValueError):
    """A bad scenario name or file, or a bad policy (the runner reports it as such)."""


def load(name_or_path: str) -> Scenario:
    try:
        return load_scenario(name_or_path)
    except ScenarioError as exc:
        raise BenchError(str(exc)) from None
    except (FileNotFoundError, KeyError, LookupError):
        names = ", ".join(builtin_scenarios())
        raise BenchError(
            f"unknown scenario {name_or_path!r}: not a built-in ({names}) nor a readable file"
        ) from None


def check_policies(policies: Sequence[str]) -> None:
    from router.policies import policy_names

    valid = policy_names()
    for p in policies:
        if p not in valid:
            raise BenchError(f"--policy: unknown policy {p!r}; valid policies: {', '.join(valid)}")


def with_duration(scenario: Scenario, duration_s: float) -> Scenario:
    """The scenario cut to its first `duration_s` seconds of arrivals."""
    return replace(scenario, duration_s=min(duration_s, scenario.duration_s))


def without_residency(scenario: Scenario) -> Scenario:
    """The counterfactual of a residency scenario: the same traffic, no constraint."""
    routing = replace(scenario.routing, residency=())
    return replace(scenario, name=f"{scenario.name} (no residency)", routing=routing)


def without_events(scenario: Scenario) -> Scenario:
    """The counterfactual of an outage scenario: the same traffic, nothing fails."""
    return replace(scenario, name=f"{scenario.name} (no events)", events=())


def slo_dict(scenario: Scenario) -> dict[str, float | None]:
    return {k: getattr(scenario.slo, k) for k in ("ttft_ms", "tpot_ms", "e2e_ms")}


def phases_dict(scenario: Scenario) -> list[dict[str, Any]]:
    """Spans of the run between scripted events, named by the sites that are down or
    drained during them (e.g. "riyadh-1 failed"), so a report shows each region's
    latency before, during and after an outage."""
    if not scenario.events:
        return []
    down: dict[str, str] = {}
    phases: list[dict[str, Any]] = []
    start = 0.0
    for event in sorted(scenario.events, key=lambda e: e.at_s):
        if event.at_s >= scenario.duration_s:
            break  # the run is over before this event
        if event.at_s > start:
            phases.append(_phase(start, event.at_s, down))
            start = event.at_s
        if event.action == "fail":
            down[event.site] = "failed"
        elif event.action == "drain":
            down[event.site] = "drained"
        else:
            down.pop(event.site, None)
    if scenario.duration_s > start:
        phases.append(_phase(start, scenario.duration_s, down))
    return phases


def _phase(start: float, end: float, down: dict[str, str]) -> dict[str, Any]:
    state = ", ".join(f"{site} {how}" for site, how in sorted(down.items())) or "all sites up"
    return {"name": f"{start:g}-{end:g} s: {state}", "start_s": start, "end_s": end}


def client_requests(scenario: Scenario, seed: int) -> Iterator[ClientRequest]:
    """The same requests the simulator serves for this seed."""
    return scenario.requests(seed)


def model_of(scenario: Scenario) -> str:
    return scenario.sites[0].model


def sim_summary(result: Any) -> dict[str, Any]:
    """A SimResult as JSON-ready data (counts, wall time, regret per region)."""
    data = (
        asdict(result)
        if is_dataclass(result) and not isinstance(result, type)
        else dict(vars(result))
    )
    data.pop("rows", None)
    return data
