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
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from sweeps.models import RungResult, Sweep, Trial
from sweeps.search import (
    Complete,
    Finish,
    Promote,
    Start,
    Stop,
    SweepSnapshot,
    TrialSnapshot,
    Wait,
    build_sampler,
    build_scheduler,
    parse_space,
)
from sweeps.search.decisions import Decision, SettledBracket
from sweeps.search.encoding import validate_config
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
    if sampler.name == "bayes":
        # Imported here: scikit-optimize loads only in a process that runs a Bayesian sweep.
        from sweeps.search.samplers import BayesSampler, PooledSampler

        if isinstance(sampler, BayesSampler):
            sampler = PooledSampler(sampler)  # fits off the critical path; see its docstring
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
    """Every trial of the sweep (``trials``, in number order) with its rung results."""
    return _snapshot(
        sweep, trials, RungResult.objects.filter(sweep=sweep).values_list(*_RESULT), {}
    )


_RESULT = ("trial_id", "rung", "value", "se")


def _snapshot(
    sweep: Sweep,
    trials: Sequence[Trial | TrialRow],
    result_rows: Iterable[tuple[int, int, float | None, float | None]],
    settled: dict[int, SettledBracket],
) -> SweepSnapshot:
    """``trials`` (in number order) with their results (``result_rows``: :data:`_RESULT`
    of every result they have, each trial's in rung order) and the ``settled`` brackets."""
    results: dict[int, dict[int, float]] = {}
    errors: dict[int, dict[int, float]] = {}
    for trial_id, rung, value, se in result_rows:
        results.setdefault(trial_id, {})[rung] = _objective(value, sweep.objective_mode)
        if se is not None:
            errors.setdefault(trial_id, {})[rung] = se
    placed = [t for t in trials if not _unplaced(t)]
    busy = sum(t.status in (TrialStatus.PENDING, TrialStatus.RUNNING) for t in placed)
    return SweepSnapshot(
        trials=tuple(
            TrialSnapshot(
                id=t.id, params=t.params, status=t.status, bracket=t.bracket, rung=t.rung,
                results=results.get(t.id, {}), manual_promotions=frozenset(t.manual_rungs), manual=t.manual,
                errors=errors.get(t.id, {}),
            )
            for t in placed
        ),
        free_slots=max(0, sweep.concurrency - busy),
        max_trials=sweep.max_trials,
        queued_configs=tuple(t.params for t in trials if _unplaced(t)),
        settled=settled,
    )  # fmt: skip


def _unplaced(trial: Trial | TrialRow) -> bool:
    """A config a user enqueued that the scheduler has not given a bracket and rung yet."""
    return trial.manual and trial.status == TrialStatus.PENDING and trial.budget == 0


# The same test as :func:`_unplaced`, in SQL.
_UNPLACED = Q(manual=True, status=TrialStatus.PENDING, budget=0)
# Nothing brings these back but a user's promotion, which makes them pending again.
_FINISHED = tuple(sorted(TrialStatus.FINISHED))
# Above this many running brackets the turn reads every trial: as fast by then, and an
# ``IN`` list stays far below SQLite's 999 parameters.
_MAX_OPEN_BRACKETS = 400


def _params_of(sweep: Sweep) -> dict[int, dict[str, Any]]:
    """This process's cache of the sweep's trial params (trial id -> params). A turn adds
    the trials it created once they are committed: a rolled-back row's id may be reused
    (SQLite), so its params must never be remembered."""
    key = (sweep.pk, sweep.created_at)
    with _cache_lock:
        params = _params.setdefault(key, {})
        _params.move_to_end(key)
        while len(_params) > 64:
            _params.popitem(last=False)
    return params


