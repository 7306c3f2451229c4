"""Benchmark: RTT matrix for 10,000 places × 10 sites (target: under 100 ms).

    .venv/bin/python tests/perf/bench_rtt_matrix.py

Prints the best and median of several timed calls (the machine is shared, so
the best is the fairest figure of the code itself) and checks the matrix against
single-pair `rtt_ms` on a sample.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from router.geo import place_at, resolve_place
from router.network import NetworkModel

N_PLACES, SITES = (
    10_000,
    (
        "Riyadh",
        "Dammam",
        "Jeddah",
        "Ashburn",
        "Dublin",
        "Frankfurt",
        "Singapore",
        "Mumbai",
        "Tokyo",
        "London",
    ),
)
TARGET_MS = 100.0


def main() -> None:
    rng = np.random.default_rng(0)
    lats = np.degrees(np.arcsin(rng.uniform(-0.9, 0.95, N_PLACES)))  # area-uniform-ish
    lons = rng.uniform(-180.0, 180.0, N_PLACES)
    sites = [resolve_place(s) for s in SITES]
    site_lats = np.array([s.lat for s in sites])
    site_lons = np.array([s.lon for s in sites])
    model = NetworkModel()
    model.rtt_matrix_ms(lats[:10], lons[:10], site_lats, site_lons)  # warm caches (anchors)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        matrix = model.rtt_matrix_ms(lats, lons, site_lats, site_lons)
        times.append((time.perf_counter() - t0) * 1000.0)
    assert matrix.shape == (N_PLACES, len(SITES))
    for i in rng.choice(N_PLACES, 20, replace=False):
        p = place_at(float(lats[i]), float(lons[i]))
        for j, s in enumerate(sites):
            assert abs(model.rtt_ms(p, s) - matrix[i, j]) < 1e-9
    best, med = min(times), statistics.median(times)
    verdict = "OK" if best < TARGET_MS else "SLOW"
    print(
        f"rtt_matrix_ms {N_PLACES:,} places x {len(SITES)} sites: best {best:.1f} ms, "
        f"median {med:.1f} ms over {len(times)} runs (target < {TARGET_MS:.0f} ms) {verdict}"
    )


if __name__ == "__main__":
    main()
