"""Table-driven tests of the dashboard's pure parts: formatting, series, the map."""

import itertools
import json
import subprocess
import sys

import pytest

from dashboards import fmt
from dashboards.geo_map import (
    BRAILLE_BASE,
    Flow,
    Marker,
    fit_viewport,
    line_dots,
    load_land_mask,
    plain_text,
    render_map,
)
from dashboards.series import SeriesBuffer, band_rows, chart_rows, sparkline, value_range


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "–"),
        (float("nan"), "–"),
        (-1.0, "–"),
        (0.0, "0.0"),
        (3.24, "3.2"),
        (9.96, "10.0"),
        (412.4, "412"),
        (4120.0, "4120"),
        (12_345.0, "12.3s"),
        (123_456.0, "123s"),
    ],
)
def test_fmt_ms(value, expected):
    assert fmt.fmt_ms(value) == expected


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (fmt.fmt_pct, 0.734, "73%"),
        (fmt.fmt_pct, None, "–"),
        (fmt.fmt_count, 7, "7"),
        (fmt.fmt_count, 2.5, "2.5"),
        (fmt.fmt_count, 950, "950"),
        (fmt.fmt_count, 12_345, "12.3k"),
        (fmt.fmt_count, 123_456, "123k"),
        (fmt.fmt_count, 1_234_567, "1.2M"),
        (fmt.fmt_usd, 0.594, "$0.59"),
        (fmt.fmt_usd, 12.44, "$12.4"),
        (fmt.fmt_usd, 1234.0, "$1234"),
        (fmt.fmt_joules, 0.4234, "0.42"),
        (fmt.fmt_joules, 12.7, "13"),
        (fmt.fmt_rate_rps, 8.0, "8.0/s"),
        (fmt.fmt_rate_rps, 250.0, "250/s"),
        (fmt.fmt_duration, 42.9, "42s"),
        (fmt.fmt_duration, 185, "3m05s"),
        (fmt.fmt_duration, 7620, "2h07m"),
        (fmt.fmt_clock, 1_764_340_000.0, "14:26:40"),
    ],
)
def test_formatters(func, value, expected):
    assert func(value) == expected


@pytest.mark.parametrize(
    ("name", "width", "expected"),
    [
        ("riyadh-1", 6, "riyad1"),
        ("riyadh-1", 8, "riyadh-1"),
        ("virginia", 6, "virgin"),
        ("eu-west-12", 6, "eu-w12"),
    ],
)
def test_short_site(name, width, expected):
    assert fmt.short_site(name, width) == expected


def test_top_shares_orders_by_share_and_skips_zero():
    share = {"a": 0.2, "b": 0.7, "c": 0.1, "d": 0.0}
    assert fmt.top_shares(share, 2) == "b 70% a 20%"
    assert fmt.top_shares({"d": 0.0}) == "–"


def test_series_buffer_rate_limits_backfills_and_resets():
    buf = SeriesBuffer(capacity=3, min_interval_s=1.0)
    assert buf.add(10.0, {"a": 1.0})
    assert not buf.add(10.5, {"a": 2.0})  # too soon: dropped
    assert buf.add(11.0, {"a": 3.0, "b": 30.0})  # b back-filled with None
    assert buf.values("a") == [1.0, 3.0]
    assert buf.values("b") == [None, 30.0]
    buf.add(12.0, {"b": 40.0})  # a missing now: None
    buf.add(13.0, {"a": 5.0})  # capacity 3 drops the oldest
    assert buf.times() == [11.0, 12.0, 13.0]
    assert buf.values("a") == [3.0, None, 5.0]
    assert buf.last("b") == 40.0
    assert buf.add(5.0, {"a": 9.0})  # time went backwards (a seek): history restarts
    assert buf.times() == [5.0]
    assert buf.values("a") == [9.0]


@pytest.mark.parametrize(
    ("values", "width", "expected"),
    [
        ([0.0, 4.0, 8.0], 3, " ▄█"),
        ([8.0], 3, "  █"),  # right-aligned
        ([1.0, 2.0, 3.0, 8.0], 2, "▃█"),  # only the newest `width`
        ([None, 8.0], 2, " █"),  # None is a gap
        ([0.01, 8.0], 2, "▁█"),  # any positive value shows at least one step
    ],
)
def test_sparkline(values, width, expected):
    assert sparkline(values, width, 0.0, 8.0) == expected


def test_chart_rows_stacks_eighths_top_down():
    rows = chart_rows([16.0, 12.0, 4.0], 3, 2, 0.0, 16.0)
    assert rows == ["█▄ ", "██▄"]