def _trial_rows(sweep: Sweep, only: Q | None = None) -> list[TrialRow]:
    """The sweep's trials as plain values, in number order (``only``: those it matches).

    Not locked row by row: every change to a trial's place (the steering services, the
    segment services, the reaper) locks the sweep row with the trial's, so the sweep lock
    that :func:`~sweeps.services.advance_sweep` holds keeps them all out. Params never change
    once a trial exists, so each process decodes them once per trial.
    """
    fields = [f for f in TrialRow._fields if f != "params"]
    trials = sweep.trials.all() if only is None else sweep.trials.filter(only)
    values = list(trials.order_by("number").values_list(*fields))
    params = _params_of(sweep)
    missing = [v[0] for v in values if v[0] not in params]
    if missing:
        params.update(Trial.objects.filter(pk__in=missing).values_list("id", "params"))
    return [TrialRow(params=params[v[0]], **dict(zip(fields, v, strict=True))) for v in values]


def _brackets(sweep: Sweep) -> list[tuple[int, int, int, int, int]]:
    """Per bracket of placed trials: (bracket, trials, proposed, unfinished, last number).

    One aggregate in the database instead of every trial in Python (~5 ms at 10,000
    trials). A bracket without unfinished trials is settled (see :class:`SettledBracket`)
    unless :func:`_unreported` finds one of its trials finished without its rung's result.
    """
    return list(
        sweep.trials.exclude(_UNPLACED)
        .order_by()
        .values("bracket")
        .annotate(
            n=Count("id"),
            proposed=Count("id", filter=Q(manual=False)),
            unfinished=Count("id", filter=~Q(status__in=_FINISHED)),
            last=Max("number"),
        )
        .values_list("bracket", "n", "proposed", "unfinished", "last")
    )


def _unreported(sweep: Sweep) -> set[int]:
    """Brackets holding a stopped or completed trial without a result at the rung it is at:
    the rule waits for that result, so such a bracket is not settled. A probe per finished
    trial (~7 ms at 10,000), so it is asked only when it can change the turn."""
    reported = RungResult.objects.filter(trial=OuterRef("pk"), rung=OuterRef("rung"))
    return set(
        sweep.trials.filter(status__in=(TrialStatus.STOPPED, TrialStatus.COMPLETED))
        .exclude(Exists(reported))
        .order_by()
        .values_list("bracket", flat=True)
        .distinct()
    )


class Turn(NamedTuple):
    """What a scheduler turn read and decided (before anything is applied)."""

    rows: list[TrialRow]  # the trials read, in number order: every unplaced one among them
    last_number: int  # the sweep's highest trial number
    decisions: list[Decision]


def decide_turn(sweep: Sweep, *, settled: bool | None = None) -> Turn:
    """Ask the scheduler what to do now; nothing is applied.

    Where the scheduler accepts it (sha and hyperband with a sampler that reads only its
    index), brackets with nothing left to decide are given by their size
    (``settled=True``, the default then): the turn reads the trials of the brackets still
    running, so its cost follows them, not the sweep (~610 ms at 10,000 trials reading
    every one). ``settled=False`` reads every trial; both decide the same (tested).
    """
    scheduler = scheduler_for(sweep)
    if settled is None:
        settled = scheduler.accepts_settled()
    brackets = _brackets(sweep) if settled else []
    running = {b for b, _, _, unfinished, _ in brackets if unfinished}
    if not settled or len(running) > _MAX_OPEN_BRACKETS:
        rows = _trial_rows(sweep)
        snap = snapshot(sweep, rows)
        return Turn(rows, max((r.number for r in rows), default=0), scheduler.decide(snap))
    last = max((last for *_, last in brackets), default=0)
    turn, snap = _decide_running(sweep, scheduler, brackets, running, last)
    if isinstance(turn.decisions[-1], Wait) and snap.free_slots > 0:
        # A bracket whose trials are all finished, one without its rung's result, decides
        # nothing either; the rule only names it in the reason it waits, which is given
        # only here: when a turn waits with a slot free.
        unreported = _unreported(sweep) - running
        if unreported:
            turn, snap = _decide_running(sweep, scheduler, brackets, running | unreported, last)
    return turn


