"""The LPU engine driven as a live site drives it: the driver keeps the engine a
lookahead ahead of the wall clock, so requests arrive with an `arrived_at` behind the
engine's position, for hundreds of requests (long enough for the sharing sweep to
forget its old breakpoints). Found live: a 16-client closed loop on a llama-3.1-8b LPU
site failed with an IndexError once the sweep had forgotten past a late arrival."""

from __future__ import annotations

import dataclasses
import heapq

import pytest
from lpu_reference import LPUEngine as ReferenceLPUEngine

from sites.engine_api import DeploymentSpec, EngineRequest
from sites.engines import LPUEngine
from sites.engines.deploy import resolve

LOOKAHEAD_S = 0.05  # the site driver's default for static schedules
WAKE_S = 0.025  # it wakes every half lookahead
TURNAROUND_S = 0.001


@pytest.mark.parametrize("clients", [4, 16, 48])
def test_closed_loop_behind_the_lookahead_matches_the_reference(clients):
    dep = resolve(DeploymentSpec(hardware="groq-lpu", model="llama-3.1-8b"))
    engine, reference = LPUEngine(dep), ReferenceLPUEngine(dep)
    sends = [(0.0007 * i, f"c{i}-0") for i in range(clients)]
    heapq.heapify(sends)
    done, now = 0, 0.0
    while done < 600:
        while sends and sends[0][0] <= now:
            at, rid = heapq.heappop(sends)
            req = EngineRequest(request_id=rid, prompt_tokens=1000, output_tokens=200,
                                arrived_at=at)
            engine.submit(req)
            reference.submit(req)
        got = engine.advance(now + LOOKAHEAD_S).finished
        want = reference.advance(now + LOOKAHEAD_S).finished
        assert [r.request_id for r in got] == [r.request_id for r in want]
        for a, b in zip(got, want, strict=True):
            da, db = dataclasses.asdict(a), dataclasses.asdict(b)
            for key in ("energy_j", "cost_usd"):
                assert da.pop(key) == pytest.approx(db.pop(key), rel=1e-9, abs=1e-12)
            assert da == db
            client, n = a.request_id.split("-")
            heapq.heappush(sends, (a.finished_at + TURNAROUND_S, f"{client}-{int(n) + 1}"))
        done += len(got)
        now += WAKE_S
