"""Policies on hand-made snapshots: each test double is tiny and its numbers are chosen
so the expected choice can be worked out by hand (router.geo / sites.engines are
exercised end to end in test_daemon_policies.py)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import pytest

from router.policies import (
    POLICIES,
    ResidencyRule,
    RouteRequest,
    RoutingContext,
    SiteView,
    UnknownPolicyError,
    make_policy,
    policy_names,
)
from sites.engine_api import DeploymentSpec, EngineLoad, LatencyEstimate


@dataclass(frozen=True, slots=True, kw_only=True)
class P:
    name: str
    lat: float
    lon: float
    region: str
    country: str
    eu: bool


PARIS = P(name="Paris", lat=48.86, lon=2.35, region="Europe", country="FR", eu=True)
TOKYO = P(name="Tokyo", lat=35.68, lon=139.69, region="Asia", country="JP", eu=False)
RIYADH = P(name="Riyadh", lat=24.71, lon=46.68, region="Middle East", country="SA", eu=False)
DUBLIN = P(name="Dublin", lat=53.35, lon=-6.26, region="Europe", country="IE", eu=True)
ASHBURN = P(name="Ashburn", lat=39.04, lon=-77.49, region="North America", country="US", eu=False)

# Invented but plausible RTTs (ms): Dublin is nearest to Paris, Riyadh to Tokyo.
RTT = {
    ("Paris", "Riyadh"): 95.0,
    ("Paris", "Dublin"): 18.0,
    ("Paris", "Ashburn"): 80.0,
    ("Tokyo", "Riyadh"): 150.0,
    ("Tokyo", "Dublin"): 220.0,
    ("Tokyo", "Ashburn"): 160.0,
    ("Tokyo", "Tokyo"): 5.0,
}


def haversine_km(a: P, b: P) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class FakeNetwork:
    def rtt_ms(self, a: P, b: P) -> float:
        return RTT[(a.name, b.name)]

    def handshake_ms(self, rtt_ms: float, *, tls: bool = True) -> float:
        return rtt_ms * (2.0 if tls else 1.0)


LPU = DeploymentSpec(hardware="groq-lpu", model="llama-3.3-70b")
GPU = DeploymentSpec(hardware="h100-sxm", model="llama-3.3-70b")


def fake_estimate(spec: DeploymentSpec, load: EngineLoad, prompt: int, out: int) -> LatencyEstimate:
    """LPU: 2 ms/token flat, GPU: 20 ms/token; queue grows with the queued count."""
    tpot_s = 0.002 if spec.hardware == "groq-lpu" else 0.020
    return LatencyEstimate(queue_s=0.05 * load.queued, ttft_s=0.1, tpot_s=tpot_s)


def ctx(**kw) -> RoutingContext:
    return RoutingContext(
        network=FakeNetwork(), estimate_latency=fake_estimate, distance_km=haversine_km, **kw
    )


def site(name: str, place: P, spec: DeploymentSpec = GPU, **kw) -> SiteView:
    return SiteView(name=name, place=place, spec=spec, max_running=10, **kw)


SITES = (
    site("riyadh-1", RIYADH, LPU, usd_per_mtok=0.8),
    site("ireland", DUBLIN, usd_per_mtok=1.2),
    site("virginia", ASHBURN, usd_per_mtok=0.6),
)


def req(client: P = PARIS, out: int | None = 500, new: bool = True) -> RouteRequest:
    return RouteRequest(
        client=client, prompt_tokens=1000, max_output_tokens=out, new_connection=new
    )


@pytest.mark.parametrize(
    ("policy", "client", "out", "sites", "expected"),
    [
        ("nearest", PARIS, 500, SITES, "ireland"),
        ("nearest", TOKYO, 500, SITES, "riyadh-1"),
        ("lowest-rtt", PARIS, 500, SITES, "ireland"),
        ("lowest-rtt", TOKYO, 500, SITES, "riyadh-1"),
        # 500 tokens: LPU 95+190+100+1000 ms beats Ireland 18+36+100+9980 ms.
        ("fastest", PARIS, 500, SITES, "riyadh-1"),
        # 2 tokens: network dominates, Ireland wins.
        ("fastest", PARIS, 2, SITES, "ireland"),
        # Riyadh queue of 200 (10 s of queue wait) sends long outputs to Ireland.
        (
            "fastest",
            PARIS,
            500,
            (site("riyadh-1", RIYADH, LPU, queued=200), *SITES[1:]),
            "ireland",
        ),
        (
            "least-loaded",
            PARIS,
            500,
            (
                site("riyadh-1", RIYADH, LPU, running=9),
                site("ireland", DUBLIN, running=5),
                site("virginia", ASHBURN, running=2),
            ),
            "virginia",
        ),
        # Router in-flight counts even when the last poll said idle.
        (
            "least-loaded",
            PARIS,
            500,
            (
                site("riyadh-1", RIYADH, LPU, in_flight=8),
                site("ireland", DUBLIN, running=5),
            ),
            "ireland",
        ),
        # Virginia is cheapest but 80+160+100+9980 ms is over the default 10 s ceiling.
        ("cheapest", PARIS, 500, SITES, "riyadh-1"),
        ("cheapest", PARIS, 100, SITES, "virginia"),
    ],
)
def test_policy_choice(policy, client, out, sites, expected):
    decision = make_policy(policy).decide(req(client, out), sites, ctx())
    assert decision.site == expected
    assert sorted(decision.ranked) == sorted(s.name for s in sites)


def test_fastest_scores_are_the_worked_out_sums():
    decision = make_policy("fastest").decide(req(PARIS, 500), SITES, ctx())
    scores = dict(decision.scores)
    assert scores["riyadh-1"] == pytest.approx(95 + 190 + 100 + 499 * 2)
    assert scores["ireland"] == pytest.approx(18 + 36 + 100 + 499 * 20)
    # A reused connection pays no handshake.
    reused = make_policy("fastest").decide(req(PARIS, 500, new=False), SITES, ctx())
    assert dict(reused.scores)["riyadh-1"] == pytest.approx(95 + 100 + 499 * 2)


def test_fastest_uses_default_output_tokens_without_max_tokens():
    decision = make_policy("fastest").decide(req(PARIS, None), SITES, ctx(default_output_tokens=3))
    assert dict(decision.scores)["ireland"] == pytest.approx(18 + 36 + 100 + 2 * 20)


def test_cheapest_respects_latency_ceiling():
    # Virginia: 80+160+100+499*20 = 10318 ms; with a 5 s ceiling only Riyadh fits.
    decision = make_policy("cheapest").decide(req(PARIS, 500), SITES, ctx(latency_ceiling_ms=5000))
    assert decision.ranked == ("riyadh-1", "ireland", "virginia")  # over-ceiling: fastest first


def test_round_robin_rotates_and_skips_excluded():
    policy = make_policy("round-robin")
    picks = [policy.decide(req(), SITES, ctx()).site for _ in range(6)]
    assert picks == ["ireland", "riyadh-1", "virginia"] * 2
    drained = (SITES[0], site("ireland", DUBLIN, health="draining"), SITES[2])
    picks = [policy.decide(req(), drained, ctx()).site for _ in range(4)]
    assert set(picks) == {"riyadh-1", "virginia"}


def test_weighted_share_tracks_weights():
    sites = (
        site("riyadh-1", RIYADH, LPU, weight=3.0),
        site("ireland", DUBLIN, weight=1.0),
        site("virginia", ASHBURN, weight=0.0),
    )
    policy = make_policy("weighted")
    counts = Counter(policy.decide(req(), sites, ctx()).site for _ in range(400))
    assert counts == {"riyadh-1": 300, "ireland": 100}


@pytest.mark.parametrize(
    ("health", "reason"),
    [("draining", "draining"), ("failed", "failed"), ("ejected", "ejected")],
)
@pytest.mark.parametrize("policy", list(POLICIES))
def test_unhealthy_sites_never_ranked(policy, health, reason):
    sites = (site("riyadh-1", RIYADH, LPU, health=health), *SITES[1:])
    decision = make_policy(policy).decide(req(), sites, ctx())
    assert "riyadh-1" not in decision.ranked
    assert decision.reasons == {"riyadh-1": reason}
    assert decision.ranked


@pytest.mark.parametrize("policy", list(POLICIES))
def test_overloaded_sites_excluded_and_all_full_means_429(policy):
    full = tuple(site(s.name, s.place, s.spec, in_flight=4, max_in_flight=4) for s in SITES)
    decision = make_policy(policy).decide(req(), full, ctx())
    assert decision.ranked == ()
    assert decision.all_overloaded
    one_free = (*full[:2], site("virginia", ASHBURN, in_flight=3, max_in_flight=4))
    assert make_policy(policy).decide(req(), one_free, ctx()).ranked == ("virginia",)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_residency_keeps_eu_clients_in_the_eu(policy):
    rules = (ResidencyRule(clients=frozenset({"EU"}), allowed=frozenset({"EU"})),)
    decision = make_policy(policy).decide(req(PARIS), SITES, ctx(residency=rules))
    assert decision.ranked == ("ireland",)
    assert decision.reasons == {"riyadh-1": "residency", "virginia": "residency"}
    assert not decision.all_overloaded
    # Non-EU clients are untouched by the rule.
    tokyo = make_policy(policy).decide(req(TOKYO), SITES, ctx(residency=rules))
    assert len(tokyo.ranked) == 3


def test_residency_by_country_and_site_jurisdiction_override():
    rule = ResidencyRule(clients=frozenset({"jp"}), allowed=frozenset({"SA"}))
    sites = (*SITES, site("tokyo-edge", TOKYO, jurisdiction="SA"))
    assert rule.applies_to(TOKYO)
    assert not rule.applies_to(PARIS)
    decision = make_policy("nearest").decide(req(TOKYO), sites, ctx(residency=(rule,)))
    assert set(decision.ranked) == {"riyadh-1", "tokyo-edge"}


def test_unknown_health_is_eligible_before_the_first_poll():
    sites = (site("ireland", DUBLIN, health="unknown"),)
    assert make_policy("nearest").decide(req(), sites, ctx()).site == "ireland"


def test_unknown_policy_lists_valid_names():
    with pytest.raises(UnknownPolicyError) as info:
        make_policy("closest")
    for name in policy_names():
        assert name in str(info.value)


def test_registry_names_are_kebab_case_and_instances_report_them():
    for name in policy_names():
        assert name == name.lower()
        assert "_" not in name
        assert make_policy(name).name == name


def test_effective_load_folds_router_in_flight():
    s = site("x", DUBLIN, running=2, queued=0, in_flight=15)
    load = s.effective_load()
    assert (load.running, load.queued, load.max_running) == (10, 5, 10)


@pytest.mark.parametrize("policy", ["nearest", "lowest-rtt", "fastest"])
def test_ties_go_to_the_less_loaded_of_identical_sites(policy):
    twins = (
        site("riyadh-1", RIYADH, LPU, in_flight=3),
        site("riyadh-2", RIYADH, LPU, in_flight=1),
    )
    ctx_flat = ctx()
    decision = make_policy(policy).decide(req(TOKYO), twins, ctx_flat)
    assert decision.ranked == ("riyadh-2", "riyadh-1")
