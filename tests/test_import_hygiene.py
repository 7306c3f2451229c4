"""The pure core must not load the shells' libraries (harlequin's import-hygiene test).

Physics, engines, geography, network, policies, traffic, scenarios, the simulator and
the metrics take time, randomness and data as arguments; aiohttp, sqlite-utils and
Textual belong to the servers, the store and the dashboard only.
"""

import json
import subprocess
import sys

import pytest

PURE_MODULES = [
    "sites.clock",
    "sites.engine_api",
    "sites.catalog",
    "sites.physics",
    "sites.engines",
    "sites.predict",
    "sites.topology",
    # the site server's request rules, pacing and real-clock driver: asyncio only
    "sites.server.tokens",
    "sites.server.faults",
    "sites.server.openai_api",
    "sites.server.stream",
    "sites.server.pacer",
    "sites.server.driver",
    "router.geo",
    "router.network",
    "router.policies",
    "router.stats",
    "router.traffic",
    "router.scenarios",
    "router.sim",
    "router.bench.report",
    "router.bench.crossover",
]
SHELL_LIBRARIES = ["aiohttp", "sqlite_utils", "textual"]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_loads_no_shell_library(module):
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([m for m in {SHELL_LIBRARIES!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [], f"{module} pulled in a shell library"


def test_cli_help_imports_no_shell_library():
    """`georoute --help` must stay fast: subcommand registration imports nothing heavy."""
    code = (
        "import json, sys\n"
        "from georoute.cli import build_parser\n"
        "build_parser()\n"
        f"print(json.dumps([m for m in {SHELL_LIBRARIES!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
