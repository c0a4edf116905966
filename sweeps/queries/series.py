"""Metric curves for charts: every trial's curves of a sweep thinned to a point budget
(:func:`metric_series`), one trial's curves (:func:`trial_series`) and the raw points past
a cursor (:func:`points_after`).

:func:`metric_series` reads the stored rollups (:mod:`sweeps.buckets`, written by
:mod:`sweeps.ingest`) plus the points past them, aggregated on the database;
:func:`downsample` / :func:`downsample_points` thin in Python. Thinning keeps the extremes
of each bucket (min and max), so a spike or a divergence is never smoothed away, and keeps
the first and last point of each series.
"""

from __future__ import annotations

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
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)

from sweeps.buckets import (
    FINEST,
    ROLLUP_LEVELS,
    Bucket,
    bucket_width,
    draw_buckets,
    fold_buckets,
)
from sweeps.models import MetricPoint, SeriesRollup, Sweep, Trial
from sweeps.queries.rows import PointRow, finite, rounded
from sweeps.states import TrialStatus

# Per-step and per-epoch metrics the sweep page charts; trial pages chart every name.
SWEEP_CHART_METRICS = ("train_loss", "val_loss", "grad_norm", "lr")
# Default budgets of the first render: points per series, and points over all series.
SERIES_MAX_POINTS = 512
SERIES_TOTAL_POINTS = 100_000
SERIES_MIN_POINTS = 16


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


def downsample_points(points: QuerySet[MetricPoint], max_points: int) -> list[PointRow]:
    """Thin metric points to at most ``max_points`` per series (trial, name), extremes kept.

    ``points`` is any MetricPoint queryset (e.g. one trial's points after a cursor). Returns
    :class:`~sweeps.queries.rows.PointRow` rows, ordered by id.
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
            "value": finite(r["value"]),
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
            lo, hi = finite(lo), finite(hi)
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
        series[name] = {"step": s, "value": [rounded(x) for x in v]}
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
