"""Replay a recorded run from the results database as a stream of router snapshots.

`ReplayTimeline` is the pure part: given a run's request rows and site samples, it
builds the `RouterStats` the router would have served at any run time `t`, with the
router's own aggregator (`router.stats.RollingStats`), so live and replay agree.
Events are derived from the record: a site's health flipping in `site_samples`, and
the policy changing between consecutive requests. `ReplaySource` loads the run off
the event loop and plays it at `speed` run-seconds per wall second, with pause and
seek through `ReplayControl` actions.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.actions import (
    REPLAY,
    Action,
    ActionResult,
    ReplayControl,
    SourceState,
    SourceStatus,
)
from router.stats import RollingStats, SiteState, finished_at
from router.stats_schema import Event, EventKind, Health, RouterStats

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteInfo:
    name: str
    kind: str
    hardware: str
    model: str
    place: str
    lat: float
    lon: float
    max_running: int | None = None  # the config's max_num_seqs, when it gives one


def sites_from_config(config: Mapping[str, Any], seen: Sequence[str]) -> list[SiteInfo]:
    """Sites described in a run's config (`sites` list), then any other site the rows name.

    Places resolve through the gazetteer; an unknown place keeps NaN coordinates,
    which the map skips.
    """
    from router.geo import resolve_place  # lazy: the gazetteer loads data

    out: list[SiteInfo] = []
    raw = config.get("sites")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, Mapping) or "name" not in item:
            continue
        place = str(item.get("place") or "")
        lat, lon = float(item.get("lat", "nan")), float(item.get("lon", "nan"))
        if place and lat != lat:
            try:
                p = resolve_place(place)
                lat, lon = p.lat, p.lon
            except ValueError:
                pass
        hardware = str(item.get("hardware") or "")
        out.append(
            SiteInfo(
                name=str(item["name"]),
                kind=str(item.get("kind") or ("lpu" if "lpu" in hardware else "gpu")),
                hardware=hardware,
                model=str(item.get("model") or ""),
                place=place,
                lat=lat,
                lon=lon,
                max_running=_positive_int(item.get("max_num_seqs")),
            )
        )
    known = {s.name for s in out}
    for name in seen:
        if name and name not in known:
            known.add(name)
            out.append(
                SiteInfo(
                    name=name,
                    kind="lpu" if "riyadh" in name or "lpu" in name else "gpu",
                    hardware="",
                    model="",
                    place="",
                    lat=float("nan"),
                    lon=float("nan"),
                )
            )
    return out


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class ReplayTimeline:
    """Snapshots of a recorded run at any time, built incrementally when moving forward."""

    def __init__(
        self,
        *,
        rows: Sequence[Row],
        samples: Sequence[Row],
        sites: Sequence[SiteInfo],
        policy: str,
        start_at: float,
        end_at: float | None = None,
        window_s: float = 60.0,
    ) -> None:
        self.rows = sorted(rows, key=finished_at)
        self._finish = [finished_at(r) for r in self.rows]
        self.samples = sorted(samples, key=lambda s: float(s["at"]))
        self.sites = list(sites)
        self.policy = policy
        self.start_at = start_at
        last = self._finish[-1] if self._finish else start_at
        self.end_at = max(end_at or last, last, start_at)
        self.window_s = window_s
        self.events = self._derive_events()
        self._event_at = [e["at"] for e in self.events]
        self._reset()

    def _reset(self) -> None:
        self._stats = RollingStats(self.window_s)
        self._added = 0
        self._at = self.start_at

    def _derive_events(self) -> list[Event]:
        events: list[Event] = []
        healthy: dict[str, bool] = {}
        for s in self.samples:
            name, ok = str(s["site"]), bool(s.get("healthy"))
            if name in healthy and healthy[name] != ok:
                kind: EventKind = "site-restored" if ok else "site-failed"
                verb = "healthy again" if ok else "failed its health checks"
                events.append(
                    {"at": float(s["at"]), "kind": kind, "site": name, "message": f"{name} {verb}"}
                )
            healthy[name] = ok
        policy = None
        for r in sorted(self.rows, key=lambda r: float(r["arrived_at"])):
            p = r.get("policy")
            if p and policy is not None and p != policy:
                events.append(
                    {
                        "at": float(r["arrived_at"]),
                        "kind": "policy-changed",
                        "site": None,
                        "message": f"policy {policy} -> {p}",
                    }
                )
            policy = p or policy
        return sorted(events, key=lambda e: e["at"])

    @property
    def duration_s(self) -> float:
        return self.end_at - self.start_at

    def _site_states(self, t: float) -> list[SiteState]:
        latest: dict[str, Row] = {}
        for s in self.samples:
            if float(s["at"]) > t:
                break
            latest[str(s["site"])] = s
        states = []
        for info in self.sites:
            sample = latest.get(info.name)
            health: Health = "unknown"
            if sample is not None:
                health = "healthy" if sample.get("healthy") else "failed"
            elif self.rows:
                health = "healthy"
            running = int(sample.get("running") or 0) if sample else 0
            states.append(
                SiteState(
                    name=info.name,
                    kind=info.kind,
                    hardware=info.hardware,
                    model=info.model,
                    place=info.place,
                    lat=info.lat,
                    lon=info.lon,
                    url="",
                    health=health,
                    in_flight=int(sample.get("in_flight") or 0) if sample else 0,
                    queued=int(sample.get("queued") or 0) if sample else 0,
                    running=running,
                    max_running=info.max_running or 1,
                )
            )
        return states

    def snapshot(self, t: float) -> RouterStats:
        """The router's view at run time `t` (clamped to the run)."""
        t = min(max(t, self.start_at), self.end_at)
        if t < self._at:
            self._reset()
        upto = bisect.bisect_right(self._finish, t)
        self._stats.add_many(self.rows[self._added : upto])
        self._added = max(self._added, upto)
        self._at = t
        policy = self.policy
        if upto:
            policy = str(self.rows[upto - 1].get("policy") or policy)
        events = self.events[: bisect.bisect_right(self._event_at, t)]
        stats = self._stats.snapshot(
            now=t,
            sites=self._site_states(t),
            policy=policy,
            policies=[],
            uptime_s=t - self.start_at,
            events=events,
        )
        for site, info in zip(stats["sites"], self.sites, strict=True):
            if info.max_running is None:  # not recorded: shown as unknown, not as 100%
                site["utilisation"] = float("nan")
        return stats


