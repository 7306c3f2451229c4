"""A modal list of the router's policies; Enter picks one, Escape cancels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class PolicyPicker(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    PolicyPicker { align: center middle; }
    PolicyPicker > Vertical {
        width: 40; height: auto; max-height: 80%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    PolicyPicker OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, policies: Sequence[str], current: str) -> None:
        super().__init__()
        self.policies = list(policies)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Routing policy (now [b]{self.current}[/b])")
            yield OptionList(
                *[
                    Option(name + ("  (current)" if name == self.current else ""), id=name)
                    for name in self.policies
                ]
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.policies:
            options.highlighted = self.policies.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
