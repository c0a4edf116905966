"""The words every part of Rungs shares: statuses, a segment's decisions and its outcomes.

Django-free, so that :mod:`sweeps.search` and the trainers can use it (an import-linter
contract in ``pyproject.toml`` keeps it so). Each is a ``StrEnum``: a member equals its
string, so database values, JSON and comparisons with plain strings stay what they were.

The sets (``TrialStatus.ACTIVE`` ...) are attached after each class: inside the class body
they would become members themselves.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = ["Outcome", "SegmentDecision", "SweepStatus", "TrialStatus"]


class SweepStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    CHOICES: ClassVar[list[tuple[str, str]]]
    TERMINAL: ClassVar[frozenset[SweepStatus]]


SweepStatus.CHOICES = [(s.value, s.value) for s in SweepStatus]
SweepStatus.TERMINAL = frozenset({SweepStatus.CANCELLED, SweepStatus.FAILED})


class TrialStatus(StrEnum):
    PENDING = "pending"  # created or promoted; waits for a worker slot
    RUNNING = "running"  # a segment is training it
    WAITING = "waiting"  # finished a rung; the scheduler has not decided yet
    PAUSED = "paused"  # paused by a user; keeps its place and checkpoint
    STOPPED = "stopped"  # cut by the scheduler (a user may still promote it by hand)
    COMPLETED = "completed"  # reached the largest budget (a user may still extend it)
    KILLED = "killed"  # killed by a user
    FAILED = "failed"  # error, out of memory, or too many lost workers
    DIVERGED = "diverged"  # NaN / inf loss

    CHOICES: ClassVar[list[tuple[str, str]]]
    TERMINAL: ClassVar[frozenset[TrialStatus]]
    FINISHED: ClassVar[frozenset[TrialStatus]]
    ACTIVE: ClassVar[frozenset[TrialStatus]]


TrialStatus.CHOICES = [(s.value, s.value) for s in TrialStatus]
TrialStatus.TERMINAL = frozenset({TrialStatus.KILLED, TrialStatus.FAILED, TrialStatus.DIVERGED})
TrialStatus.FINISHED = (
    frozenset({TrialStatus.STOPPED, TrialStatus.COMPLETED}) | TrialStatus.TERMINAL
)
TrialStatus.ACTIVE = frozenset(
    {TrialStatus.PENDING, TrialStatus.RUNNING, TrialStatus.WAITING, TrialStatus.PAUSED}
)


class SegmentDecision(StrEnum):
    """What a running segment is told at each heartbeat (:func:`sweeps.services.heartbeat`)."""

    CONTINUE = "continue"
    STOP = "stop"
    PAUSE = "pause"


class Outcome(StrEnum):
    """How a segment ended; :mod:`trainers.runner` reports each to one service function.

    ``stop`` and ``pause`` are a trainer obeying the decision of the same name.
    """

    DONE = "done"
    STOP = "stop"
    PAUSE = "pause"
    DIVERGED = "diverged"
    FAILED = "failed"
    RETRY = "retry"
