"""Fixtures of the worker tests: a private checkpoint directory, segment specs, fake effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trainers.device import Device, select_device


@dataclass(frozen=True)
class Spec:
    """Shaped like sweeps.services.SegmentSpec, so the runner can be driven without a DB."""

    trainer: str
    params: dict[str, Any]
    budget: float
    trainer_args: dict[str, Any] = field(default_factory=dict)
    trial_id: int = 7
    sweep_id: int = 3
    number: int = 1
    seed: int = 11
    rung: int = 0
    attempt: int = 1
    start_resource: float = 0.0
    step: int = 0
    checkpoint: str = ""
    objective_metric: str = "val_loss"
    objective_mode: str = "min"
    resource_unit: str = "epochs"
    horizon: float = 27.0
    decision: str = "continue"


class Effects:
    """Records what a segment wrote and answers heartbeats from a script."""

    def __init__(self, decisions: Callable[[int], str] | None = None) -> None:
        self.points: list[tuple[str, int, float | None, float]] = []
        self.writes = 0
        self.heartbeats = 0
        self.nudges = 0
        self.checkpoints: list[tuple[str, int, float]] = []
        self.console: list[tuple[str, int | None]] = []
        self._decisions = decisions or (lambda n: "continue")

    def write(self, points: Any) -> None:
        self.writes += 1
        self.points.extend(points)

    def heartbeat(self) -> str:
        self.heartbeats += 1
        return self._decisions(self.heartbeats)

    def nudge(self) -> None:
        self.nudges += 1

    def saved(self, path: str, step: int, resource_done: float) -> bool:
        self.checkpoints.append((path, step, resource_done))
        return True

    def printed(self, text: str, exit_code: int | None) -> None:
        self.console.append((text, exit_code))

    def series(self, name: str) -> list[tuple[int, float | None]]:
        return [(step, value) for n, step, value, _ in self.points if n == name]

    def kwargs(self) -> dict[str, Any]:
        return {
            "heartbeat": self.heartbeat,
            "write": self.write,
            "nudge": self.nudge,
            "checkpoint_saved": self.saved,
            "console": self.printed,
        }


@pytest.fixture(autouse=True)
def checkpoint_dir(settings: Any, tmp_path: Path) -> Path:
    """Every test writes checkpoints into its own directory."""
    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "checkpoints"
    return settings.RUNGS_CHECKPOINT_DIR


@pytest.fixture
def cpu() -> Device:
    return select_device(prefer_cuda=False)


@pytest.fixture
def effects() -> Effects:
    return Effects()
