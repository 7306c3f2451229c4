"""The whole-system discrete-event simulation, in virtual time (no sockets, no sleeping).

A request's life, mirroring the live router (`router.daemon.proxy`):
1. It arrives from its client group (`router.traffic`). The policy — the same object
   the daemon uses — ranks the sites from the router's view: health and load as of
   the last stats refresh (every `stats_interval_s`, like the daemon's `/health`
   polls) plus the router's own live in-flight counts.
2. A new connection (probability 1 - `connection_reuse`) pays the TCP + TLS handshake
   at the median RTT to the first choice, once. The request then travels one sampled
   client->site delay and is submitted to that site's engine.
3. The engine runs in virtual time on its fast path (`record_tokens=False`). Each
   token reaches the client one sampled site->client delay after the site emits it, so
   client TTFT = handshake + up + site queue + prefill + down, E2E likewise, TPOT as
   at the site.
4. A site that is down refuses the request (the router learns one down-leg later) and
   the router tries the next site of the original ranking, up to `max_attempts` sites;
   a site failing mid-stream fails the requests already streaming and retries the ones
   still waiting for their first token.

Engines are advanced lazily: when a request is submitted to them and on a collection
tick every `COLLECT_INTERVAL_S` (capped by the stats interval), which also ends the
router's in-flight count of finished streams at the right virtual time. Regret: at
each decision, every site is also scored with the *true* state (`router.sim.regret`).
"""

from __future__ import annotations

import gc
import heapq
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from router.policies import FastestPolicy, RouteRequest, RoutingContext, make_policy
from router.policies.cost import usd_per_mtok_at_capacity
from router.scenarios import Scenario
from router.scenarios.model import (
    STREAM_CONNECTIONS,
    STREAM_NETWORK,
    STREAM_TRAFFIC,
    stream_rng,
)
from router.sim.deps import SimDeps, default_deps, memo_by_identity
from router.sim.fastest import FastestRanker
from router.sim.paths import PathTable
from router.sim.regret import Hindsight, RegionTally, RegretAccumulator
from router.sim.result import SimResult
from router.sim.rows import failed_row, ok_row, ok_template, site_sample
from router.sim.state import Outcome, SimRequest, SimSite
from router.traffic import RequestBlock, generate_blocks, request_id
from sites.engine_api import (
    EngineCapacityError,
    EngineLoad,
)

#: Engines are swept at least this often (virtual s) to end finished streams.
COLLECT_INTERVAL_S = 0.1
ROW_BATCH = 5000
#: The cyclic GC's young-generation threshold during a run (CPython's default: 700).
#: The loop allocates and frees a few dozen container objects per request, which
#: triggers a young collection every ~20 requests, each traversing every in-flight
#: request's objects; nothing it allocates needs the cycle collector to be freed.
GC_YOUNG_THRESHOLD = 20_000

RowsCallback = Callable[[list[dict[str, Any]]], None]
ProgressCallback = Callable[[float], None]

# Event kinds (heap entries are (at, seq, kind, payload)). Stream ends are not events
# (`SimSite.ends`, `Simulation.end_streams`).
_SITE_ARRIVE, _RETRY, _TICK, _SCRIPT = range(4)