def test_band_rows_draws_p50_over_p95():
    rows = band_rows([4.0], [16.0], 1, 2, 0.0, 16.0)
    # top row: only the p95 tail; bottom row: a half-height median on a full tail cell
    assert rows == [[("█", "p95")], [("▄", "p50-on-p95")]]
    assert value_range([[1.0, None], [5.0]]) == (0.0, 5.0)
    assert value_range([[None]]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("lat", "lon", "land"),
    [
        (48.8566, 2.3522, True),  # Paris
        (24.7136, 46.6753, True),  # Riyadh
        (39.0, -77.5, True),  # Ashburn
        (35.7, 139.7, True),  # Tokyo
        (0.0, -30.0, False),  # Atlantic
        (30.0, -40.0, False),
        (15.0, 65.0, False),  # Arabian Sea
        (-80.0, 0.0, True),  # Antarctica
        (0.0, 180.0, False),  # the date line wraps
    ],
)
def test_land_mask(lat, lon, land):
    assert load_land_mask().is_land(lat, lon) is land


def test_fit_viewport_holds_points_with_square_dots():
    pts = [(24.7, 46.7), (39.0, -77.5), (1.35, 103.8), (53.3, -6.3)]
    vp = fit_viewport(pts, 60, 15, margin_deg=5)
    assert (vp.width_dots, vp.height_dots) == (120, 60)
    for lat, lon in pts:
        x, y = vp.to_dot(lat, lon)
        assert 0 <= x < vp.width_dots
        assert 0 <= y < vp.height_dots
    # square dots: the box is as wide in degrees per dot as it is tall
    east = vp.west_lon + vp.deg_per_dot * vp.width_dots
    assert (east - vp.west_lon) / vp.width_dots == pytest.approx(vp.deg_per_dot)
    assert vp.deg_per_dot == pytest.approx((103.8 + 77.5 + 10) / 120)


def test_line_dots_is_connected_with_both_ends():
    dots = line_dots(0, 0, 5, 2)
    assert dots[0] == (0, 0)
    assert dots[-1] == (5, 2)
    for (x0, y0), (x1, y1) in itertools.pairwise(dots):
        assert max(abs(x1 - x0), abs(y1 - y0)) == 1


def test_render_map_places_glyphs_labels_and_flows():
    vp = fit_viewport([(24.7, 46.7), (1.35, 103.8)], 40, 10, margin_deg=5)
    markers = [
        Marker(lat=1.35, lon=103.8, glyph="●", style="city"),
        Marker(lat=24.7, lon=46.7, glyph="◆", style="site-0", label="riy"),
        Marker(lat=24.7, lon=46.7, glyph="◆", style="site-1", label="ri2"),
    ]
    flows = [Flow(from_lat=1.35, from_lon=103.8, to_lat=24.7, to_lon=46.7, style="flow-0")]
    rows = render_map(vp, markers=markers, flows=flows)
    text = plain_text(rows).splitlines()
    assert len(text) == 10
    assert all(len(line) == 40 for line in text)
    x, y = vp.to_dot(24.7, 46.7)
    assert text[y // 4][x // 2] == "◆"
    assert text[y // 4][x // 2 + 1 : x // 2 + 4] == "riy"
    assert text[y // 4 + 1][x // 2] == "◆"  # the co-located site stacks below
    assert "ri2" in text[y // 4 + 1]
    cx, cy = vp.to_dot(1.35, 103.8)
    assert text[cy // 4][cx // 2] == "●"
    styles = {style for row in rows for _, style in row}
    assert {"land", "flow-0", "site-0", "site-1", "city"} <= styles
    flow_chars = [t for row in rows for t, s in row if s == "flow-0"]
    assert all(BRAILLE_BASE < ord(c) <= BRAILLE_BASE + 0xFF for c in "".join(flow_chars))


def test_land_mask_file_says_where_it_came_from():
    from dashboards.geo_map import MASK_PATH

    doc = json.loads(MASK_PATH.read_text())
    assert "global-land-mask" in doc["source"]
    mask = load_land_mask()
    assert mask.rows * mask.cols == 360 * 720
    land = sum(bin(b).count("1") for b in mask.bits) / (mask.rows * mask.cols)
    assert 0.25 < land < 0.35  # about 29% of the Earth's surface is land


@pytest.mark.parametrize(
    "module",
    ["dashboards.fmt", "dashboards.series", "dashboards.geo_map", "dashboards.actions"],
)
def test_pure_dashboard_modules_load_no_shell_library(module):
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "shells = ('aiohttp', 'sqlite_utils', 'textual')\n"
        "print(json.dumps([m for m in shells if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
