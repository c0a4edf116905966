"""Nudges from synchronous code: the caller never waits, and waiting nudges are merged."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from sweeps import nudges

# Sweep ids no other test's rows have: a thread an earlier test left running (a worker, a
# live server) may still nudge its own sweeps, with small ids, through the patched layer.
ONE, TWO = 900_001, 900_002


class HeldLayer:
    """A channel layer whose sends (to this test's sweeps) wait until the test releases them."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert message == {"type": "sweep.nudge"}
        if group not in (f"sweep-{ONE}", f"sweep-{TWO}"):
            return
        self.sent.append(group)
        self.started.release()
        while not self.release.is_set():
            await asyncio.sleep(0.005)


@pytest.fixture
def layer(monkeypatch: pytest.MonkeyPatch) -> HeldLayer:
    held = HeldLayer()
    monkeypatch.setattr(nudges, "get_channel_layer", lambda: held)
    monkeypatch.setattr(nudges, "_sender", None)  # a fresh sender for this test
    yield held
    held.release.set()


def test_a_nudge_does_not_wait_for_the_send(layer: HeldLayer) -> None:
    started = time.monotonic()
    nudges.nudge_sweep(ONE)
    assert time.monotonic() - started < 1.0
    assert layer.started.acquire(timeout=5)
    assert layer.sent == [f"sweep-{ONE}"]  # still held: the caller went on without it


def test_nudges_waiting_behind_a_send_are_merged_per_sweep(layer: HeldLayer) -> None:
    nudges.nudge_sweep(ONE)
    assert layer.started.acquire(timeout=5)  # in flight: news from now on needs a new send
    for _ in range(3):
        nudges.nudge_sweep(ONE)
    nudges.nudge_sweep(TWO)
    layer.release.set()
    deadline = time.monotonic() + 5
    while len(layer.sent) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # no further send may follow
    assert sorted(layer.sent) == [f"sweep-{ONE}", f"sweep-{ONE}", f"sweep-{TWO}"]


def test_a_failing_send_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            raise ConnectionError("redis is down")

    monkeypatch.setattr(nudges, "get_channel_layer", Broken)
    monkeypatch.setattr(nudges, "_sender", None)
    nudges.nudge_sweep(7)
    deadline = time.monotonic() + 5
    while "could not nudge sweep 7" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "could not nudge sweep 7" in caplog.text
