"""An in-memory sweep: applies decisions the way the app does, with simulated workers.

It is the executable reference for how decisions are applied (which status a ``Start``,
``Promote``, ``Stop`` or ``Complete`` leads to, what a user's kill / pause / promotion
changes), and drives the property tests and the search-quality benchmark. Time is counted
in resource units: a worker trains one unit per unit of time, and a promoted trial resumes
from its checkpoint, so it only trains the difference between the two rungs' budgets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeps.search.decisions import (
    COMPLETED,
    KILLED,
    PAUSED,
    PENDING,
    RUNNING,
    STOPPED,
    WAITING,
    Complete,
    Decision,
    Finish,
    Promote,
    Start,
    Stop,
    SweepSnapshot,
    TrialSnapshot,
)
from sweeps.search.schedulers.base import Scheduler

__all__ = ["Objective", "SimTrial", "Simulator"]

# (params, budget, trial id) -> objective value at that budget, lower is better.
Objective = Callable[[Mapping[str, Any], float, int], float]


@dataclass
class SimTrial:
    """A mutable trial row."""

    id: int
    params: dict[str, Any]
    status: str
    bracket: int
    rung: int
    budget: float
    manual: bool = False
    results: dict[int, float] = field(default_factory=dict)
    manual_promotions: set[int] = field(default_factory=set)
    trained: float = 0.0  # resource units trained so far (the checkpoint)
    paused_from: str = ""
    _frozen: tuple[tuple[Any, ...], TrialSnapshot] | None = field(
        default=None, repr=False, compare=False
    )

    def snapshot(self) -> TrialSnapshot:
        # Rebuilding every row's snapshot on every decision made long simulations
        # quadratic; results only grow, so this key says whether anything changed.
        key = (
            self.status,
            self.bracket,
            self.rung,
            len(self.results),
            len(self.manual_promotions),
            self.manual,
        )
        if self._frozen is not None and self._frozen[0] == key:
            return self._frozen[1]
        snap = TrialSnapshot(
            self.id,
            self.params,
            self.status,
            self.bracket,
            self.rung,
            dict(self.results),
            frozenset(self.manual_promotions),
            self.manual,
        )
        self._frozen = (key, snap)
        return snap

    def finite(self) -> bool:
        """Whether the result at the current rung exists and is a finite number."""
        return self.rung in self.results and math.isfinite(self.results[self.rung])


class Simulator:
    """Drives ``scheduler`` against ``objective`` with ``workers`` parallel workers."""

    def __init__(
        self,
        scheduler: Scheduler,
        objective: Objective,
        *,
        workers: int = 4,
        max_trials: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.scheduler = scheduler
        self.objective = objective
        self.workers = workers
        self.max_trials = max_trials
        self.trials: dict[int, SimTrial] = {}
        self.queued: list[dict[str, Any]] = []
        self.spent = 0.0  # resource units trained, all trials together
        self.clock = 0.0
        self.log: list[tuple[float, int, int, float]] = []  # (spent, trial, rung, value)
        self.decisions: list[Decision] = []
        self.finished = False

    # --- the app's side -------------------------------------------------------------------

    def snapshot(self) -> SweepSnapshot:
        busy = sum(1 for t in self.trials.values() if t.status in (PENDING, RUNNING))
        return SweepSnapshot(
            tuple(t.snapshot() for t in self.trials.values()),
            free_slots=max(self.workers - busy, 0),
            max_trials=self.max_trials,
            queued_configs=tuple(self.queued),
        )

    def apply(self, decisions: list[Decision]) -> None:
        for d in decisions:
            self.decisions.append(d)
            if isinstance(d, Start):
                tid = len(self.trials) + 1
                self.trials[tid] = SimTrial(
                    tid, dict(d.params), RUNNING, d.bracket, d.rung, d.budget, d.manual
                )
                if d.manual:
                    self.queued.pop(0)
            elif isinstance(d, Promote):
                t = self.trials[d.trial_id]
                t.status, t.rung, t.budget = RUNNING, d.rung, d.budget
                if d.manual:
                    t.manual_promotions.add(d.rung)
            elif isinstance(d, Stop):
                self.trials[d.trial_id].status = STOPPED
            elif isinstance(d, Complete):
                self.trials[d.trial_id].status = COMPLETED
            elif isinstance(d, Finish):
                self.finished = True

    def decide(self) -> list[Decision]:
        """Ask the scheduler until it starts nothing more (slots fill in one call normally)."""
        out: list[Decision] = []
        while True:
            decisions = self.scheduler.decide(self.snapshot())
            self.apply(decisions)
            out += decisions
            ran = any(isinstance(d, Start | Promote) for d in decisions)
            if not ran or self.snapshot().free_slots == 0:
                return out

    def advance(self) -> SimTrial | None:
        """Let time run until the next running trial finishes its rung; record its result."""
        running = [t for t in self.trials.values() if t.status == RUNNING]
        if not running:
            return None
        t = min(running, key=lambda r: (r.budget - r.trained, r.id))
        dt = max(t.budget - t.trained, 0.0)
        for r in running:
            step = min(dt, max(r.budget - r.trained, 0.0))
            r.trained += step
            self.spent += step
        self.clock += dt
        value = float(self.objective(t.params, t.budget, t.id))
        t.results[t.rung] = value
        t.status = WAITING
        self.log.append((self.spent, t.id, t.rung, value))
        return t

    def run(self, *, budget: float | None = None, max_events: int = 1_000_000) -> None:
        """Run until the sweep finishes, ``budget`` units are spent, or nothing can move."""
        for _ in range(max_events):
            self.decide()
            if self.finished or (budget is not None and self.spent >= budget):
                return
            if self.advance() is None:
                return

    # --- a user's steering --------------------------------------------------------------------

    def kill(self, trial_id: int) -> None:
        self.trials[trial_id].status = KILLED

    def pause(self, trial_id: int) -> None:
        t = self.trials[trial_id]
        t.paused_from, t.status = t.status, PAUSED

    def resume(self, trial_id: int) -> None:
        t = self.trials[trial_id]
        # Back where it was: a trial paused mid-rung is queued to finish that rung.
        t.status = (
            WAITING if t.rung in t.results else PENDING if t.paused_from == PENDING else RUNNING
        )

    def promote_by_hand(self, trial_id: int) -> Promote:
        decision = self.scheduler.manual_promotion(self.trials[trial_id].snapshot())
        self.apply([decision])
        return decision

    def enqueue(self, config: Mapping[str, Any]) -> None:
        self.queued.append(dict(config))