def load_timeline(db_path: Path, run_id: str | None) -> tuple[str, ReplayTimeline]:
    """Read one run (the latest when `run_id` is None); LookupError names what is missing."""
    from router.store import ResultsStore  # sqlite-utils: only when replaying

    if not db_path.exists():
        raise LookupError(f"no such database: {db_path}")
    store = ResultsStore(db_path)
    try:
        if run_id is None:
            row = store.db.execute(
                "select id from runs order by started_at desc limit 1"
            ).fetchone()
            if row is None:
                raise LookupError(f"{db_path} holds no runs")
            run_id = str(row[0])
        try:
            run = store.run(run_id)
        except Exception as exc:  # sqlite_utils NotFoundError
            raise LookupError(f"no run {run_id!r} in {db_path}") from exc
        rows = store.requests(run_id)
        samples = list(
            store.db.table("site_samples").rows_where("run_id = ?", [run_id], order_by="at")
        )
    finally:
        store.close()
    try:
        config = json.loads(run.get("config") or "{}")
    except ValueError:
        config = {}
    seen = sorted(
        {str(r["site"]) for r in rows if r.get("site")} | {str(s["site"]) for s in samples}
    )
    start = float(run.get("started_at") or min((float(r["arrived_at"]) for r in rows), default=0))
    window_s = float(config.get("stats_window_s") or 60.0) if isinstance(config, dict) else 60.0
    timeline = ReplayTimeline(
        rows=rows,
        samples=samples,
        sites=sites_from_config(config if isinstance(config, dict) else {}, seen),
        policy=str(run.get("policy") or ""),
        start_at=start,
        end_at=float(run["ended_at"]) if run.get("ended_at") else None,
        window_s=window_s,
    )
    return run_id, timeline


class ReplaySource:
    """Play a recorded run: `speed` run seconds per wall second, paused and sought on demand."""

    capabilities = frozenset({REPLAY})

    def __init__(
        self,
        db_path: str | Path,
        run_id: str | None = None,
        speed: float = 1.0,
        *,
        tick_s: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
        timeline: ReplayTimeline | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.run_id = run_id
        self.speed = speed
        self.tick_s = tick_s
        self.monotonic = monotonic
        self.paused = False
        self.timeline = timeline
        self.position_at = timeline.start_at if timeline else 0.0
        self.label = f"{self.db_path.name} run {run_id or 'latest'}"
        self._status = SourceStatus(state="connecting", detail="loading run")
        self._wake = asyncio.Event()

    @property
    def status(self) -> SourceStatus:
        return self._status

    def _set(self, state: SourceState) -> None:
        tl = self.timeline
        if tl is None:
            return
        pos = self.position_at - tl.start_at
        mode = "paused" if self.paused else f"×{self.speed:g}"
        detail = f"{pos:.0f}s / {tl.duration_s:.0f}s {mode}"
        self._status = SourceStatus(state=state, detail=detail, since_at=self.position_at)

    async def load(self) -> ReplayTimeline:
        if self.timeline is None:
            run_id, timeline = await asyncio.to_thread(load_timeline, self.db_path, self.run_id)
            self.run_id, self.timeline = run_id, timeline
            self.label = f"{self.db_path.name} run {run_id}"
            self.position_at = timeline.start_at
            return timeline
        return self.timeline

    async def snapshots(self) -> AsyncIterator[RouterStats]:
        tl = await self.load()
        last = self.monotonic()
        while True:
            ended = self.position_at >= tl.end_at
            self._set("ended" if ended else "replay")
            yield tl.snapshot(self.position_at)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_s)
            now = self.monotonic()
            if not self.paused:
                self.position_at = min(self.position_at + (now - last) * self.speed, tl.end_at)
            last = now

    async def act(self, action: Action) -> ActionResult:
        if not isinstance(action, ReplayControl):
            return ActionResult(ok=False, message="replay is read-only: no router to act on")
        tl = self.timeline
        if tl is None:
            return ActionResult(ok=False, message="the run is still loading")
        if action.speed is not None:
            if not action.speed > 0:
                return ActionResult(ok=False, message=f"speed must be positive, got {action.speed}")
            self.speed = action.speed
        if action.paused is not None:
            self.paused = action.paused
        if action.seek_s is not None:
            self.position_at = min(max(self.position_at + action.seek_s, tl.start_at), tl.end_at)
        self._set("ended" if self.position_at >= tl.end_at else "replay")
        self._wake.set()
        return ActionResult(ok=True, message=self._status.detail)

    async def aclose(self) -> None:
        return None
