"""Client populations: where requests come from, with what weight, under what label.

A population is a list of groups, each one place (resolved through the gazetteer)
with a relative weight and a region label for reports ("europe", "asia", ...; by
default the place's own region). Groups are indexed; arrival processes emit group
indices and requests carry the group's place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from router.geo import Place, resolve_place
from router.traffic.arrivals import FloatArray, utc_offset_h


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientGroup:
    """Clients at one place: their share of the traffic and their report label."""

    place: Place
    weight: float
    region: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Population:
    groups: tuple[ClientGroup, ...]

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("a population needs at least one client group")
        if any(not g.weight >= 0 for g in self.groups):
            raise ValueError("client weights must be >= 0")
        if not sum(g.weight for g in self.groups) > 0:
            raise ValueError("client weights must include a positive one")

    @property
    def weights(self) -> FloatArray:
        return np.array([g.weight for g in self.groups], dtype=np.float64)

    @property
    def regions(self) -> tuple[str, ...]:
        """Distinct region labels, in first-seen order."""
        return tuple(dict.fromkeys(g.region for g in self.groups))

    def utc_offsets_h(self, at_utc: datetime) -> FloatArray:
        """Each group's UTC offset on a date (for local-time-of-day profiles)."""
        return np.array(
            [utc_offset_h(g.place.timezone, g.place.lon, at_utc) for g in self.groups],
            dtype=np.float64,
        )

    @classmethod
    def from_places(
        cls,
        entries: Iterable[tuple[str, float, str | None]],
        resolve: Callable[[str], Place] | None = None,
    ) -> Population:
        """Build from (place name or "lat,lon", weight, region label or None); a
        missing label takes the place's region, lower-cased."""
        resolve = resolve or resolve_place
        groups = []
        for name, weight, region in entries:
            place = resolve(name)
            groups.append(
                ClientGroup(place=place, weight=float(weight), region=region or _label(place))
            )
        return cls(groups=tuple(groups))


def _label(place: Place) -> str:
    return place.region.strip().lower().replace(" ", "-")
