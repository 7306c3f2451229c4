"""Build `dashboards/land_mask.json`, the low-resolution land mask the world map draws.

Source: the `global-land-mask` package on PyPI (version 1.0.0, MIT licence, Todd Karin),
which ships NOAA's GLOBE 30-arc-second land/sea mask (public domain). We average it
down to 0.5° cells and call a cell land when at least `LAND_FRACTION` of it is land,
then store the bits zlib-compressed and base64-encoded with their provenance. The
package is needed only to rebuild the file, never at run time:

    pip download --no-deps global-land-mask==1.0.0 && unzip the wheel, then
    python -m dashboards.land_mask_build path/to/globe_combined_mask_compressed.npz
"""

from __future__ import annotations

import base64
import json
import sys
import zlib
from pathlib import Path

RESOLUTION_DEG = 0.5
LAND_FRACTION = 0.35
OUT = Path(__file__).resolve().parent / "land_mask.json"


def build(npz_path: Path) -> dict[str, object]:
    import numpy as np

    data = np.load(npz_path)
    mask = data["mask"]  # True = ocean (the package's is_land is its negation)
    lat = data["lat"]
    rows, cols = int(180 / RESOLUTION_DEG), int(360 / RESOLUTION_DEG)
    step_r, step_c = mask.shape[0] // rows, mask.shape[1] // cols
    if lat[0] < lat[-1]:  # store north first, like a picture
        mask = mask[::-1]
    out = np.zeros((rows, cols), dtype=bool)
    for r in range(rows):
        band = mask[r * step_r : (r + 1) * step_r].reshape(step_r, cols, step_c)
        out[r] = (~band).sum(axis=(0, 2), dtype=np.int32) >= LAND_FRACTION * step_r * step_c
    packed = np.packbits(out, axis=None).tobytes()
    return {
        "source": 'global-land-mask 1.0.0 (PyPI, MIT) = NOAA GLOBE 30" land/sea mask',
        "built_by": "python -m dashboards.land_mask_build",
        "resolution_deg": RESOLUTION_DEG,
        "land_fraction": LAND_FRACTION,
        "north_lat": 90.0,
        "west_lon": -180.0,
        "rows": rows,
        "cols": cols,
        "bits": "packbits, row-major, north row first, west column first",
        "data": base64.b64encode(zlib.compress(packed, 9)).decode("ascii"),
    }


def main(argv: list[str]) -> int:
    doc = build(Path(argv[0]))
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
