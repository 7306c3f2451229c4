"""Mutable per-site and per-request state of one simulation (internal).

Plain `__slots__` classes rather than frozen dataclasses: the simulator updates them
millions of times, and they never leave the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from router.policies import SiteView
from router.policies.constraints import ELIGIBLE_HEALTH
from router.policies.types import Health, PlaceLike
from sites.engine_api import DeploymentSpec, Engine, EngineLoad, EngineRequest, RequestResult

#: A served request's outcome as the simulator carries it (RequestResult's fields, no
#: object per request): (request_id, output_tokens, first_token_at, finished_at,
#: queue_s, ttft_s, tpot_s, energy_j, cost_usd). `LPUEngine.advance_raw` yields these.
Outcome = tuple[str, int, float | None, float, float, float | None, float | None, float, float]


def outcome(res: RequestResult) -> Outcome:
    """A RequestResult's `Outcome` (engines without `advance_raw`)."""
    return (
        res.request_id,
        res.output_tokens,
        res.first_token_at,
        res.finished_at,
        res.queue_s,
        res.ttft_s,
        res.tpot_s,
        res.energy_j,
        res.cost_usd,
    )


#: `SimSite.route_limit` without a cap on in-flight requests, and for a site the router
#: does not route to (no count is below it).
_NO_LIMIT = 1 << 62
_NOT_ROUTABLE = -(1 << 62)

_EMPTY_LOAD = EngineLoad(
    at=0.0,
    queued=0,
    running=0,
    max_running=1,
    queued_prompt_tokens=0,
    kv_used_fraction=0.0,
    tokens_per_s=0.0,
)


class SimRequest:
    """A client request on its way through the system."""

    __slots__ = (
        "at_s",
        "attempt",
        "best_pred_ms",
        "best_site",
        "chosen_pred_ms",
        "errors",
        "group",
        "handshake_ms",
        "net_down_ms",
        "net_up_ms",
        "new_conn",
        "output",
        "prompt",
        "ranked",
        "rid",
        "site",
        "z_down",
        "z_up",
    )

    def __init__(
        self,
        rid: str,
        group: int,
        at_s: float,
        prompt: int,
        output: int,
        z_up: float,
        z_down: float,
        new_conn: bool,
    ) -> None:
        self.rid = rid
        self.group = group
        self.at_s = at_s
        self.prompt = prompt
        self.output = output
        self.z_up = z_up
        self.z_down = z_down
        self.new_conn = new_conn
        self.ranked: tuple[int, ...] = ()
        self.attempt = 0
        self.site = -1
        self.net_up_ms = 0.0
        self.net_down_ms = 0.0
        self.handshake_ms = 0.0
        self.errors: Sequence[str] = ()  # a new list per error (errors are rare)
        self.best_site = -1
        self.best_pred_ms = 0.0
        self.chosen_pred_ms = 0.0


