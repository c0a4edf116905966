"""Bulk writes of metric points: the one path by which training curves reach the database.

PostgreSQL takes a batch through ``COPY ... FROM STDIN`` (psycopg 3), SQLite through one
``executemany`` inside one transaction; both are an order of magnitude faster than
``bulk_create`` because no model instances are built. A non-finite value (NaN, inf) is stored
as NULL: SQL has no NaN in float columns on every backend, and the dashboard draws a gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.db import connections, transaction

from sweeps.models import MetricPoint

# (name, step, value, unix time)
Point = tuple[str, int, float | None, float]

_COLUMNS = ("sweep_id", "trial_id", "name", "step", "value", "time")


INGEST_LOCK = 0x52554E47  # "RUNG": the advisory lock class of metric ingest


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def write_points(
    sweep_id: int, trial_id: int, points: Sequence[Point], *, using: str = "default"
) -> int:
    """Append ``points`` of one trial to ``sweeps_metricpoint``; return how many were written.

    All or nothing: the batch is one COPY (PostgreSQL) or one transaction (SQLite), so a
    failure leaves no partial batch behind and the caller can retry the whole of it.
    """
    if not points:
        return 0
    connection = connections[using]
    table = connection.ops.quote_name(MetricPoint._meta.db_table)
    columns = ", ".join(_COLUMNS)
    sweep_id, trial_id = int(sweep_id), int(trial_id)
    if connection.vendor == "postgresql":
        # atomic(): a savepoint when the caller is in a transaction, so a refused batch
        # does not poison the caller's transaction.
        with (
            transaction.atomic(using=using),
            connection.cursor() as cursor,
        ):
            # Live pages tail "id > cursor" per sweep. Ids are drawn before commit, so two
            # concurrent batches of one sweep could commit out of id order and a tailer
            # would skip the late one. The lock orders a sweep's batches: ids then commit
            # in order. (SQLite has one writer at a time anyway.)
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [INGEST_LOCK, sweep_id])
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for name, step, value, at in points:
                    copy.write_row((sweep_id, trial_id, name, step, _finite(value), at))
        return len(points)
    rows = [
        (sweep_id, trial_id, name, step, _finite(value), at) for name, step, value, at in points
    ]
    marks = ", ".join(["%s"] * len(_COLUMNS))
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    return len(rows)
