"""Every subcommand has help and appears in the README (sqlite-utils' tests/test_docs.py)."""

import argparse
from pathlib import Path

import pytest

from georoute.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


COMMANDS = sorted(_subcommands())


def test_expected_commands_exist():
    expected = {"up", "router", "site", "predict", "calibrate", "rtt", "bench", "crossover", "dash"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_subcommand_has_help_and_is_documented(name):
    sub = _subcommands()[name]
    assert sub.description or sub.format_help().strip()
    assert f"georoute {name}" in README, f"README does not mention `georoute {name}`"
