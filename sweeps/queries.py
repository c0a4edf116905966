"""Read-side queries shared by the dashboard and the REST API. Nothing here writes.

* :func:`bracket` — the halving picture: for each bracket, its rungs as columns (budget on
  top) and the trials that entered each rung, ranked by their rung result, with promotions
  (by the rule or by hand) and the flags a page draws (cut, running, killed, ...).
* :func:`sweep_summary` / :func:`sweep_summaries` — counts, progress and the best trial.
* :func:`trial_rows` — the light per-trial rows of the trial table.
* :func:`metric_series` — every trial's curves thinned to a point budget, from the stored
  rollups (:func:`fold_buckets`) plus the points past them, aggregated on the database;
  :func:`downsample` / :func:`downsample_points` — thinning in Python. Thinning keeps the
  extremes of each bucket (min and max), so a spike or a divergence is never smoothed
  away, and keeps the first and last point of each series.
* :func:`param_importance` — how much each parameter explains of the objective.

The pure functions (``build_bracket``, ``downsample``, ``fold_buckets``,
``param_importance``) take plain dicts and lists and are tested without a database.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)

from sweeps.actions import RowContext, context_for, row_actions
from sweeps.buckets import (  # re-exported: the read side and ingest share the arithmetic
    FINEST,
    ROLLUP_LEVELS,
    Bucket,
    bucket_width,
    draw_buckets,
    fold_buckets,
)
from sweeps.buckets import finite as _finite
from sweeps.buckets import rounded as _round
from sweeps.models import Event, MetricPoint, RungResult, SeriesRollup, Sweep, Trial
from sweeps.states import TrialStatus

# Per-step and per-epoch metrics the sweep page charts; trial pages chart every name.
SWEEP_CHART_METRICS = ("train_loss", "val_loss", "grad_norm", "lr")
# Default budgets of the first render: points per series, and points over all series.
SERIES_MAX_POINTS = 512
SERIES_TOTAL_POINTS = 100_000
SERIES_MIN_POINTS = 16

TRIAL_FIELDS = (
    "id", "number", "status", "params", "manual", "bracket", "rung", "budget", "manual_rungs",
    "step", "resource_done", "best_value", "worker", "error", "created_at", "started_at",
    "finished_at", "checkpoint",
)  # fmt: skip


def _better(mode: str, a: float, b: float) -> bool:
    """``a`` is strictly better than ``b`` under ``mode`` ("min" or "max")."""
    return a < b if mode == "min" else a > b


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# --- trials -------------------------------------------------------------------------------


def trial_row(values: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A JSON-ready trial row from ``Trial.objects.values(*TRIAL_FIELDS)``, with the actions
    allowed on it now (``ctx``: its sweep's :class:`~sweeps.actions.RowContext`)."""
    row = dict(values)
    for key in ("created_at", "started_at", "finished_at"):
        row[key] = _iso(row.get(key))
    row["best_value"] = _finite(row.get("best_value"))
    row["manual_rungs"] = list(row.get("manual_rungs") or [])
    row["error"] = (row.get("error") or "")[-500:]
    # Where the files are is the workers' business; the page needs whether they exist.
    row["has_checkpoint"] = bool(row.pop("checkpoint", ""))
    row["actions"] = row_actions("trial", row, ctx)
    return row


