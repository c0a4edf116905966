"""write_points appends every point of a batch, NaN and inf as NULL, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.db import connection

from sweeps.ingest import write_points
from sweeps.models import MetricPoint
from tests.trainers.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


def test_writes_every_point_with_nan_and_inf_as_null(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep)
    points = [
        ("train_loss", 1, 0.5, 1000.25),
        ("train_loss", 2, math.nan, 1000.5),
        ("grad_norm", 2, math.inf, 1000.5),
        ("grad_norm", 3, -math.inf, 1000.75),
        ("samples_per_s", 1, None, 1000.25),
        ("val_loss", 3, 1e-300, 1001.0),
    ]
    assert write_points(sweep.pk, trial.pk, points) == 6
    rows = list(
        MetricPoint.objects.filter(trial=trial)
        .order_by("id")
        .values_list("sweep_id", "name", "step", "value", "time")
    )
    assert rows == [
        (sweep.pk, "train_loss", 1, 0.5, 1000.25),
        (sweep.pk, "train_loss", 2, None, 1000.5),
        (sweep.pk, "grad_norm", 2, None, 1000.5),
        (sweep.pk, "grad_norm", 3, None, 1000.75),
        (sweep.pk, "samples_per_s", 1, None, 1000.25),
        (sweep.pk, "val_loss", 3, 1e-300, 1001.0),
    ]


def test_ids_grow_in_write_order_for_the_live_cursor(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep)
    write_points(sweep.pk, trial.pk, [("lr", s, 0.1, 1.0) for s in range(1, 2001)])
    write_points(sweep.pk, trial.pk, [("lr", s, 0.1, 2.0) for s in range(2001, 2101)])
    steps = list(
        MetricPoint.objects.filter(trial=trial).order_by("id").values_list("step", flat=True)
    )
    assert steps == list(range(1, 2101))


def test_empty_batch_writes_nothing(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep)
    assert write_points(sweep.pk, trial.pk, []) == 0
    assert not MetricPoint.objects.exists()


def test_a_bad_batch_leaves_nothing_behind(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep)
    bad = [("train_loss", 1, 0.5, 1.0), ("train_loss", -5, 0.5, 1.0)]  # step must be >= 0
    name_too_long = [("train_loss", 1, 0.5, 1.0), ("x" * 40, 2, 0.5, 1.0)]
    failures = 0
    for batch in (bad, name_too_long):
        try:
            write_points(sweep.pk, trial.pk, batch)
        except Exception:
            failures += 1
    # SQLite does not enforce varchar lengths, so only PostgreSQL refuses the second batch;
    # a refused batch is refused whole.
    if connection.vendor == "postgresql":
        assert failures == 2
        assert not MetricPoint.objects.exists()
    else:
        assert failures == 1 and MetricPoint.objects.count() == 2
