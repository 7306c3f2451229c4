"""A DataTable that updates in place: rows keep their keys, so the cursor stays put."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


def _signature(cell: Cell) -> object:
    """What a cell looks like (rich's `Text.__eq__` ignores style and justification)."""
    if isinstance(cell, Text):
        return (cell.plain, str(cell.style), cell.justify, tuple(cell.spans))
    return cell


class LiveTable(DataTable[Cell]):
    """Replace all rows at once, but only rebuild when the columns or row keys change."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._columns: tuple[tuple[str, str], ...] = ()
        self._rows: tuple[str, ...] = ()
        self._shown: dict[tuple[str, str], object] = {}

    def set_data(
        self,
        columns: Sequence[tuple[str, Cell]],
        rows: Sequence[tuple[str, Sequence[Cell]]],
    ) -> None:
        """`columns`: (key, label); `rows`: (key, cells in column order)."""
        col_keys = tuple((k, str(label)) for k, label in columns)
        row_keys = tuple(k for k, _ in rows)
        if col_keys != self._columns or row_keys != self._rows:
            cursor_key = self.current_row_key()
            self.clear(columns=col_keys != self._columns)
            if col_keys != self._columns:
                for key, label in columns:
                    self.add_column(label, key=key)
            for key, cells in rows:
                self.add_row(*cells, key=key)
            self._columns, self._rows = col_keys, row_keys
            self._shown = {
                (key, col): _signature(value)
                for key, cells in rows
                for (col, _), value in zip(columns, cells, strict=True)
            }
            if cursor_key in row_keys:
                self.move_cursor(row=row_keys.index(cursor_key), animate=False)
            return
        for key, cells in rows:
            for (col, _), value in zip(columns, cells, strict=True):
                sig = _signature(value)
                if self._shown.get((key, col)) != sig:  # only what changed: each redraws
                    self.update_cell(key, col, value, update_width=True)
                    self._shown[key, col] = sig

    def current_row_key(self) -> str | None:
        if not self._rows or not (0 <= self.cursor_row < len(self._rows)):
            return None
        return self._rows[self.cursor_row]
