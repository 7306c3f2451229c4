"""Another git revision's source tree, for the before/after runs of the perf scripts
(`--baseline-rev`): run a process with PYTHONPATH (and cwd) set to the tree, and its
imports of `sites` and `router` come from that revision."""

from __future__ import annotations

import subprocess
from pathlib import Path


def extract_rev(rev: str, into: Path) -> tuple[str, Path]:
    """The tree of git revision `rev` under `into` (git archive: read-only on the repo);
    returns the short hash and the tree's path."""
    short = subprocess.run(
        ["git", "rev-parse", "--short", rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    tree = into / f"base-{short}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", short], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return short, tree