def _decide_running(
    sweep: Sweep,
    scheduler: Scheduler,
    brackets: list[tuple[int, int, int, int, int]],
    running: set[int],
    last: int,
) -> tuple[Turn, SweepSnapshot]:
    """The turn decided from the trials of the ``running`` brackets (and the unplaced
    ones), every other bracket given by its size."""
    rows = _trial_rows(sweep, Q(bracket__in=sorted(running)) | _UNPLACED)
    ids = [r.id for r in rows if not _unplaced(r)]
    settled = {
        b: SettledBracket(n, proposed) for b, n, proposed, *_ in brackets if b not in running
    }
    # By trial alone (the sweep's filter made SQLite scan every result of the sweep), in
    # batches that keep below SQLite's parameter limit.
    results = [
        row
        for i in range(0, len(ids), 900)
        for row in RungResult.objects.filter(trial_id__in=ids[i : i + 900]).values_list(*_RESULT)
    ]
    snap = _snapshot(sweep, rows, results, settled)
    last = max([last, *(r.number for r in rows)])
    return Turn(rows, last, scheduler.decide(snap)), snap


class Applied(NamedTuple):
    """What applying a turn's decisions left: whether the scheduler says the sweep is over,
    and how many of its trials are running now."""

    over: bool
    running: int


def apply_decisions(sweep: Sweep, known: Sequence[Trial] = ()) -> Applied:
    """Ask the scheduler and apply its decisions (see :class:`Applied`).

    ``known``: trials the caller holds locked and up to date (a segment's end passes its
    trial), so a decision about one of them does not read it again."""
    rows, number, decisions = decide_turn(sweep)
    # Every running trial is among the rows (its bracket is unfinished), so the turn knows
    # how many run without counting them again.
    running = sum(r.status == TrialStatus.RUNNING for r in rows)
    placing = [r.id for r in rows if _unplaced(r)][
        : sum(isinstance(d, Start) and d.manual for d in decisions)
    ]
    named = {d.trial_id for d in decisions if isinstance(d, Stop | Complete | Promote)}
    by_id = {t.pk: t for t in known if t.pk in named}
    if unread := [pk for pk in (*named, *placing) if pk not in by_id]:
        by_id.update(Trial.objects.in_bulk(unread))
    queued = [by_id[pk] for pk in placing]
    created: dict[int, dict[str, Any]] = {}
    finished = False
    for decision in decisions:
        if isinstance(decision, Stop | Complete | Promote):
            running -= by_id[decision.trial_id].status == TrialStatus.RUNNING
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
            ties = [*trial.tie_rungs, decision.rung] if decision.tie else trial.tie_rungs
            move_status(trial, TrialStatus.PENDING, rung=decision.rung, budget=decision.budget,
                        tie_rungs=ties)  # fmt: skip
            record_event(
                sweep,
                "promoted",
                f"trial {trial.number} promoted to rung {decision.rung}"
                + (
                    " as a tie: within noise of the last trial the rule kept"
                    if decision.tie
                    else ""
                ),
                trial=trial,
                tie=decision.tie,
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
            trial = Trial.objects.create(
                sweep=sweep, number=number, params=dict(decision.params), bracket=decision.bracket,
                rung=decision.rung, budget=decision.budget,
            )  # fmt: skip
            created[trial.pk] = json.loads(json.dumps(trial.params))  # as the row reads back
        elif isinstance(decision, Finish):
            finished = True
    if created:  # the next turn in this process need not read their params back
        transaction.on_commit(lambda: _params_of(sweep).update(created))
    return Applied(finished, running)


def dispatch_pending(sweep: Sweep, running: int | None = None) -> list[tuple[int, int, int]]:
    """Move placed pending trials into free worker slots; return the segments to enqueue.

    ``running``: how many of the sweep's trials run now, when the caller knows (counted
    here otherwise)."""
    if running is None:
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