class SimSite:
    """One site: the true state (engine, up/down, drained) and the router's view of it
    (health and load as of the last stats refresh, plus its live in-flight count)."""

    __slots__ = (
        "advanced_to",
        "collect",
        "down",
        "drained",
        "ends",
        "engine",
        "idle_load",
        "idx",
        "in_flight",
        "inflight",
        "is_idle",
        "max_in_flight",
        "name",
        "place",
        "route_limit",
        "snap_busy",
        "snap_cap",
        "snapshot",
        "spec",
        "submit",
        "true_cap",
        "true_load",
        "true_views",
        "usd_per_mtok",
        "view_health",
        "views",
        "weight",
    )

    def __init__(
        self,
        *,
        idx: int,
        name: str,
        place: PlaceLike,
        spec: DeploymentSpec,
        engine: Engine,
        weight: float,
        usd_per_mtok: float | None,
        max_in_flight: int | None,
    ) -> None:
        self.idx = idx
        self.name = name
        self.place = place
        self.spec = spec
        self.engine: Engine | None = None
        self.collect: Callable[[float], list[Outcome]] = _no_outcomes
        self.submit: Callable[[str, int, int, float], None] = _no_submit
        self.attach(engine)
        self.weight = weight
        self.usd_per_mtok = usd_per_mtok
        self.max_in_flight = max_in_flight
        self.down = False
        self.drained = False
        self.view_health: Health = "healthy"
        #: The router's view as the batched `fastest` ranker reads it per request, kept
        #: with the fields it derives from (`set_view_health`, `refresh_view`,
        #: `set_true_load`): the site is a candidate while in_flight < route_limit;
        #: the snapshot's queued + running and max(max_running, 1); the true load's
        #: max(max_running, 1).
        self.route_limit = 0
        self.snap_busy = 0
        self.snap_cap = 1
        self.true_cap = 1
        self.in_flight = 0  # the router's count: forwarded, stream not yet ended
        # Stream ends still to count out of `in_flight` (a heap of times; the simulator
        # applies them before anything reads the count).
        self.ends: list[float] = []
        self.inflight: dict[str, SimRequest] = {}  # submitted to the engine
        self.advanced_to = 0.0
        self.true_load = _EMPTY_LOAD
        self.snapshot = _EMPTY_LOAD  # as of the last stats refresh
        self.views: dict[int, SiteView] = {}
        self.true_views: dict[int, EngineLoad] = {}
        self.set_true_load(_EMPTY_LOAD)
        self.set_view_health("healthy")

    def attach(self, engine: Engine | None) -> None:
        """Serve with `engine` (None: the site is down). `collect(until)` advances it
        and returns the finished requests' outcomes, `submit(id, prompt, output, at)`
        queues a request: the engine's allocation-free forms when it has them."""
        self.engine = engine
        # `true_load` was polled while the engine was idle (its load cannot change until
        # it gets work); engines without `is_idle` are polled every tick.
        self.idle_load = False
        self.is_idle: Callable[[], bool] = getattr(engine, "is_idle", _never_idle)
        if engine is None:
            self.collect, self.submit = _no_outcomes, _no_submit
            return
        raw = getattr(engine, "advance_raw", None)
        if raw is not None:
            self.collect = raw
        else:

            def collect(until: float, engine: Engine = engine) -> list[Outcome]:
                return [outcome(r) for r in engine.advance(until, record_tokens=False).finished]

            self.collect = collect
        submit_raw = getattr(engine, "submit_raw", None)
        if submit_raw is not None:
            self.submit = submit_raw
        else:

            def submit(
                rid: str, prompt: int, output: int, at: float, engine: Engine = engine
            ) -> None:
                engine.submit(
                    EngineRequest(
                        request_id=rid, prompt_tokens=prompt, output_tokens=output, arrived_at=at
                    )
                )

            self.submit = submit

    def view(self) -> SiteView:
        """The policy's view: the stale snapshot with the live in-flight count."""
        v = self.views.get(self.in_flight)
        if v is None:
            snap = self.snapshot
            v = SiteView(
                name=self.name,
                place=self.place,
                spec=self.spec,
                health=self.view_health,
                in_flight=self.in_flight,
                queued=snap.queued,
                running=snap.running,
                max_running=snap.max_running,
                queued_prompt_tokens=snap.queued_prompt_tokens,
                kv_used_fraction=snap.kv_used_fraction,
                tokens_per_s=snap.tokens_per_s,
                max_in_flight=self.max_in_flight,
                weight=self.weight,
                usd_per_mtok=self.usd_per_mtok,
            )
            self.views[self.in_flight] = v
        return v

    def true_now(self) -> EngineLoad:
        """The engine's load now, for hindsight: the last collection tick's figures
        with the exact number of requests the engine holds (split into running and
        queued by its batch capacity, as `SiteView.effective_load` does)."""
        total = len(self.inflight)
        load = self.true_views.get(total)
        if load is None:
            base = self.true_load
            cap = max(base.max_running, 1)
            running = min(total, cap)
            load = EngineLoad(
                at=base.at,
                queued=total - running,
                running=running,
                max_running=cap,
                queued_prompt_tokens=base.queued_prompt_tokens,
                kv_used_fraction=base.kv_used_fraction,
                tokens_per_s=base.tokens_per_s,
            )
            self.true_views[total] = load
        return load

    def set_true_load(self, load: EngineLoad) -> None:
        """The engine's load as of the last collection tick (hindsight's base)."""
        self.true_load = load
        self.true_cap = load.max_running if load.max_running > 1 else 1

    def set_view_health(self, health: Health) -> None:
        """The router's idea of the site's health changed (a poll, an error it saw,
        an admin action): the views built on the old one are dropped."""
        self.view_health = health
        if health in ELIGIBLE_HEALTH:
            self.route_limit = _NO_LIMIT if self.max_in_flight is None else self.max_in_flight
        else:
            self.route_limit = _NOT_ROUTABLE
        self.views.clear()

    def set_snapshot(self, load: EngineLoad) -> None:
        """The load the router last polled."""
        self.snapshot = load
        self.snap_busy = load.queued + load.running
        self.snap_cap = load.max_running if load.max_running > 1 else 1
        self.views.clear()

    def refresh_view(self) -> None:
        """A stats poll: the router now sees the site's current health and load."""
        self.set_snapshot(self.true_load)
        if self.down:
            self.set_view_health("failed")
        elif self.drained:
            self.set_view_health("draining")
        else:
            self.set_view_health("healthy")


def _no_outcomes(until: float) -> list[Outcome]:
    raise RuntimeError("the site has no engine")


def _no_submit(rid: str, prompt: int, output: int, at: float) -> None:
    raise RuntimeError("the site has no engine")


def _never_idle() -> bool:
    return False
