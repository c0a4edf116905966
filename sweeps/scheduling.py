"""The bridge between the database and the pure search engine in :mod:`sweeps.search`.

Rows in, a frozen :class:`SweepSnapshot` out; the scheduler's decisions back into rows.
Called only from :func:`sweeps.services.advance_sweep` (under the sweep's row lock) and the
steering services. Schedulers and samplers are cached per sweep in each process only as
an optimisation (a Bayesian sampler keeps a pool of proposals fitted in the background);
everything they decide is recomputed from the snapshot, so a cold process decides the same.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from sweeps.models import RungResult, Sweep, Trial
from sweeps.search import (
    Complete,
    Finish,
    PooledSampler,
    Promote,
    Start,
    Stop,
    SweepSnapshot,
    TrialSnapshot,
    build_sampler,
    build_scheduler,
    parse_space,
)
from sweeps.search.encoding import validate_config
from sweeps.search.samplers import BayesSampler
from sweeps.search.schedulers import Scheduler
from sweeps.states import TrialStatus
from sweeps.transitions import move_status, record_event

_cache: dict[int, tuple[str, Scheduler]] = {}
# (sweep id, created) -> trial id -> params, for the sweeps this process decided on lately.
# With the creation time in the key a reused id (SQLite reuses them) is another sweep.
_params: OrderedDict[tuple[int, Any], dict[int, dict[str, Any]]] = OrderedDict()
_cache_lock = threading.Lock()


def scheduler_for(sweep: Sweep) -> Scheduler:
    """The sweep's scheduler (with its sampler), rebuilt when the sweep's settings change."""
    key = json.dumps([sweep.space, sweep.sampler, sweep.scheduler, sweep.seed], sort_keys=True)
    with _cache_lock:
        cached = _cache.get(sweep.pk)
        if cached is not None and cached[0] == key:
            return cached[1]
    space = parse_space(sweep.space)
    sampler = build_sampler(sweep.sampler, space, seed=sweep.seed, grid_cap=settings.RUNGS_GRID_CAP)
    if isinstance(sampler, BayesSampler):
        sampler = PooledSampler(sampler)  # fits off the critical path; see the module docstring
    scheduler = build_scheduler(sweep.scheduler, space, sampler, seed=sweep.seed)
    with _cache_lock:
        old = _cache.get(sweep.pk)
        if old is not None and old[1] is not scheduler and hasattr(old[1].sampler, "close"):
            old[1].sampler.close()
        _cache[sweep.pk] = (key, scheduler)
    return scheduler


def rung_budget(sweep: Sweep, bracket: int, rung: int) -> float:
    """Resource (epochs, steps) a trial trains to at ``rung``; rungs above the top keep growing."""
    return scheduler_for(sweep).budget(rung)


def max_rung(sweep: Sweep, bracket: int) -> int:
    return scheduler_for(sweep).top_rung


def clean_params(sweep: Sweep, params: Any) -> dict[str, Any]:
    """A user's hand-written config, checked against the sweep's space (``params.<name>``)."""
    return validate_config(parse_space(sweep.space), params)


def next_number(sweep: Sweep) -> int:
    return (sweep.trials.aggregate(n=Max("number"))["n"] or 0) + 1


def _objective(value: float | None, mode: str) -> float:
    """Lower is better; a NaN/inf result (stored as NULL) stays non-finite."""
    if value is None:
        return math.nan
    return value if mode == "min" else -value


class TrialRow(NamedTuple):
    """What a snapshot needs of a trial (a :class:`Trial` has the same attributes)."""

    id: int
    number: int
    params: dict[str, Any]
    status: str
    bracket: int
    rung: int
    budget: float
    manual: bool
    manual_rungs: list[int]


def snapshot(sweep: Sweep, trials: Sequence[Trial | TrialRow]) -> SweepSnapshot:
    results: dict[int, dict[int, float]] = {}
    for trial_id, rung, value in RungResult.objects.filter(sweep=sweep).values_list(
        "trial_id", "rung", "value"
    ):
        results.setdefault(trial_id, {})[rung] = _objective(value, sweep.objective_mode)
    placed = [t for t in trials if not _unplaced(t)]
    busy = sum(t.status in (TrialStatus.PENDING, TrialStatus.RUNNING) for t in placed)
    return SweepSnapshot(
        trials=tuple(
            TrialSnapshot(
                id=t.id, params=t.params, status=t.status, bracket=t.bracket, rung=t.rung,
                results=results.get(t.id, {}), manual_promotions=frozenset(t.manual_rungs), manual=t.manual,
            )
            for t in placed
        ),
        free_slots=max(0, sweep.concurrency - busy),
        max_trials=sweep.max_trials,
        queued_configs=tuple(t.params for t in trials if _unplaced(t)),
    )  # fmt: skip


def _unplaced(trial: Trial | TrialRow) -> bool:
    """A config a user enqueued that the scheduler has not given a bracket and rung yet."""
    return trial.manual and trial.status == TrialStatus.PENDING and trial.budget == 0


def _trial_rows(sweep: Sweep) -> list[TrialRow]:
    """The sweep's trials as plain values, in number order.

    Not locked row by row: every change to a trial's place (the steering services, the
    segment services, the reaper) locks the sweep row with the trial's, so the sweep lock
    that :func:`~sweeps.services.advance_sweep` holds keeps them all out. Params never change
    once a trial exists, so each process decodes them once per trial.
    """
    fields = [f for f in TrialRow._fields if f != "params"]
    values = list(sweep.trials.order_by("number").values_list(*fields))
    key = (sweep.pk, sweep.created_at)
    with _cache_lock:
        params = _params.setdefault(key, {})
        _params.move_to_end(key)
        while len(_params) > 64:
            _params.popitem(last=False)
    missing = [v[0] for v in values if v[0] not in params]
    if missing:
        params.update(Trial.objects.filter(pk__in=missing).values_list("id", "params"))
    return [TrialRow(params=params[v[0]], **dict(zip(fields, v, strict=True))) for v in values]


def apply_decisions(sweep: Sweep) -> bool:
    """Ask the scheduler and apply its decisions; True when it says the sweep is over."""
    rows = _trial_rows(sweep)
    decisions = scheduler_for(sweep).decide(snapshot(sweep, rows))
    placing = [r.id for r in rows if _unplaced(r)][
        : sum(isinstance(d, Start) and d.manual for d in decisions)
    ]
    named = {d.trial_id for d in decisions if isinstance(d, Stop | Complete | Promote)}
    by_id = Trial.objects.in_bulk([*named, *placing])
    queued = [by_id[pk] for pk in placing]
    number = max((r.number for r in rows), default=0)
    finished = False
    for decision in decisions:
        if isinstance(decision, Stop):
            trial = by_id[decision.trial_id]
            move_status(trial, TrialStatus.STOPPED, finished_at=timezone.now())
            record_event(
                sweep, "stopped", f"trial {trial.number} cut: {decision.reason}", trial=trial
            )
        elif isinstance(decision, Complete):
            trial = by_id[decision.trial_id]
            move_status(trial, TrialStatus.COMPLETED, finished_at=timezone.now())
            record_event(sweep, "completed", f"trial {trial.number} completed", trial=trial)
        elif isinstance(decision, Promote):
            trial = by_id[decision.trial_id]
            move_status(trial, TrialStatus.PENDING, rung=decision.rung, budget=decision.budget)
            record_event(
                sweep,
                "promoted",
                f"trial {trial.number} promoted to rung {decision.rung}",
                trial=trial,
            )
        elif isinstance(decision, Start) and decision.manual and queued:
            trial = queued.pop(0)
            trial.bracket, trial.rung, trial.budget = (
                decision.bracket,
                decision.rung,
                decision.budget,
            )
            trial.save(update_fields=["bracket", "rung", "budget"])
        elif isinstance(decision, Start):
            number += 1
            Trial.objects.create(
                sweep=sweep, number=number, params=dict(decision.params), bracket=decision.bracket,
                rung=decision.rung, budget=decision.budget,
            )  # fmt: skip
        elif isinstance(decision, Finish):
            finished = True
    return finished


def dispatch_pending(sweep: Sweep) -> list[tuple[int, int, int]]:
    """Move placed pending trials into free worker slots; return the segments to enqueue."""
    running = sweep.trials.filter(status=TrialStatus.RUNNING).count()
    free = sweep.concurrency - running
    if free <= 0:
        return []
    pending = (
        sweep.trials.select_for_update()
        .filter(status=TrialStatus.PENDING, budget__gt=0)
        .order_by("-manual", "number")[:free]
    )
    segments = []
    for trial in pending:
        move_status(
            trial,
            TrialStatus.RUNNING,
            attempt=trial.attempt + 1,
            worker="",
            heartbeat_at=timezone.now(),
        )
        segments.append((trial.pk, trial.rung, trial.attempt))
    return segments