def trial_rows(sweep: Sweep | int, *, ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The sweep's trials (or only ``ids``) as JSON-ready rows, in trial-number order.

    Keys: id, number, status, params, manual, bracket, rung, budget, manual_rungs, step,
    resource_done, best_value, worker, error (last 500 characters), created_at, started_at,
    finished_at, has_checkpoint, actions (the names of the actions allowed now).
    """
    if isinstance(sweep, int):
        sweep = Sweep.objects.get(pk=sweep)
    ctx = context_for(sweep)
    qs = Trial.objects.filter(sweep_id=sweep.pk)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return [trial_row(v, ctx) for v in qs.order_by("number").values(*TRIAL_FIELDS)]


def rung_results(sweep: Sweep | int, *, after: int = 0) -> list[dict[str, Any]]:
    """The sweep's rung results with id > ``after``, oldest first: id, trial, rung, budget,
    value (None for NaN / inf), manual, created_at."""
    sweep_id = sweep if isinstance(sweep, int) else sweep.pk
    rows = RungResult.objects.filter(sweep_id=sweep_id, id__gt=after).order_by("id")
    return [
        {
            "id": r["id"],
            "trial": r["trial_id"],
            "rung": r["rung"],
            "budget": r["budget"],
            "value": _finite(r["value"]),
            "manual": r["manual"],
            "created_at": _iso(r["created_at"]),
        }
        for r in rows.values("id", "trial_id", "rung", "budget", "value", "manual", "created_at")
    ]


def events(
    sweep: Sweep | int,
    *,
    after: int = 0,
    trial: int | None = None,
    limit: int = 200,
    newest: bool = False,
) -> list[dict[str, Any]]:
    """Audit events (who did what, when) with id > ``after``, oldest first.

    ``newest=True`` returns the last ``limit`` events instead of the first ones.
    """
    sweep_id = sweep if isinstance(sweep, int) else sweep.pk
    qs = Event.objects.filter(sweep_id=sweep_id, id__gt=after)
    if trial is not None:
        qs = qs.filter(trial_id=trial)
    fields = ("id", "trial_id", "trial__number", "user__username", "kind", "message", "created_at")
    if newest:
        rows = list(qs.order_by("-id").values(*fields)[:limit])[::-1]
    else:
        rows = list(qs.order_by("id").values(*fields)[:limit])
    return [
        {
            "id": r["id"],
            "trial": r["trial_id"],
            "trial_number": r["trial__number"],
            "user": r["user__username"] or "",
            "kind": r["kind"],
            "message": r["message"],
            "created_at": _iso(r["created_at"]),
        }
        for r in rows
    ]


# --- summaries ----------------------------------------------------------------------------


def best_trial(trials: Iterable[Mapping[str, Any]], mode: str) -> dict[str, Any] | None:
    """The row with the best finite ``best_value`` (ties: the lower trial number)."""
    best: Mapping[str, Any] | None = None
    for row in trials:
        value = _finite(row.get("best_value"))
        if value is None:
            continue
        if best is None or _better(mode, value, best["best_value"]):
            best = row
    if best is None:
        return None
    return {
        "id": best["id"],
        "number": best["number"],
        "value": best["best_value"],
        "params": best.get("params"),
    }


def summarize(sweep: Sweep, trials: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """:func:`sweep_summary` from trial rows already in hand (the live tailer has them)."""
    counts: dict[str, int] = defaultdict(int)
    for row in trials:
        counts[row["status"]] += 1
    finished = sum(counts[s] for s in TrialStatus.FINISHED)
    total = len(trials)
    return {
        "id": sweep.pk,
        "name": sweep.name,
        "status": sweep.status,
        "owner": sweep.owner.get_username() if sweep.owner_id else "",
        "trainer": sweep.trainer,
        "objective": {"metric": sweep.objective_metric, "mode": sweep.objective_mode},
        "sampler": sweep.sampler,
        "scheduler": sweep.scheduler,
        "resource_unit": sweep.resource_unit,
        "max_trials": sweep.max_trials,
        "concurrency": sweep.concurrency,
        "space": sweep.space,
        "trials": total,
        "finished": finished,
        "active": sum(counts[s] for s in TrialStatus.ACTIVE),
        "counts": dict(counts),
        # Progress against the trial budget; manual trials can push "trials" past it.
        "progress": min(1.0, finished / max(sweep.max_trials, total, 1)),
        "best": best_trial(trials, sweep.objective_mode),
        "error": sweep.error,
        "created_at": _iso(sweep.created_at),
        "started_at": _iso(sweep.started_at),
        "finished_at": _iso(sweep.finished_at),
        "actions": row_actions("sweep", {"status": sweep.status}),
    }


def sweep_state(sweep: Sweep) -> dict[str, Any]:
    """What a steering reply says of a sweep: its settings that actions change, and the
    actions allowed on it now."""
    return {
        "status": sweep.status,
        "concurrency": sweep.concurrency,
        "max_trials": sweep.max_trials,
        "actions": row_actions("sweep", {"status": sweep.status}),
    }


def sweep_summary(sweep: Sweep) -> dict[str, Any]:
    """Status, trial counts per status, progress (finished / max trials) and the best trial.

    ``best`` is ``{"id", "number", "value", "params"}`` of the trial with the best
    ``best_value`` under the sweep's objective mode, or None before any result.
    """
    rows = Trial.objects.filter(sweep=sweep).values(
        "id", "number", "status", "params", "best_value"
    )
    return summarize(sweep, list(rows))


def best_so_far(values: Sequence[float | None], mode: str) -> list[float | None]:
    """The running best of ``values`` (None until the first finite value)."""
    out: list[float | None] = []
    best: float | None = None
    for value in values:
        value = _finite(value)
        if value is not None and (best is None or _better(mode, value, best)):
            best = value
        out.append(best)
    return out


def sweep_summaries(sweeps: Sequence[Sweep], spark_points: int = 40) -> dict[int, dict[str, Any]]:
    """For the sweep list, in three queries: per sweep id, ``trials``, ``finished``,
    ``progress``, ``best`` (value and trial number) and ``spark`` (best-so-far of its rung
    results in time order, at most ``spark_points`` values)."""
    ids = [s.pk for s in sweeps]
    out: dict[int, dict[str, Any]] = {
        s.pk: {"trials": 0, "finished": 0, "progress": 0.0, "best": None, "spark": []}
        for s in sweeps
    }
    counts = (
        Trial.objects.filter(sweep_id__in=ids)
        .values("sweep_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in counts:
        entry = out[row["sweep_id"]]
        entry["trials"] += row["n"]
        if row["status"] in TrialStatus.FINISHED:
            entry["finished"] += row["n"]
    modes = {s.pk: s.objective_mode for s in sweeps}
    series: dict[int, list[tuple[float, int]]] = defaultdict(list)
    results = (
        RungResult.objects.filter(sweep_id__in=ids, value__isnull=False)
        .order_by("id")
        .values_list("sweep_id", "value", "trial__number")
    )
    for sweep_id, value, number in results:
        if math.isfinite(value):
            series[sweep_id].append((value, number))
    for sweep in sweeps:
        entry = out[sweep.pk]
        entry["progress"] = min(1.0, entry["finished"] / max(sweep.max_trials, entry["trials"], 1))
        mode = modes[sweep.pk]
        best: tuple[float, int] | None = None
        for value, number in series[sweep.pk]:
            if best is None or _better(mode, value, best[0]):
                best = (value, number)
        if best is not None:
            entry["best"] = {"value": best[0], "number": best[1]}
        running = best_so_far([v for v, _ in series[sweep.pk]], mode)
        if len(running) > spark_points:
            idx = np.linspace(0, len(running) - 1, spark_points).round().astype(int)
            running = [running[i] for i in idx]
        entry["spark"] = [v for v in running if v is not None]
    return out


# --- the bracket --------------------------------------------------------------------------


def _rank_key(mode: str) -> Any:
    def key(cell: Mapping[str, Any]) -> tuple[int, float, int]:
        value = cell["value"]
        if value is None:
            # No result yet (or NaN): after every ranked trial, in trial order.
            return (1 if cell["has_result"] else 2, 0.0, cell["number"])
        return (0, value if mode == "min" else -value, cell["number"])

    return key


def build_bracket(
    trials: Iterable[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any]],
    *,
    mode: str = "min",
    planned: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The brackets of a sweep from its trial rows and rung results (pure).

    ``trials``: rows with id, number, status, bracket, rung, budget, manual_rungs.
    ``results``: rows with trial, rung, budget, value, manual. ``planned``: optional
    bracket -> ``{"entry": first rung, "budgets": {rung: budget}, "sizes": {rung: n}}``
    (see :func:`planned_rungs`), to show rungs nobody reached yet and their planned size.

    Returns one dict per bracket, in bracket order::

        {"bracket": 0, "entry": 0,
         "rungs": [{"rung": 0, "budget": 1.0, "size": 9, "planned_size": 9,
                    "cells": [{"trial": 7, "number": 7, "value": 0.31, "rank": 1,
                               "status": "running", "state": "promoted",
                               "promoted_to": 1, "promotion": "rule" | "manual" | None,
                               "manual": False, "has_result": True}, ...]}, ...],
         "promotions": [{"trial": 7, "from": 0, "to": 1, "manual": False}, ...]}

    A trial is in every rung from the one it entered (its lowest result, or its current
    rung) up to its current one. In a rung, cells are ranked by that rung's result (best
    first; NaN results after, then trials still training, by number). ``state`` says what
    happened to the trial at that rung: ``promoted`` (went on; ``promotion`` says whether by
    the rule or by hand), or, at its current rung, its status: ``pending``, ``running``,
    ``waiting`` (rung done, awaiting the decision), ``paused``, ``cut`` (stopped by the
    scheduler), ``completed``, ``killed``, ``failed``, ``diverged``. ``manual`` marks a trial
    that entered this rung by a manual promotion.
    """
    by_trial: dict[int, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for r in results:
        by_trial[r["trial"]][r["rung"]] = r
    cells_at: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    budgets: dict[tuple[int, int], float] = {}
    promotions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t in trials:
        b, current = t["bracket"], t["rung"]
        own = by_trial.get(t["id"], {})
        manual_rungs = set(t.get("manual_rungs") or [])
        manual_rungs.update(rung for rung, res in own.items() if res.get("manual"))
        entry, top = min([current, *own]), max([current, *own])
        for rung in range(entry, top + 1):
            res = own.get(rung)
            if res is not None:
                budgets.setdefault((b, rung), res["budget"])
            elif rung == current and t.get("budget"):
                budgets.setdefault((b, rung), t["budget"])
            promotion: str | None = None
            if rung < top:
                state = "promoted"
                manual_next = (rung + 1) in manual_rungs
                promotion = "manual" if manual_next else "rule"
                promotions[b].append(
                    {"trial": t["id"], "from": rung, "to": rung + 1, "manual": manual_next}
                )
            else:
                state = "cut" if t["status"] == TrialStatus.STOPPED else t["status"]
            cells_at[b][rung].append(
                {
                    "trial": t["id"],
                    "number": t["number"],
                    "value": _finite(res["value"]) if res is not None else None,
                    "has_result": res is not None,
                    "rank": None,
                    "status": t["status"],
                    "state": state,
                    "promoted_to": rung + 1 if rung < top else None,
                    "promotion": promotion,
                    "manual": rung in manual_rungs and rung > entry,
                }
            )
    plans = planned or {}
    out: list[dict[str, Any]] = []
    for b in sorted(cells_at):
        plan = plans.get(b, {})
        plan_budgets: Mapping[int, float] = plan.get("budgets", {})
        plan_sizes: Mapping[int, int] = plan.get("sizes", {})
        observed = cells_at[b]
        first = min([*observed, plan.get("entry", min(observed))])
        last = max([*observed, *plan_budgets])
        rungs = []
        for rung in range(first, last + 1):
            cells = sorted(observed.get(rung, []), key=_rank_key(mode))
            rank = 0
            for cell in cells:
                if cell["value"] is not None:
                    rank += 1
                    cell["rank"] = rank
            rungs.append(
                {
                    "rung": rung,
                    "budget": plan_budgets.get(rung, budgets.get((b, rung))),
                    "size": len(cells),
                    "planned_size": plan_sizes.get(rung),
                    "cells": cells,
                }
            )
        out.append(
            {"bracket": b, "entry": first, "rungs": rungs, "promotions": promotions.get(b, [])}
        )
    return out


def planned_rungs(sweep: Sweep, brackets: Iterable[int]) -> dict[int, dict[str, Any]]:
    """What the sweep's scheduler plans for each bracket: entry rung, budget per rung, and
    (for successive halving and Hyperband) how many trials each rung holds.

    Built from the sweep's settings with the pure scheduler classes (no sampler is fitted);
    {} when the settings cannot be read, and the bracket is then drawn from what happened.
    """
    from sweeps.search import build_scheduler, parse_space

    try:
        scheduler = build_scheduler(sweep.scheduler, parse_space(sweep.space), seed=sweep.seed)
    except (ValueError, KeyError, TypeError):
        return {}
    plan: dict[int, dict[str, Any]] = {}
    for b in brackets:
        shape = scheduler.shape(b) if hasattr(scheduler, "shape") else None
        entry = shape.entry_rung if shape is not None else 0
        rungs = range(entry, scheduler.top_rung + 1)
        plan[b] = {
            "entry": entry,
            "budgets": {r: scheduler.budget(r) for r in rungs},
            "sizes": (
                {entry + i: n for i, n in enumerate(shape.sizes)} if shape is not None else {}
            ),
        }
    return plan


def bracket(sweep: Sweep) -> dict[str, Any]:
    """The science-fair picture of a sweep.

    Returns ``{"sweep": id, "metric": name, "mode": "min"|"max", "unit": resource unit,
    "scheduler": name, "brackets": [...]}`` where each bracket is as in
    :func:`build_bracket`: rungs as columns with their budget, trials ranked by their rung
    result, promotions by the rule or by hand (``manual``), and each cell's state (cut,
    running, killed, diverged, paused, ...).
    """
    trials = list(
        Trial.objects.filter(sweep=sweep).values(
            "id", "number", "status", "bracket", "rung", "budget", "manual_rungs"
        )
    )
    results = rung_results(sweep)
    plan = planned_rungs(sweep, sorted({t["bracket"] for t in trials}))
    return bracket_payload(sweep, trials, results, plan)


def bracket_payload(
    sweep: Sweep,
    trials: Iterable[Mapping[str, Any]],
    results: Iterable[Mapping[str, Any]],
    plan: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """:func:`bracket` from rows already in hand (the live tailer keeps them in memory)."""
    return {
        "sweep": sweep.pk,
        "metric": sweep.objective_metric,
        "mode": sweep.objective_mode,
        "unit": sweep.resource_unit,
        "scheduler": (sweep.scheduler or {}).get("name", ""),
        "brackets": build_bracket(trials, results, mode=sweep.objective_mode, planned=plan),
    }


# --- metric series ------------------------------------------------------------------------


def downsample_indices(values: Sequence[float | None], max_points: int) -> list[int]:
    """Indices of the points to keep so that at most ``max_points`` remain (pure).

    Keeps the first and the last point and, in each of ``(max_points - 2) // 2`` equal
    buckets between them, the minimum and the maximum (in their original order). Missing
    values (None / NaN) are kept only when a bucket has nothing else.
    """
    n = len(values)
    if max_points < 2:
        raise ValueError(f"max_points must be >= 2, got {max_points}")
    if n <= max_points:
        return list(range(n))
    y = np.array([np.nan if v is None else v for v in values], dtype=float)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(1, n - 1, buckets + 1).round().astype(int)
    keep = [0]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        chunk = y[lo:hi]
        if np.isnan(chunk).all():
            keep.append(int(lo))
            continue
        a, b = int(np.nanargmin(chunk)) + lo, int(np.nanargmax(chunk)) + lo
        keep.extend(sorted({a, b}))
    keep.append(n - 1)
    return keep


def downsample(
    steps: Sequence[int], values: Sequence[float | None], max_points: int
) -> tuple[list[int], list[float | None]]:
    """Thin one series (steps ascending) to at most ``max_points``, keeping its extremes.

    See :func:`downsample_indices`; returns the kept ``(steps, values)``.
    """
    idx = downsample_indices(values, max_points)
    return [steps[i] for i in idx], [values[i] for i in idx]


def downsample_points(points: QuerySet[MetricPoint], max_points: int) -> list[dict[str, Any]]:
    """Thin metric points to at most ``max_points`` per series (trial, name), extremes kept.

    ``points`` is any MetricPoint queryset (e.g. one trial's points after a cursor). Returns
    rows ``{"id", "name", "step", "value", "time"}`` (plus ``trial``), ordered by id.
    """
    rows = list(
        points.order_by("trial_id", "name", "step", "id").values(
            "id", "trial_id", "name", "step", "value", "time"
        )
    )
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["trial_id"], row["name"])].append(row)
    kept: list[dict[str, Any]] = []
    for group in groups.values():
        idx = downsample_indices([r["value"] for r in group], max_points)
        kept.extend(group[i] for i in idx)
    kept.sort(key=lambda r: r["id"])
    return [
        {
            "id": r["id"],
            "trial": r["trial_id"],
            "name": r["name"],
            "step": r["step"],
            "value": _finite(r["value"]),
            "time": r["time"],
        }
        for r in kept
    ]


def series_budget(n_series: int, max_points: int, total_points: int) -> int:
    """Points allowed per series so that ``n_series`` series fit in ``total_points``."""
    share = total_points // max(n_series, 1)
    return max(SERIES_MIN_POINTS, min(max_points, share))


# Bucket numbers live in the low bits of one integer grouping key: grouping on one integer
# is several times cheaper than on (trial, name, bucket), on SQLite most of all.
_KEY_STRIDE = 1 << 24


def _series_lengths(
    sweep_id: int, trial_ids: list[int] | None, names: Sequence[str], upto: int
) -> tuple[dict[int, int], set[int]]:
    """Last step of each trial (its recorded step when finished, else asked of the index),
    and the trials that may have points past their rollups: those running, or whose worker
    has not ended its segment yet (a trial killed or paused mid-segment). Every other trial
    logged its last point before its last segment ended, and that rolled it up."""
    qs = Trial.objects.filter(sweep_id=sweep_id)
    if trial_ids is not None:
        qs = qs.filter(pk__in=trial_ids)
    lengths: dict[int, int] = {}
    training: set[int] = set()
    for trial_id, step, status, worker in qs.values_list("id", "step", "status", "worker"):
        if worker or status == TrialStatus.RUNNING:
            training.add(trial_id)
        if status not in TrialStatus.ACTIVE:
            lengths[trial_id] = step
            continue
        # A trial still training is ahead of its recorded step: one index lookup per metric.
        last = 0
        for name in names:
            found = (
                MetricPoint.objects.filter(trial_id=trial_id, name=name, id__lte=upto)
                .order_by("-step")
                .values_list("step", flat=True)
                .first()
            )
            last = max(last, found or 0)
        lengths[trial_id] = last
    return lengths, training


def _stored_rollups(
    sweep_id: int, trial_ids: list[int] | None, names: Sequence[str], level: int
) -> dict[int, tuple[int, dict[str, tuple[int, list[Any]]]]]:
    """Per trial: the id its rollups cover up to, and per name (width, [steps, values]) of
    its curve drawn at ``level``."""
    qs = SeriesRollup.objects.filter(sweep_id=sweep_id, level=level, name__in=names)
    if trial_ids is not None:
        qs = qs.filter(trial_id__in=trial_ids)
    out: dict[int, tuple[int, dict[str, tuple[int, list[Any]]]]] = {}
    for trial_id, name, width, cursor, points in qs.values_list(
        "trial_id", "name", "width", "cursor", "points"
    ):
        found = out.get(trial_id)
        # A trial's rows are written together, with one cursor; were they ever not, the
        # lower one is safe (folding a point twice changes no minimum or maximum).
        if found is None or cursor < found[0]:
            found = out[trial_id] = (cursor, found[1] if found else {})
        found[1][name] = (width, points)
    return out


def _finest_buckets(
    trial_ids: Iterable[int], names: Sequence[str]
) -> dict[tuple[int, str], tuple[int, int, list[Bucket]]]:
    """(cursor, width, buckets) of the finest rollups of these trials' series."""
    rows = SeriesRollup.objects.filter(trial_id__in=list(trial_ids), level=FINEST, name__in=names)
    return {
        (trial_id, name): (cursor, width, buckets)
        for trial_id, name, cursor, width, buckets in rows.values_list(
            "trial_id", "name", "cursor", "width", "buckets"
        )
    }


def metric_series(
    sweep: Sweep | int,
    *,
    names: Sequence[str] = SWEEP_CHART_METRICS,
    trials: Iterable[int] | None = None,
    upto: int | None = None,
    max_points: int = SERIES_MAX_POINTS,
    total_points: int = SERIES_TOTAL_POINTS,
) -> dict[str, Any]:
    """Every trial's curves of a sweep, thinned to a point budget, for a first render.

    ``names``: the metrics; ``trials``: only these trial ids; ``upto``: only points with
    id <= upto (a live cursor; default: the newest point). Each series keeps at most
    ``max_points`` points, fewer when many series must share ``total_points``.

    Each series is cut into equal step buckets (a power of two steps each, as many as the
    budget allows up to the trial's last step), and each bucket gives its minimum and
    maximum (its extremes, so a spike survives), drawn at the bucket's first and last step
    in the order of the local trend; series shorter than the budget come back exactly.

    The curves of a trial's points up to its last segment end are stored, drawn at every
    budget (:class:`~sweeps.models.SeriesRollup`, see :func:`sweeps.ingest.roll_up`), so a
    finished trial costs one small row per series. Only the points past them are
    aggregated (GROUP BY on the database): those of trials still training, folded into
    their stored buckets, and every point of a trial without rollups. Stored and fresh
    buckets fold exactly, so the curves are the ones bucketing every point would give.

    Returns ``{"cursor": upto, "series": [{"trial": id, "name": name, "step": [...],
    "value": [...]}, ...]}`` ordered by trial id then name; values are rounded to 5
    significant digits and NaN / inf become None.
    """
    sweep_id = sweep if isinstance(sweep, int) else sweep.pk
    names = sorted(set(names))
    if upto is None:
        upto = (
            MetricPoint.objects.filter(sweep_id=sweep_id)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        ) or 0
    trial_ids = list(trials) if trials is not None else None
    # Trials first, then their rollups: a segment that ends in between leaves rollups that
    # are newer (and those are passed over), never older, than the trial row says.
    lengths, training = _series_lengths(sweep_id, trial_ids, names, upto)
    per_series = series_budget(len(lengths) * len(names), max_points, total_points)
    # A power of two, so widths nest and the budget stays put while trials are added.
    n_buckets = 1 << max(0, (per_series // 2).bit_length() - 1)
    stored = (
        _stored_rollups(sweep_id, trial_ids, names, n_buckets) if n_buckets in ROLLUP_LEVELS else {}
    )
    widths = {trial_id: bucket_width(length, n_buckets) for trial_id, length in lengths.items()}
    drawn: dict[tuple[int, str], list[Any]] = {}
    refold: set[int] = set()  # trials drawn again from their finest buckets
    tails: dict[int, tuple[int, int]] = {}  # trial -> (width, aggregate points with id > this)
    for trial_id, width in widths.items():
        found = stored.get(trial_id)
        if found is None or found[0] > upto:
            # No rollups yet, or ones newer than this cursor: every point up to it.
            tails[trial_id] = (width, 0)
            continue
        if trial_id in training:
            refold.add(trial_id)
            tails[trial_id] = (width, found[0])
            continue
        for name, (stored_width, points) in found[1].items():
            if stored_width == width:
                drawn[(trial_id, name)] = points
            else:  # a series that ends before (or after) its trial's last step
                refold.add(trial_id)
    kept = _finest_buckets(refold, names) if refold else {}
    for (trial_id, _), (cursor, _, _) in list(kept.items()):
        if cursor != stored[trial_id][0]:
            # A segment ended between the two reads: these buckets may hold points past
            # upto. Every point of the trial up to it, then (this once).
            tails[trial_id] = (widths[trial_id], 0)
            kept = {key: found for key, found in kept.items() if key[0] != trial_id}
    fresh = _aggregate(tails, names, upto)
    series = []
    for trial_id in sorted(lengths):
        for name in names:
            points = drawn.get((trial_id, name))
            if points is None:
                own, tail = kept.get((trial_id, name)), fresh.get((trial_id, name))
                if own is None and tail is None:
                    continue
                width = max(widths[trial_id], own[1] if own is not None else 0)
                buckets = fold_buckets(width, [*(own[2] if own else ()), *(tail or ())])
                points = list(draw_buckets(buckets, n_buckets))
            series.append({"trial": trial_id, "name": name, "step": points[0], "value": points[1]})
    return {"cursor": upto, "series": series}


def _aggregate(
    tails: Mapping[int, tuple[int, int]], names: list[str], upto: int
) -> dict[tuple[int, str], list[Bucket]]:
    """Buckets of each (trial, name) series over the trial's points with
    ``after < id <= upto``, where ``tails`` maps trial -> (bucket width, after)."""
    if not tails:
        return {}
    # Trials that share a bucket width share one query, so it needs no join.
    groups: dict[int, dict[int, int]] = defaultdict(dict)
    for trial_id, (width, after) in tails.items():
        groups[width][trial_id] = after
    name_index = Case(
        *(When(name=name, then=Value(i)) for i, name in enumerate(names)),
        output_field=BigIntegerField(),
    )
    per: dict[tuple[int, str], list[tuple[int, Bucket]]] = defaultdict(list)
    for width, afters in groups.items():
        whole = [trial_id for trial_id, after in afters.items() if after == 0]
        which = [Q(trial_id__in=whole)] if whole else []
        which += [Q(trial_id=trial_id, id__gt=after) for trial_id, after in afters.items() if after]
        key = ExpressionWrapper(
            (F("trial_id") * len(names) + name_index) * _KEY_STRIDE + F("step") / Value(width),
            output_field=BigIntegerField(),
        )
        # By trial only: with the sweep's (sweep, id) index to choose from, SQLite without
        # statistics (the app never runs ANALYZE) scans every point of the sweep past the
        # oldest tail instead of each trial's own points.
        rows = (
            MetricPoint.objects.filter(reduce(operator.or_, which), id__lte=upto, name__in=names)
            .annotate(k=key)
            .values("k")
            .annotate(lo=Min("value"), hi=Max("value"), s0=Min("step"), s1=Max("step"))
            .order_by()
            .values_list("k", "lo", "hi", "s0", "s1")
        )
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # The default 4 MB makes PostgreSQL sort millions of rows on disk; 64 MB for
                # this transaction lets it hash the groups in memory (3x faster here).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL work_mem = '64MB'")
            fetched = list(rows)
        for k, lo, hi, s0, s1 in fetched:
            series_key, bucket = divmod(k, _KEY_STRIDE)
            trial_id, index = divmod(series_key, len(names))
            lo, hi = _finite(lo), _finite(hi)
            if lo is None or hi is None:
                lo = hi = None
            per[(trial_id, names[index])].append((bucket, [s0, s1, lo, hi]))
    out: dict[tuple[int, str], list[Bucket]] = {}
    for series_key, found in per.items():
        found.sort(key=lambda kb: kb[0])
        out[series_key] = [b for _, b in found]
    return out


def trial_series(
    trial: Trial,
    *,
    names: Sequence[str] | None = None,
    upto: int | None = None,
    max_points: int = 2000,
) -> dict[str, Any]:
    """One trial's curves (points with id <= ``upto``), each thinned in Python with the true
    positions of the extremes (:func:`downsample`).

    Returns ``{"cursor": newest point id, "series": {name: {"step": [...], "value": [...]}}}``.
    """
    points = MetricPoint.objects.filter(trial=trial)
    if upto is not None:
        points = points.filter(id__lte=upto)
    if names is not None:
        points = points.filter(name__in=list(names))
    rows = points.order_by("name", "step", "id").values_list("id", "name", "step", "value")
    cursor = 0
    raw: dict[str, tuple[list[int], list[float | None]]] = defaultdict(lambda: ([], []))
    for pid, name, step, value in rows:
        cursor = max(cursor, pid)
        steps, values = raw[name]
        if steps and steps[-1] == step:
            # A segment re-run after a lost worker logs the step again; the newest wins.
            values[-1] = value
            continue
        steps.append(step)
        values.append(value)
    series = {}
    for name, (steps, values) in sorted(raw.items()):
        s, v = downsample(steps, values, max_points)
        series[name] = {"step": s, "value": [_round(x) for x in v]}
    return {"cursor": cursor, "series": series}


def points_after(
    sweep_id: int,
    cursor: int,
    *,
    upto: int | None = None,
    limit: int = 50_000,
    names: Sequence[str] | None = None,
    trial: int | None = None,
) -> list[tuple[int, int, str, int, float | None, float]]:
    """Raw points with ``cursor < id <= upto`` in id order:
    ``(id, trial, name, step, value, time)``."""
    qs = MetricPoint.objects.filter(sweep_id=sweep_id, id__gt=cursor)
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    if names is not None:
        qs = qs.filter(name__in=list(names))
    if trial is not None:
        qs = qs.filter(trial_id=trial)
    return list(
        qs.order_by("id").values_list("id", "trial_id", "name", "step", "value", "time")[:limit]
    )


# --- analytics ----------------------------------------------------------------------------


def trial_results(
    trials: Iterable[Mapping[str, Any]], results: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per trial, its result at the highest rung it finished (pure): rows with trial,
    number, params, status, rung, budget, value and time (ISO, of that result), in
    trial-number order. Trials without a finite result are left out."""
    last: dict[int, Mapping[str, Any]] = {}
    for r in results:
        if _finite(r.get("value")) is None:
            continue
        prev = last.get(r["trial"])
        if prev is None or r["rung"] > prev["rung"]:
            last[r["trial"]] = r
    out = []
    for t in sorted(trials, key=lambda t: t["number"]):
        r = last.get(t["id"])
        if r is None:
            continue
        out.append(
            {
                "trial": t["id"],
                "number": t["number"],
                "params": t.get("params") or {},
                "status": t["status"],
                "rung": r["rung"],
                "budget": r["budget"],
                "value": r["value"],
                "time": r.get("created_at"),
            }
        )
    return out


def encode_params(
    rows: Sequence[Mapping[str, Any]], space: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], np.ndarray]:
    """Parameters as numbers (pure): log-scaled ones as log10, categoricals as the index of
    their choice; inactive (conditional) parameters as NaN. Returns (names, matrix)."""
    names = list(space)
    x = np.full((len(rows), len(names)), np.nan)
    for j, name in enumerate(names):
        spec = space[name]
        choices = [repr(c) for c in spec.get("choices", [])]
        for i, row in enumerate(rows):
            value = (row.get("params") or {}).get(name)
            if value is None:
                continue
            if spec.get("type") == "categorical":
                key = repr(value)
                x[i, j] = choices.index(key) if key in choices else np.nan
            elif isinstance(value, int | float) and not isinstance(value, bool):
                x[i, j] = math.log10(value) if spec.get("log") and value > 0 else float(value)
    return names, x


def param_importance(
    rows: Sequence[Mapping[str, Any]],
    space: Mapping[str, Mapping[str, Any]],
    *,
    seed: int = 0,
    min_trials: int = 4,
) -> dict[str, float]:
    """How much each parameter explains of the objective (pure; sums to 1).

    ``rows`` are :func:`trial_results` rows (params and value). Fits a random forest
    (scikit-learn, 64 trees, fixed seed) of value on the encoded parameters and returns its
    impurity-based feature importances. Empty when fewer than ``min_trials`` results, or
    when the objective does not vary.
    """
    values = [r["value"] for r in rows if _finite(r.get("value")) is not None]
    if len(values) < min_trials or not space or float(np.ptp(values)) == 0.0:
        return {}
    from sklearn.ensemble import RandomForestRegressor

    usable = [r for r in rows if _finite(r.get("value")) is not None]
    names, x = encode_params(usable, space)
    x = np.where(np.isnan(x), -1e9, x)  # inactive conditional parameters: their own branch
    model = RandomForestRegressor(n_estimators=64, random_state=seed, min_samples_leaf=2)
    model.fit(x, np.asarray(values))
    importances = model.feature_importances_
    total = float(importances.sum())
    if total <= 0:
        return {}
    return {name: float(v) / total for name, v in zip(names, importances, strict=True)}