class Simulation:
    """One run of a scenario under one policy and seed."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        policy: str,
        seed: int,
        deps: SimDeps,
        on_rows: RowsCallback | None = None,
        on_site_samples: RowsCallback | None = None,
        progress: ProgressCallback | None = None,
        max_requests: int | None = None,
        regret: bool = True,
        fast: bool = True,
    ) -> None:
        self.scenario = scenario
        self.policy_name = policy
        self.policy = make_policy(policy)
        self.seed = seed
        self.deps = deps
        self.on_rows = on_rows
        self.on_site_samples = on_site_samples
        self.progress = progress
        self.max_requests = max_requests
        self.with_regret = regret
        routing = scenario.routing
        self.ctx = RoutingContext(
            network=deps.network,
            estimate_latency=deps.estimate_latency,
            distance_km=memo_by_identity(deps.distance_km),
            residency=routing.residency,
            latency_ceiling_ms=routing.latency_ceiling_ms,
        )
        self.max_attempts = routing.max_attempts
        self.tls = scenario.network.tls
        from router.geo import resolve_place

        self.sites: list[SimSite] = []
        for i, cfg in enumerate(scenario.sites):
            spec = deps.resolve(cfg.deployment())
            price = cfg.price_per_device_hour or deps.price_usd_per_device_hour(cfg.hardware)
            self.sites.append(
                SimSite(
                    idx=i,
                    name=cfg.name,
                    place=resolve_place(cfg.place),
                    spec=spec,
                    engine=deps.build_engine(spec),
                    weight=routing.weights.get(cfg.name, 1.0),
                    usd_per_mtok=usd_per_mtok_at_capacity(
                        spec,
                        price_usd_per_device_hour=price,
                        max_running=(spec.max_num_seqs or 1) * max(spec.replicas, 1),
                        estimate_latency=deps.estimate_latency,
                    ),
                    max_in_flight=routing.max_in_flight_per_site,
                )
            )
        self.site_index = {s.name: s.idx for s in self.sites}
        groups = scenario.population.groups
        self.groups = groups
        self.paths = PathTable(
            deps.network, [g.place for g in groups], [s.place for s in self.sites]
        )
        # Handshake cost per (group, site) at the median RTT, as the daemon charges it.
        self.handshake = [
            [deps.network.handshake_ms(rtt, tls=self.tls) for rtt in row]
            for row in self.paths.rtt_ms
        ]
        # Residency, fixed per (group, site): the regret's "allowed" set.
        allowed = [
            [
                all(not r.applies_to(g.place) or r.allows(s.view()) for r in routing.residency)
                for s in self.sites
            ]
            for g in groups
        ]
        self.hindsight = Hindsight(
            self.sites, self.paths, self.handshake, allowed, deps.estimate_latency
        )
        self.fast = self._fast_ranker(allowed) if fast else None
        self.fast_block = False  # the fast ranker serves the current arrival block
        self.heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self.rows: list[dict[str, Any]] = []
        self.all_rows: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []
        self.regret = RegretAccumulator()
        self.regret_by_group: list[RegionTally | None] = [None] * len(groups)
        #: Per (group, site): the columns its served requests' rows share (`ok_template`).
        self.row_templates: list[list[dict[str, Any] | None]] = [
            [None] * len(self.sites) for _ in groups
        ]
        self.site_names = [s.name for s in self.sites]
        self.n_requests = self.n_ok = self.n_failed = self.n_rejected = self.n_retried = 0
        self.pending = 0  # heap events and stream ends that belong to requests
        self.next_end_at = math.inf  # the earliest stream end not yet counted out
        self.last_at = 0.0
        self.now = 0.0

    def _fast_ranker(self, allowed: list[list[bool]]) -> FastestRanker | None:
        """The batched `fastest` ranking, when the run uses that policy with the real
        forecast (whose batched form is known); None otherwise."""
        from sites.engines import estimate_latency
        from sites.engines.estimate_many import estimate_e2e_many

        if type(self.policy) is not FastestPolicy:
            return None
        if self.deps.estimate_latency is not estimate_latency:
            return None
        ctx = self.ctx
        base = []
        for g in self.groups:
            row = []
            for s in self.sites:
                rtt = ctx.rtt_ms(g.place, s.place)
                row.append((rtt, rtt + ctx.handshake_ms(rtt)))
            base.append(row)
        return FastestRanker(
            self.sites,
            self.paths,
            policy_base_ms=base,
            regret_handshake=self.handshake,
            allowed=allowed,
            estimate=self.deps.estimate_latency,
            estimate_many=estimate_e2e_many,
            max_attempts=self.max_attempts,
        )

    # -- heap ------------------------------------------------------------------------
    def push(self, at: float, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (at, self._seq, kind, payload))

    # -- engines ---------------------------------------------------------------------
    def advance(self, site: SimSite, at: float) -> None:
        if site.engine is None or at <= site.advanced_to:
            return
        finished = site.collect(at)
        site.advanced_to = at
        for result in finished:
            self.finish(site, result)

    def finish(self, site: SimSite, result: Outcome) -> None:
        req = site.inflight.pop(result[0], None)
        if req is None:
            return
        end_at = result[3] + req.net_down_ms / 1000.0
        # end_stream and emit, inlined (this runs once per request)
        if end_at <= self.now:
            site.in_flight -= 1
        else:
            self.pending += 1
            heapq.heappush(site.ends, end_at)
            if end_at < self.next_end_at:
                self.next_end_at = end_at
        templates = self.row_templates[req.group]
        template = templates[site.idx]
        if template is None:
            template = templates[site.idx] = ok_template(
                site.name, self.policy_name, self.groups[req.group]
            )
        rows = self.rows
        rows.append(ok_row(req, result, template))
        if len(rows) >= ROW_BATCH:
            self.flush_rows()
        self.n_ok += 1
        if end_at > self.last_at:
            self.last_at = end_at
        if self.with_regret and req.best_site >= 0:
            if req.attempt == 0:
                lost = req.chosen_pred_ms - req.best_pred_ms
            else:
                lost = (end_at - req.at_s) * 1000.0 - req.best_pred_ms
            region = self.regret_by_group[req.group]
            if region is None:
                region = self.regret_by_group[req.group] = self.regret.region(
                    self.groups[req.group].region
                )
            region.add(
                max(lost, 0.0),
                self.site_names[req.best_site],
                req.attempt == 0 and lost <= 1e-9,  # a tie with the best is the best
            )

    def end_stream(self, site: SimSite, end_at: float) -> None:
        """The router's in-flight count drops when the stream's last byte passes it."""
        if end_at <= self.now:
            site.in_flight -= 1
        else:
            self.pending += 1
            heapq.heappush(site.ends, end_at)
            if end_at < self.next_end_at:
                self.next_end_at = end_at

    def end_streams(self, at: float) -> None:
        """Count out of `in_flight` the streams that ended at or before `at`. Stream ends
        are kept per site (plain times, not events) and applied before the count is read
        (an arrival's ranking, a tick): only their number by then matters. A stream
        ending exactly at a tick's time counts before the tick (as an event it went
        before or after it by push order: a tie of float times that does not occur in
        practice)."""
        next_at = math.inf
        for site in self.sites:
            ends = site.ends
            if ends and ends[0] <= at:
                n = 0
                pop = heapq.heappop
                while ends and ends[0] <= at:
                    pop(ends)
                    n += 1
                site.in_flight -= n
                self.pending -= n
            if ends and ends[0] < next_at:
                next_at = ends[0]
        self.next_end_at = next_at

    # -- rows ------------------------------------------------------------------------
    def emit(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROW_BATCH:
            self.flush_rows()

    def flush_rows(self) -> None:
        if not self.rows:
            return
        if self.on_rows is not None:
            self.on_rows(self.rows)
        else:
            self.all_rows.extend(self.rows)
        self.rows = []

    # -- decisions -------------------------------------------------------------------
    def arrive(self, req: SimRequest, at: float, j: int = -1) -> None:
        """Route request `j` of the current arrival block."""
        self.n_requests += 1
        if self.fast_block:
            assert self.fast is not None
            ranked = self.fast.rank(req, j, self.with_regret)
            if ranked:
                req.ranked = ranked
                site = ranked[0]
                if req.new_conn:
                    req.handshake_ms = self.handshake[req.group][site]
                # dispatch(req, at + handshake) for attempt 0, inlined
                req.site = site
                legs = self.fast.first_legs  # the regret drew them: the same values
                if legs is not None:
                    up, down = legs
                else:
                    f, m, sg = self.paths.up[req.group][site]  # PathTable.legs_ms, inlined
                    up = f + math.exp(m + sg * req.z_up)
                    f, m, sg = self.paths.down[req.group][site]
                    down = f + math.exp(m + sg * req.z_down)
                req.net_up_ms += up
                req.net_down_ms = down
                self.pending += 1
                self._seq += 1
                heapq.heappush(
                    self.heap,
                    (at + req.handshake_ms / 1000.0 + up / 1000.0, self._seq, _SITE_ARRIVE, req),
                )
                return
        group = self.groups[req.group]
        route = RouteRequest(
            client=group.place,
            prompt_tokens=req.prompt,
            max_output_tokens=req.output,
            new_connection=req.new_conn,
            request_id=req.rid,
        )
        decision = self.policy.decide(route, tuple([s.view() for s in self.sites]), self.ctx)
        ranked = tuple(self.site_index[n] for n in decision.ranked[: self.max_attempts])
        if not ranked:
            reasons = ", ".join(f"{n}: {r}" for n, r in decision.excluded) or "no sites"
            status = "rejected" if decision.all_overloaded else "failed"
            self.reject(req, status, f"no eligible site ({reasons})")
            return
        req.ranked = ranked
        if self.with_regret:
            self.hindsight.score(req, ranked[0])
        if req.new_conn:
            req.handshake_ms = self.handshake[req.group][ranked[0]]
        self.dispatch(req, at + req.handshake_ms / 1000.0)

    def dispatch(self, req: SimRequest, at: float) -> None:
        site = req.ranked[req.attempt]
        req.site = site
        up, down = self.paths.legs_ms(req.group, site, req.z_up, req.z_down)
        req.net_up_ms += up
        req.net_down_ms = down
        self.pending += 1
        self.push(at + up / 1000.0, _SITE_ARRIVE, req)

    def site_arrive(self, req: SimRequest, at: float) -> None:
        site = self.sites[req.site]
        site.in_flight += 1
        if site.down or site.engine is None:
            self.retry_later(req, at, f"{site.name}: connection refused (site down)")
            return
        if at > site.advanced_to:  # advance(site, at), inlined
            finished = site.collect(at)
            site.advanced_to = at
            for result in finished:
                self.finish(site, result)
        try:
            site.submit(req.rid, req.prompt, req.output, at)
        except EngineCapacityError as exc:
            self.retry_later(req, at, f"{site.name}: {exc}")
            return
        site.inflight[req.rid] = req

    def retry_later(self, req: SimRequest, at: float, error: str) -> None:
        req.errors = [*req.errors, error]
        self.pending += 1
        self.push(at + req.net_down_ms / 1000.0, _RETRY, req)

    def retry(self, req: SimRequest, at: float) -> None:
        site = self.sites[req.site]
        site.in_flight -= 1
        if site.down and site.view_health != "failed":
            site.set_view_health("failed")  # passive ejection: the router saw the error
        req.attempt += 1
        if req.attempt < len(req.ranked):
            if req.attempt == 1:
                self.n_retried += 1
            self.dispatch(req, at)
            return
        self.reject(req, "failed", "; ".join(req.errors), at=at)

    def reject(self, req: SimRequest, status: str, error: str, *, at: float | None = None) -> None:
        site = self.sites[req.site].name if req.site >= 0 else None
        e2e_ms = None if at is None else (at - req.at_s) * 1000.0
        self.emit(
            failed_row(
                req, site, self.policy_name, self.groups[req.group], status, error, e2e_ms=e2e_ms
            )
        )
        if status == "rejected":
            self.n_rejected += 1
        else:
            self.n_failed += 1

    # -- scripted events -------------------------------------------------------------
    def script(self, event: Any, at: float) -> None:
        site = self.sites[self.site_index[event.site]]
        if event.action == "fail":
            self.fail_site(site, at)
        elif event.action == "restore":
            if site.down:
                site.down = False
                site.attach(self.deps.build_engine(site.spec))
                assert site.engine is not None
                site.engine.advance(at, record_tokens=False)
                site.advanced_to = at
                site.set_true_load(site.engine.load())
                site.true_views.clear()
        elif event.action == "drain":
            site.drained = True
            site.set_view_health("draining")  # an admin action at the router: seen at once
        elif event.action == "undrain":
            site.drained = False
            if not site.down:
                site.set_view_health("healthy")

    def fail_site(self, site: SimSite, at: float) -> None:
        if site.down or site.engine is None:
            return
        self.advance(site, at)
        engine = site.engine
        for rid, req in list(site.inflight.items()):
            res = engine.cancel(rid, at)
            if res is not None and res.first_token_at is not None and res.first_token_at <= at:
                end_at = at + req.net_down_ms / 1000.0
                self.end_stream(site, end_at)
                self.emit(
                    failed_row(
                        req,
                        site.name,
                        self.policy_name,
                        self.groups[req.group],
                        "failed",
                        f"{site.name} failed mid-stream",
                        e2e_ms=(end_at - req.at_s) * 1000.0,
                        result=res,
                    )
                )
                self.n_failed += 1
            else:
                self.retry_later(req, at, f"{site.name} failed before the first byte")
        site.inflight.clear()
        site.down = True
        site.attach(None)
        site.true_views.clear()
        site.set_true_load(
            EngineLoad(
                at=at,
                queued=0,
                running=0,
                max_running=site.true_load.max_running,
                queued_prompt_tokens=0,
                kv_used_fraction=0.0,
                tokens_per_s=0.0,
            )
        )

    # -- ticks -----------------------------------------------------------------------
    def tick(self, at: float) -> None:
        if self.next_end_at <= at:
            self.end_streams(at)
        for site in self.sites:
            self.advance(site, at)
            if site.engine is not None:
                idle = site.is_idle()
                if idle and site.idle_load:
                    continue  # the last poll's figures still hold (only `at`, unused, moved)
                site.set_true_load(site.engine.load())  # O(batch) for some engines: per tick
                site.true_views.clear()
                site.idle_load = idle
        if at >= self.next_stats_at - 1e-9:
            for site in self.sites:
                site.refresh_view()
            self.next_stats_at += self.scenario.routing.stats_interval_s
        if self.on_site_samples is not None and at >= self.next_sample_at - 1e-9:
            self.samples.extend(site_sample(s, at) for s in self.sites)
            self.next_sample_at += self.scenario.sample_interval_s
            if len(self.samples) >= 1000:
                self.on_site_samples(self.samples)
                self.samples = []

    # -- the loop --------------------------------------------------------------------
    def arrivals(self) -> Iterator[RequestBlock]:
        rng = stream_rng(self.seed, STREAM_TRAFFIC)
        return generate_blocks(
            self.scenario.traffic, self.scenario.population, rng, self.scenario.duration_s
        )

    def run(self) -> SimResult:
        """Run the scenario (once). The cyclic GC collects less often meanwhile (the
        previous thresholds are restored after)."""
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_YOUNG_THRESHOLD), *thresholds[1:])
        try:
            return self._run()
        finally:
            gc.set_threshold(*thresholds)

    def _run(self) -> SimResult:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        scn = self.scenario
        net_rng = stream_rng(self.seed, STREAM_NETWORK)
        conn_rng = stream_rng(self.seed, STREAM_CONNECTIONS)
        reuse = scn.network.connection_reuse
        tick_s = min(COLLECT_INTERVAL_S, scn.routing.stats_interval_s, scn.sample_interval_s)
        self.next_stats_at = 0.0
        self.next_sample_at = 0.0
        for event in scn.events:
            self.push(event.at_s, _SCRIPT, event)
        tick_n = 0
        self.tick(0.0)
        self.push(tick_s, _TICK, 1)
        limit = self.max_requests if self.max_requests is not None else math.inf
        duration = scn.duration_s
        next_progress = 0.01
        blocks = self.arrivals()
        heap = self.heap
        pop = heapq.heappop

        def next_block() -> tuple[list[Any], ...] | None:
            """The next arrival block's columns as lists (and the fast ranker's lengths),
            or None when the traffic or `max_requests` has run out."""
            while self.n_requests < limit:
                blk = next(blocks, None)
                if blk is None:
                    return None
                n = len(blk)
                if not n:
                    continue
                z = net_rng.standard_normal((2, n))
                cols = (
                    list(map(request_id, range(blk.first, blk.first + n))),
                    blk.at_s.tolist(),
                    blk.group.tolist(),
                    blk.prompt_tokens.tolist(),
                    blk.output_tokens.tolist(),
                    z[0].tolist(),
                    z[1].tolist(),
                    (conn_rng.random(n) >= reuse).tolist(),
                )
                self.fast_block = self.fast is not None and bool(
                    blk.prompt_tokens.min() >= 1 and blk.output_tokens.min() >= 1
                )
                if self.fast_block:
                    assert self.fast is not None
                    self.fast.set_block(blk.prompt_tokens, blk.output_tokens)
                return cols
            return None

        # The next arrival (index i of the current block) is at t_arr, or inf when no
        # request is left; heap events up to that time go first.
        block = next_block()
        arrivals_left = block is not None
        ids, times, groups, prompts, outputs, z_up, z_down, conn = block or ([],) * 8
        i = 0
        t_arr = times[0] if arrivals_left else math.inf
        while True:
            if heap and heap[0][0] <= t_arr:
                at, _, kind, payload = pop(heap)
                self.now = at
                if kind == _SITE_ARRIVE:
                    self.pending -= 1
                    self.site_arrive(payload, at)
                elif kind == _RETRY:
                    self.pending -= 1
                    self.retry(payload, at)
                elif kind == _TICK:
                    self.tick(at)
                    tick_n = payload
                    busy = any(s.inflight for s in self.sites)
                    if arrivals_left or self.pending or busy:
                        self.push((tick_n + 1) * tick_s, _TICK, tick_n + 1)
                    done = at / duration
                    if self.max_requests:
                        done = max(done, self.n_requests / self.max_requests)
                    if self.progress is not None and done >= next_progress:
                        self.progress(min(done, 1.0))
                        next_progress = math.floor(done * 100 + 1) / 100
                else:
                    self.script(payload, at)
                continue
            if t_arr == math.inf:
                break
            self.now = t_arr
            if self.next_end_at <= t_arr:
                self.end_streams(t_arr)
            req = SimRequest(
                ids[i],
                groups[i],
                t_arr,
                prompts[i],
                outputs[i],
                z_up[i],
                z_down[i],
                conn[i],
            )
            self.arrive(req, t_arr, i)
            i += 1
            if i >= len(times):
                block = next_block()
                if block is None:
                    arrivals_left = False
                else:
                    ids, times, groups, prompts, outputs, z_up, z_down, conn = block
                    i = 0
            if arrivals_left and self.n_requests >= limit:
                arrivals_left = False
            t_arr = times[i] if arrivals_left else math.inf
        self.flush_rows()
        if self.on_site_samples is not None and self.samples:
            self.on_site_samples(self.samples)
            self.samples = []
        if self.progress is not None:
            self.progress(1.0)
        return SimResult(
            scenario=scn.name,
            policy=self.policy_name,
            seed=self.seed,
            requests=self.n_requests,
            ok=self.n_ok,
            failed=self.n_failed,
            rejected=self.n_rejected,
            retried=self.n_retried,
            sim_duration_s=max(self.last_at, self.now),
            wall_s=time.perf_counter() - wall0,
            cpu_s=time.process_time() - cpu0,
            regret=self.regret.summary(),
            rows=self.all_rows,
        )


def simulate(
    scenario: Scenario,
    *,
    policy: str,
    seed: int,
    on_rows: RowsCallback | None = None,
    on_site_samples: RowsCallback | None = None,
    progress: ProgressCallback | None = None,
    max_requests: int | None = None,
) -> SimResult:
    """Run `scenario` under `policy` in virtual time. Rows (REQUEST_COLUMNS keys minus
    run_id) go to `on_rows` in batches, per-site samples (SITE_SAMPLE_COLUMNS minus
    run_id) to `on_site_samples`; without `on_rows` they are returned in
    `SimResult.rows`. The same scenario and seed give the same rows; every policy sees
    the same request stream."""
    return Simulation(
        scenario,
        policy=policy,
        seed=seed,
        deps=default_deps(),
        on_rows=on_rows,
        on_site_samples=on_site_samples,
        progress=progress,
        max_requests=max_requests,
    ).run()
