"""Rich tables for `georoute crossover`: the answer per load level, then the table."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from router.bench.crossover import Crossover


def crossover_renderable(result: Crossover) -> RenderableType:
    head = Text(
        f"Client {result.client}: near {result.near} (RTT {result.near_rtt_ms:.1f} ms) vs "
        f"far {result.far} (RTT {result.far_rtt_ms:.1f} ms), prompt {result.input_tokens} "
        "tokens, new connection. Load = occupied fraction of each site's batch capacity."
    )
    answer = Table(title=f"Output length above which {result.far} is faster", title_justify="left")
    for col in (
        "load",
        "crossover (tokens)",
        f"{result.near} fixed ms",
        f"{result.near} ms/token",
        f"{result.far} fixed ms",
        f"{result.far} ms/token",
    ):
        answer.add_column(col, justify="right")
    for p in result.points:
        cross = (
            "never"
            if p.crossover_tokens is None
            else ("always" if p.crossover_tokens == 1 else f"{p.crossover_tokens:,}")
        )
        answer.add_row(
            f"{p.load:g}",
            cross,
            f"{p.near_fixed_ms:,.0f}",
            f"{p.near_tpot_ms:.2f}",
            f"{p.far_fixed_ms:,.0f}",
            f"{p.far_tpot_ms:.2f}",
        )
    table = Table(title="Forecast client-side E2E (ms) by output length", title_justify="left")
    for col in ("load", "output tokens", result.near, result.far, "faster"):
        table.add_column(col, justify="left" if col == "faster" else "right")
    for r in result.table:
        table.add_row(
            f"{r.load:g}",
            f"{r.output_tokens:,}",
            f"{r.near_e2e_ms:,.0f}",
            f"{r.far_e2e_ms:,.0f}",
            r.winner,
        )
    return Group(head, answer, table)
