"""Frozen snapshots in, explicit decisions out.

The orchestration code reads the database, builds a :class:`SweepSnapshot` and asks a
scheduler what to do; it gets back a list of decisions and applies them in one
transaction. Nothing here remembers anything between calls: every decision is recomputed
from the snapshot (state is rebuilt from the database, never pickled).

Objective values in snapshots are already sign-normalised: **lower is better**. Use
:func:`normalise` to turn a raw metric into that form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from sweeps.enums import TrialStatus

__all__ = [
    "ACTIVE",
    "COMPLETED",
    "DIVERGED",
    "FAILED",
    "FINISHED",
    "KILLED",
    "PAUSED",
    "PENDING",
    "RUNNING",
    "STATUSES",
    "STOPPED",
    "TERMINAL",
    "WAITING",
    "Complete",
    "Decision",
    "Finish",
    "Promote",
    "SettledBracket",
    "Start",
    "Stop",
    "SweepSnapshot",
    "TrialSnapshot",
    "Wait",
    "normalise",
]

# Trial statuses, as stored by the app (one definition, shared with the app and the trainers).
PENDING = TrialStatus.PENDING  # created / queued for a rung, not started yet (holds a slot)
RUNNING = TrialStatus.RUNNING
PAUSED = TrialStatus.PAUSED  # paused by a user: keeps its place, resumes where it was
WAITING = TrialStatus.WAITING  # finished its rung, result recorded, awaiting a decision
STOPPED = TrialStatus.STOPPED  # cut by the scheduler (a user may still promote it by hand)
COMPLETED = TrialStatus.COMPLETED  # reached the top rung (a user may still extend it)
KILLED = TrialStatus.KILLED  # by a user: terminal
FAILED = TrialStatus.FAILED  # crashed: terminal
DIVERGED = TrialStatus.DIVERGED  # NaN / inf: terminal

# Plain strings, so the error message below lists values, not enum reprs.
STATUSES = (PENDING.value, RUNNING.value, PAUSED.value, WAITING.value, STOPPED.value,
            COMPLETED.value, KILLED.value, FAILED.value, DIVERGED.value)  # fmt: skip
ACTIVE = TrialStatus.ACTIVE
TERMINAL = TrialStatus.TERMINAL
FINISHED = TrialStatus.FINISHED


def normalise(value: float, mode: str) -> float:
    """Turn a raw objective into "lower is better": ``mode`` is ``"min"`` or ``"max"``."""
    if mode == "min":
        return float(value)
    if mode == "max":
        return -float(value)
    raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


def _frozen_map(m: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True)
class TrialSnapshot:
    """One trial as the database holds it.

    ``rung`` is the rung the trial is at: the one it is pending / running / paused for, or
    the last one it finished. ``results`` maps rung index to the objective at that rung's
    budget (lower is better; NaN / inf allowed and never promoted). ``manual_promotions``
    holds the rungs the trial *entered* by a user's promotion or budget extension.
    ``manual`` marks a config enqueued by a user (it does not advance the sampler).
    """

    id: int
    params: Mapping[str, Any]
    status: str
    bracket: int = 0
    rung: int = 0
    results: Mapping[int, float] = field(default_factory=dict)
    manual_promotions: frozenset[int] = frozenset()
    manual: bool = False
    # rung -> the standard error of that rung's result, where the trainer reported one
    errors: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"trial {self.id}: status must be one of {list(STATUSES)}, got {self.status!r}"
            )
        if self.rung < 0 or self.bracket < 0:
            raise ValueError(f"trial {self.id}: rung and bracket must be >= 0")
        object.__setattr__(self, "params", _frozen_map(self.params))
        object.__setattr__(
            self, "results", _frozen_map({int(k): float(v) for k, v in self.results.items()})
        )
        object.__setattr__(self, "manual_promotions", frozenset(self.manual_promotions))

    def result(self, rung: int) -> float | None:
        """The objective at ``rung``, or None if the trial has not reported it."""
        return self.results.get(rung)

    @property
    def has_current_result(self) -> bool:
        """Whether the trial has reported the rung it is at."""
        return self.rung in self.results

    @property
    def occupies_slot(self) -> bool:
        """Whether a worker is (or is about to be) busy with it."""
        return self.status in (PENDING, RUNNING)

    def finite(self, rung: int) -> bool:
        v = self.results.get(rung)
        return v is not None and math.isfinite(v)


@dataclass(frozen=True)
class SettledBracket:
    """A bracket of a synchronous scheduler (sha, hyperband) with nothing left to decide,
    given by its size instead of its trials.

    Settled means every trial in it is finished: stopped or completed with a result at the
    rung it is at, or killed, failed or diverged. Such a bracket yields no stop, promotion or
    wait; only its size still counts (places left at its entry rung, the sweep's trial count
    and the sampler's index). ``trials``: how many it holds; ``proposed``: how many of them
    the sampler proposed (not enqueued by hand).
    """

    trials: int
    proposed: int

    def __post_init__(self) -> None:
        if not 0 <= self.proposed <= self.trials:
            raise ValueError(
                f"a settled bracket needs 0 <= proposed <= trials, got {self.proposed} "
                f"and {self.trials}"
            )


@dataclass(frozen=True)
class SweepSnapshot:
    """Everything a scheduler may look at, frozen.

    ``free_slots``: how many trials the app can start or resume now (concurrency minus the
    trials pending or running). ``max_trials``: cap on the number of trials (None = no cap);
    queued manual configs are started even when it is reached. ``queued_configs``: configs
    a user enqueued, in order; the first ones are started before anything else.
    ``settled``: bracket -> :class:`SettledBracket`, brackets whose trials are left out of
    ``trials`` (only sha and hyperband, with a sampler that reads nothing but how many
    configs it proposed, accept them); a sweep of 10,000 trials is then decided from the
    few brackets still running.
    """

    trials: tuple[TrialSnapshot, ...] = ()
    free_slots: int = 1
    max_trials: int | None = None
    queued_configs: tuple[Mapping[str, Any], ...] = ()
    settled: Mapping[int, SettledBracket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.free_slots < 0:
            raise ValueError(f"free_slots must be >= 0, got {self.free_slots}")
        if self.max_trials is not None and self.max_trials < 0:
            raise ValueError(f"max_trials must be >= 0 or None, got {self.max_trials}")
        ids = [t.id for t in self.trials]
        if len(set(ids)) != len(ids):
            raise ValueError("trial ids must be unique within a snapshot")
        for t in self.trials:
            if t.bracket in self.settled:
                raise ValueError(
                    f"trial {t.id} is in bracket {t.bracket}, which the snapshot gives as "
                    "settled: a settled bracket is given by its size alone"
                )
        if any(b < 0 for b in self.settled):
            raise ValueError("settled brackets must be >= 0")
        object.__setattr__(self, "trials", tuple(sorted(self.trials, key=lambda t: t.id)))
        object.__setattr__(
            self, "queued_configs", tuple(_frozen_map(c) for c in self.queued_configs)
        )
        object.__setattr__(self, "settled", _frozen_map(self.settled))

    @cached_property
    def n_trials(self) -> int:
        """Trials the sweep has placed: those in ``trials`` and those in settled brackets."""
        return len(self.trials) + sum(s.trials for s in self.settled.values())

    @cached_property
    def n_proposed(self) -> int:
        """Of :attr:`n_trials`, those the sampler proposed (not enqueued by hand)."""
        return sum(1 for t in self.trials if not t.manual) + sum(
            s.proposed for s in self.settled.values()
        )

    def trial(self, trial_id: int) -> TrialSnapshot:
        for t in self.trials:
            if t.id == trial_id:
                return t
        raise KeyError(trial_id)


# --- decisions --------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Create a trial with ``params`` and run it to ``budget`` (the resource of ``rung``).

    ``manual``: the config was enqueued by a user. ``source`` says where the config came
    from (``"manual"``, ``"grid"``, ``"random"``, ``"sobol"``, ``"bayes"``,
    ``"bayes-initial"``, ...), for the dashboard.
    """

    params: Mapping[str, Any]
    bracket: int
    rung: int
    budget: float
    manual: bool = False
    source: str = ""


@dataclass(frozen=True)
class Promote:
    """Resume trial ``trial_id`` (from its checkpoint) and train it up to ``budget``.

    ``manual``: a user asked for it (manual promotion or budget extension); the app records
    ``rung`` in the trial's ``manual_promotions``. ``tie``: see ``keep_ties`` in
    :mod:`sweeps.search.schedulers`.
    """

    trial_id: int
    rung: int
    budget: float
    manual: bool = False
    tie: bool = False  # promoted by ``keep_ties``: within noise of the last one the rule kept


@dataclass(frozen=True)
class Stop:
    """Cut the trial: it finished a rung and the rule does not give it more budget."""

    trial_id: int
    reason: str


@dataclass(frozen=True)
class Complete:
    """The trial reached its last rung: it is done."""

    trial_id: int


@dataclass(frozen=True)
class Wait:
    """Nothing can start now although slots may be free; ``reason`` says what blocks."""

    reason: str


@dataclass(frozen=True)
class Finish:
    """The sweep is over: nothing is active and nothing more will start."""

    reason: str


Decision = Start | Promote | Stop | Complete | Wait | Finish
