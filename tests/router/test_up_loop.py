"""`georoute up`/`router` run on uvloop when it is installed, unless
GEOROUTE_EVENT_LOOP=asyncio asks for the standard loop."""

from __future__ import annotations

import asyncio

import pytest

from router.cli_up import _loop_factory


def test_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv("GEOROUTE_EVENT_LOOP", raising=False)
    assert _loop_factory() is uvloop.new_event_loop


def test_standard_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOROUTE_EVENT_LOOP", " AsyncIO ")
    assert _loop_factory() is None


def test_the_factory_runs_a_coroutine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEOROUTE_EVENT_LOOP", raising=False)

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        assert runner.run(answer()) == 42
