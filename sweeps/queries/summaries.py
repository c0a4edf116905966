"""What a sweep amounts to: trial counts per status, progress and its best trial, for one
sweep (:func:`sweep_summary`, :func:`summarize` from rows in hand) or a list of them in a
fixed number of queries (:func:`sweep_summaries`, what the sweep list page and the API's
sweep list read)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

import numpy as np
from django.db.models import Count

from sweeps.actions import row_actions, sweep_row
from sweeps.models import FinalEvaluation, RungResult, Sweep, Trial
from sweeps.queries.rows import BestTrial, finite, iso
from sweeps.states import TrialStatus


class SweepTotals(TypedDict):
    """What the API sends of a sweep beside its settings (:func:`sweep_totals`)."""

    counts: dict[str, int]
    best: BestTrial | None


def _better(mode: str, a: float, b: float) -> bool:
    """``a`` is strictly better than ``b`` under ``mode`` ("min" or "max")."""
    return a < b if mode == "min" else a > b


def best_trial(trials: Iterable[Mapping[str, Any]], mode: str) -> dict[str, Any] | None:
    """The row with the best finite ``best_value`` (ties: the lower trial number)."""
    best: Mapping[str, Any] | None = None
    for row in trials:
        value = finite(row.get("best_value"))
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


def final_evaluation(sweep: Sweep) -> dict[str, Any] | None:
    """The sweep's one look at its test set: which trial, who asked and when, and the test
    metrics once a worker has them (None until someone asks; no query before)."""
    if not sweep.tested:
        return None
    row = FinalEvaluation.objects.filter(sweep_id=sweep.pk).select_related("user", "trial").first()
    if row is None:
        return None
    return {
        "trial": row.trial.number,
        "trial_id": row.trial_id,
        "status": row.status,
        "metrics": row.metrics,
        "error": row.error,
        "user": row.user.get_username() if row.user else None,
        "created_at": iso(row.created_at),
        "finished_at": iso(row.finished_at),
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
        "created_at": iso(sweep.created_at),
        "started_at": iso(sweep.started_at),
        "finished_at": iso(sweep.finished_at),
        "actions": row_actions("sweep", sweep_row(sweep)),
    }


def sweep_state(sweep: Sweep) -> dict[str, Any]:
    """What a steering reply says of a sweep: its settings that actions change, and the
    actions allowed on it now."""
    return {
        "status": sweep.status,
        "concurrency": sweep.concurrency,
        "max_trials": sweep.max_trials,
        "actions": row_actions("sweep", sweep_row(sweep)),
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
        value = finite(value)
        if value is not None and (best is None or _better(mode, value, best)):
            best = value
        out.append(best)
    return out


def status_counts(sweep_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Trials per status of each sweep, every status present (zeros too), in one query."""
    out = {pk: dict.fromkeys([s.value for s in TrialStatus], 0) for pk in sweep_ids}
    if not out:
        return out
    rows = (
        Trial.objects.filter(sweep_id__in=list(out))
        .values_list("sweep_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for sweep_id, status, n in rows:
        out[sweep_id][status] = n
    return out


def sweep_totals(sweeps: Sequence[Sweep]) -> dict[int, SweepTotals]:
    """For a list of sweeps, in two queries: per sweep id, its trials per status
    (:func:`status_counts`) and its best trial (:func:`best_trial` without params) — what
    the API sends of a sweep beside its settings."""
    counts = status_counts(s.pk for s in sweeps)
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if sweeps:
        # Trial-number order: best_trial keeps the first of equal values, the lower number.
        for row in (
            Trial.objects.filter(sweep_id__in=list(counts), best_value__isnull=False)
            .order_by("number")
            .values("sweep_id", "id", "number", "best_value")
        ):
            rows[row["sweep_id"]].append(row)
    out: dict[int, SweepTotals] = {}
    for sweep in sweeps:
        best = best_trial(rows[sweep.pk], sweep.objective_mode)
        out[sweep.pk] = {
            "counts": counts[sweep.pk],
            "best": None
            if best is None
            else {"id": best["id"], "number": best["number"], "value": best["value"]},
        }
    return out


def sweep_summaries(sweeps: Sequence[Sweep], spark_points: int = 40) -> dict[int, dict[str, Any]]:
    """For the sweep list, in two queries: per sweep id, ``trials``, ``finished``,
    ``progress``, ``best`` (value and trial number) and ``spark`` (best-so-far of its rung
    results in time order, at most ``spark_points`` values)."""
    ids = [s.pk for s in sweeps]
    out: dict[int, dict[str, Any]] = {
        s.pk: {"trials": 0, "finished": 0, "progress": 0.0, "best": None, "spark": []}
        for s in sweeps
    }
    for sweep_id, counts in status_counts(ids).items():
        entry = out[sweep_id]
        entry["trials"] = sum(counts.values())
        entry["finished"] = sum(counts[s] for s in TrialStatus.FINISHED)
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
