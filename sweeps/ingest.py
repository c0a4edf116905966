"""Bulk writes of metric points: the one path by which training curves reach the database,
and the rollups that keep them cheap to draw.

PostgreSQL takes a batch through ``COPY ... FROM STDIN`` (psycopg 3), SQLite through one
``executemany`` inside one transaction; both are an order of magnitude faster than
``bulk_create`` because no model instances are built. A non-finite value (NaN, inf) is stored
as NULL: SQL has no NaN in float columns on every backend, and the dashboard draws a gap.

When a segment ends its points are final, and :func:`roll_up` folds them into the trial's
:class:`~sweeps.models.SeriesRollup` rows (per series, min and max per step bucket at a few
resolutions), so a sweep page reads a few dozen buckets per curve instead of every point.
:func:`drop_points_after` deletes a lost segment's points and keeps the rollups equal to
what remains.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from sweeps.buckets import FINEST, ROLLUP_LEVELS, bucket_width, draw_buckets, fold_buckets
from sweeps.models import MetricPoint, SegmentLog, SeriesRollup, Trial
from sweeps.states import TrialStatus

# (name, step, value, unix time)
Point = tuple[str, int, float | None, float]

_COLUMNS = ("sweep_id", "trial_id", "name", "step", "value", "time")


_CHUNK = 10_000  # points a roll-up reads at a time

INGEST_LOCK = 0x52554E47  # "RUNG": the advisory lock class of metric ingest


METRIC_NAME_CHARS = MetricPoint._meta.get_field("name").max_length


def metric_name_error(name: object) -> str | None:
    """Why ``name`` cannot name a metric series (None if it can): the column's length, no
    control characters (a NUL would be refused by PostgreSQL after the batch was built)."""
    if not isinstance(name, str) or not name:
        return f"a metric name must be a non-empty string, got {name!r}"
    if len(name) > METRIC_NAME_CHARS:
        return f"metric name {name[:40]!r}... is longer than {METRIC_NAME_CHARS} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"metric name {name!r} holds a control character"
    return None


def append_console(
    trial_id: int, rung: int, attempt: int, text: str, exit_code: int | None = None
) -> None:
    """Append a segment's console output to its :class:`SegmentLog`, keeping the last
    ``RUNGS_LOG_CHARS`` characters; ``exit_code`` once the script has ended."""
    text = text.replace("\x00", "\ufffd")
    with transaction.atomic():
        log, _ = SegmentLog.objects.select_for_update().get_or_create(
            trial_id=trial_id, rung=rung, attempt=attempt
        )
        log.text += text
        cut = len(log.text) - settings.RUNGS_LOG_CHARS
        if cut > 0:
            log.text, log.dropped = log.text[cut:], log.dropped + cut
        log.exit_code = exit_code
        log.save()


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def write_points(
    sweep_id: int,
    trial_id: int,
    points: Sequence[Point],
    *,
    attempt: int | None = None,
    using: str = "default",
) -> int:
    """Append ``points`` of one trial to ``sweeps_metricpoint``; return how many were written.

    All or nothing: the batch is one COPY (PostgreSQL) or one transaction (SQLite), so a
    failure leaves no partial batch behind and the caller can retry the whole of it.

    ``attempt``: the writing segment's; the batch is written only while that segment
    holds the trial (:func:`_held`), else dropped (0). A worker that stalled past its lease
    and wakes after its segment was re-queued would otherwise log steps that the next
    attempt trains again from the checkpoint: the series would hold them twice.
    """
    if not points:
        return 0
    connection = connections[using]
    table = connection.ops.quote_name(MetricPoint._meta.db_table)
    columns = ", ".join(_COLUMNS)
    sweep_id, trial_id = int(sweep_id), int(trial_id)
    if connection.vendor == "postgresql":
        own = not connection.in_atomic_block
        # atomic(): a savepoint when the caller is in a transaction, so a refused batch
        # does not poison the caller's transaction.
        with (
            transaction.atomic(using=using),
            connection.cursor() as cursor,
        ):
            if attempt is not None and not _held(cursor, trial_id, attempt):
                return 0
            # Live pages tail "id > cursor" per sweep. Ids are drawn before commit, so two
            # concurrent batches of one sweep could commit out of id order and a tailer
            # would skip the late one. The lock orders a sweep's batches: ids then commit
            # in order. (SQLite has one writer at a time anyway.)
            #
            # A batch of its own commits without waiting for the WAL flush (an fsync, ~2-6
            # ms here, the largest part of a short segment's cost): what a worker writes
            # next that matters (its checkpoint record, the segment's end) commits
            # synchronously, and that flushes the WAL with these points in it. A server
            # crash can lose only points past the trial's last durable checkpoint, and
            # those are dropped and logged again when the segment is re-queued.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)"
                + (", set_config('synchronous_commit', 'off', true)" if own else ""),
                [INGEST_LOCK, sweep_id],
            )
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for name, step, value, at in points:
                    copy.write_row((sweep_id, trial_id, name, step, _finite(value), at))
        return len(points)
    rows = [
        (sweep_id, trial_id, name, step, _finite(value), at) for name, step, value, at in points
    ]
    marks = ", ".join(["%s"] * len(_COLUMNS))
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if attempt is not None and not _held(cursor, trial_id, attempt):
            return 0
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    return len(rows)


def _held(cursor: Any, trial_id: int, attempt: int) -> bool:
    """Whether segment ``attempt`` still holds the trial: not re-queued (pending again)
    and not followed by a later attempt. A paused or killed trial's segment still holds it
    until it stops (what it logged until then is kept, as its checkpoint covers it).

    On PostgreSQL the trial's row stays share-locked until the batch commits, so a re-queue
    (which locks it for update, then drops the points past the checkpoint) comes wholly
    before the batch or after it; SQLite writes one transaction at a time."""
    table = cursor.db.ops.quote_name(Trial._meta.db_table)
    lock = " FOR SHARE" if cursor.db.vendor == "postgresql" else ""
    cursor.execute(
        f"SELECT 1 FROM {table} WHERE id = %s AND attempt = %s AND status <> %s{lock}",
        [trial_id, attempt, TrialStatus.PENDING],
    )
    return cursor.fetchone() is not None


def roll_up(trial: Trial, *, using: str = "default") -> int:
    """Fold the trial's points logged since its last roll-up into its rollups; returns how
    many points were folded.

    Call it when a segment ends (finished, interrupted or failed: its points are final),
    inside the transaction that holds the trial's row lock, so two roll-ups of one trial
    never interleave. A later segment's points are folded on top; folding is exact, so the
    rollups always equal bucketing every point at once (:func:`sweeps.queries.fold_buckets`).
    """
    return fold_rollups(MetricPoint, SeriesRollup, trial.sweep_id, trial.pk, using=using)


def drop_points_after(trial: Trial, step: int, *, using: str = "default") -> int:
    """Delete the trial's points past ``step`` (what a lost segment logged after its last
    checkpoint) and keep its rollups equal to the points that remain; returns how many
    points were deleted."""
    deleted, _ = MetricPoint.objects.using(using).filter(trial_id=trial.pk, step__gt=step).delete()
    fold_rollups(
        MetricPoint, SeriesRollup, trial.sweep_id, trial.pk, dropped_after=step, using=using
    )
    return deleted


def fold_rollups(
    point_model: Any,
    rollup_model: Any,
    sweep_id: int,
    trial_id: int,
    *,
    dropped_after: int | None = None,
    using: str = "default",
) -> int:
    """The work of :func:`roll_up` on the given models (a data migration passes its own).

    ``dropped_after``: the trial's points past this step were just deleted. A minimum or
    a maximum cannot forget a value, so rollups that held such a point are folded again
    from every point that remains. Usually they held none (a lost segment's points all lie
    past their cursor), and what is left of the segment is folded on top as usual.
    """
    kept_rows = list(
        rollup_model.objects.using(using)
        .filter(trial_id=trial_id, level=FINEST)
        .values_list("name", "buckets", "cursor")
    )
    kept: dict[str, list[Any]] = {name: buckets for name, buckets, _ in kept_rows}
    cursor = min((c for _, _, c in kept_rows), default=0)
    rebuild = dropped_after is not None and any(
        buckets and buckets[-1][1] > dropped_after for buckets in kept.values()
    )
    if rebuild:
        kept, cursor = {}, 0
    points = (
        point_model.objects.using(using)
        .filter(trial_id=trial_id, id__gt=cursor)
        .values_list("name", "step", "value", "id")
    )
    # A segment's points in one plain read when they are few (most segments); PostgreSQL's
    # chunked iterator is a server-side cursor, three round trips however few there are.
    few = list(points[: _CHUNK + 1])
    rows = few if len(few) <= _CHUNK else points.iterator(chunk_size=_CHUNK)
    fresh: dict[str, list[tuple[int, float | None]]] = defaultdict(list)
    top, folded = cursor, 0
    for name, step, value, point_id in rows:
        fresh[name].append((step, value))
        top = max(top, point_id)
        folded += 1
    if not folded and not rebuild:
        return 0
    connection = connections[using]
    json_value = connection.ops.adapt_json_value  # what the JSONField would send
    rollups = []
    for name in sorted(kept.keys() | fresh.keys()):
        old, new = kept.get(name, []), fresh.get(name, [])
        # Buckets are in step order: the last one ends at the series' last step so far.
        last = max(old[-1][1] if old else 0, max((step for step, _ in new), default=0))
        fine = fold_buckets(bucket_width(last, FINEST), old, new)
        for level in ROLLUP_LEVELS:
            width = bucket_width(last, level)
            buckets = fine if level == FINEST else fold_buckets(width, fine)
            rollups.append(
                (
                    sweep_id, trial_id, name, level, width, top,
                    json_value(list(draw_buckets(buckets, level)), None),
                    json_value(fine if level == FINEST else [], None),
                )
            )  # fmt: skip
    # Rows as values, not models: a segment's end writes ~40 of them (6 levels per series),
    # and building and bulk-creating as many instances was most of the roll-up's time.
    meta = rollup_model._meta
    table = connection.ops.quote_name(meta.db_table)
    columns = ", ".join(
        connection.ops.quote_name(meta.get_field(f).column)
        for f in ("sweep", "trial", "name", "level", "width", "cursor", "points", "buckets")
    )
    row = "(" + ", ".join(["%s"] * 8) + ")"
    # No savepoint of its own: a caller's transaction (a segment's end) fails as a whole.
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as db:
        if kept_rows or rebuild:  # a trial's first roll-up has nothing to replace
            rollup_model.objects.using(using).filter(trial_id=trial_id).delete()
        # One statement per 100 rows (800 parameters, below SQLite's old limit of 999):
        # psycopg's executemany sends one per row.
        for i in range(0, len(rollups), 100):
            batch = rollups[i : i + 100]
            db.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * len(batch))}",
                [value for values in batch for value in values],
            )
    return folded
