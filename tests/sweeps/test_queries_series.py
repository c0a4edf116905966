"""Thinning keeps extremes; series and summaries."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from sweeps import queries
from sweeps.models import MetricPoint, Trial
from tests.factories import add_points, add_result, build_sha_sweep, make_sweep, make_trial


def _noisy(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [math.exp(-i / 300) + rng.random() * 0.05 for i in range(n)]


def test_downsample_keeps_extremes_first_last_and_order() -> None:
    values = _noisy(10_000)
    values[1234], values[8765] = 50.0, -3.0  # a spike and a dip
    steps = list(range(10_000))
    s, v = queries.downsample(steps, values, 200)
    assert len(s) <= 200
    assert s[0] == 0 and s[-1] == 9_999
    assert 50.0 in v and -3.0 in v
    assert s == sorted(s)
    assert (1234, 50.0) in zip(s, v, strict=True)


def test_downsample_short_series_is_exact() -> None:
    assert queries.downsample([1, 2, 3], [0.3, 0.2, 0.1], 10) == ([1, 2, 3], [0.3, 0.2, 0.1])


def test_downsample_tolerates_missing_values() -> None:
    values: list[float | None] = [None] * 500 + [1.0, 2.0] + [None] * 500
    s, v = queries.downsample(list(range(1002)), values, 20)
    assert 2.0 in v and 1.0 in v and len(s) <= 20


def test_downsample_rejects_tiny_budget() -> None:
    with pytest.raises(ValueError, match="max_points must be >= 2"):
        queries.downsample([1, 2, 3], [1, 2, 3], 1)


@pytest.mark.django_db
def test_metric_series_keeps_bucket_extremes_on_the_database(user: Any) -> None:
    sweep = make_sweep(user)
    values = _noisy(3000, seed=1)
    values[1500] = 9.0
    values[2500] = -1.0
    trial = make_trial(sweep, 1, status="running", step=2999)
    add_points(trial, "train_loss", range(3000), values)
    add_points(trial, "val_loss", [999, 1999, 2999], [0.5, 0.4, 0.3])
    out = queries.metric_series(sweep, max_points=100)
    by_name = {s["name"]: s for s in out["series"]}
    train = by_name["train_loss"]
    assert len(train["step"]) <= 100
    assert 9.0 in train["value"] and -1.0 in train["value"]
    assert min(train["value"]) == -1.0 and max(train["value"]) == 9.0
    assert train["step"][0] == 0 and train["step"][-1] == 2999
    assert train["step"] == sorted(train["step"])
    # Short series come back exactly.
    assert by_name["val_loss"] == {
        "trial": trial.pk,
        "name": "val_loss",
        "step": [999, 1999, 2999],
        "value": [0.5, 0.4, 0.3],
    }
    assert out["cursor"] == MetricPoint.objects.order_by("-id").first().pk


@pytest.mark.django_db
def test_metric_series_respects_cursor_and_names(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, step=10)
    first = add_points(trial, "train_loss", range(5), [1.0, 0.9, 0.8, 0.7, 0.6])
    add_points(trial, "train_loss", range(5, 10), [0.5] * 5)
    add_points(trial, "lr", range(10), [0.1] * 10)
    out = queries.metric_series(sweep, names=["train_loss"], upto=first[-1].pk)
    [series] = out["series"]
    assert series["step"] == [0, 1, 2, 3, 4]
    assert out["cursor"] == first[-1].pk


@pytest.mark.django_db
def test_metric_series_shares_total_budget_between_series(user: Any) -> None:
    sweep = make_sweep(user)
    for n in range(1, 11):
        trial = make_trial(sweep, n, step=999)
        add_points(trial, "train_loss", range(1000), _noisy(1000, seed=n))
    out = queries.metric_series(sweep, names=["train_loss"], total_points=400)
    assert all(len(s["step"]) <= 40 for s in out["series"])
    assert len(out["series"]) == 10


@pytest.mark.django_db
def test_downsample_points_thins_per_series_and_keeps_ids(user: Any) -> None:
    sweep = make_sweep(user)
    trial = make_trial(sweep, 1)
    values = _noisy(1000)
    values[10] = 7.0
    add_points(trial, "train_loss", range(1000), values)
    add_points(trial, "lr", range(1000), [0.01] * 1000)
    rows = queries.downsample_points(MetricPoint.objects.filter(trial=trial), 50)
    train = [r for r in rows if r["name"] == "train_loss"]
    assert 0 < len(train) <= 50 and any(r["value"] == 7.0 for r in train)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert set(rows[0]) == {"id", "trial", "name", "step", "value", "time"}


@pytest.mark.django_db
def test_sweep_summary_counts_and_best(user: Any) -> None:
    data = build_sha_sweep(user)
    summary = queries.sweep_summary(data["sweep"])
    assert summary["trials"] == 9
    assert summary["counts"]["stopped"] == 3
    assert summary["best"]["number"] == 1
    assert summary["finished"] == 5  # 3 stopped + killed + diverged
    assert summary["progress"] == pytest.approx(5 / 20)


@pytest.mark.django_db
def test_sweep_summaries_give_best_and_sparkline(user: Any) -> None:
    data = build_sha_sweep(user)
    empty = make_sweep(user, name="empty")
    out = queries.sweep_summaries([data["sweep"], empty])
    entry = out[data["sweep"].pk]
    assert entry["best"] == {"value": 0.05, "number": 1}
    assert entry["spark"][-1] == 0.05
    assert entry["spark"] == sorted(entry["spark"], reverse=True)  # best so far only improves
    assert out[empty.pk] == {"trials": 0, "finished": 0, "progress": 0.0, "best": None, "spark": []}


def test_best_so_far_follows_mode() -> None:
    assert queries.best_so_far([3, None, 1, 2], "min") == [3, 3, 1, 1]
    assert queries.best_so_far([None, 1, 3, 2], "max") == [None, 1, 3, 3]


@pytest.mark.django_db
def test_trial_results_take_the_highest_finished_rung(user: Any) -> None:
    sweep = make_sweep(user)
    t = make_trial(sweep, 1, status="waiting", rung=1)
    add_result(t, 0, 1.0, 0.7)
    add_result(t, 1, 3.0, 0.4)
    rows = queries.trial_results(queries.trial_rows(sweep), queries.rung_results(sweep))
    assert [(r["number"], r["rung"], r["value"]) for r in rows] == [(1, 1, 0.4)]


@pytest.mark.django_db
def test_finished_trials_curves_come_from_their_rollups(user: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sweeps.ingest import roll_up

    sweep = make_sweep(user)
    done = make_trial(sweep, 1, status="stopped", step=99)
    live = make_trial(sweep, 2, status="running", step=0)
    add_points(done, "train_loss", range(100), [1.0] * 100)
    roll_up(done)  # its last segment ended
    add_points(live, "train_loss", range(50), [2.0] * 50)
    first = queries.metric_series(sweep, names=["train_loss"])
    add_points(live, "train_loss", range(50, 60), [3.0] * 10)
    second = queries.metric_series(sweep, names=["train_loss"])
    by_trial = {s["trial"]: s for s in second["series"]}
    assert by_trial[done.pk] == {s["trial"]: s for s in first["series"]}[done.pk]
    assert by_trial[done.pk]["step"] == list(range(100))  # short: exact
    assert by_trial[live.pk]["step"][-1] == 59  # the running trial is read again
    with CaptureQueriesContext(connection) as ctx:
        queries.metric_series(sweep, names=["train_loss"])
    aggregates = [q["sql"] for q in ctx.captured_queries if "GROUP BY" in q["sql"].upper()]
    assert len(aggregates) == 1
    assert f"IN ({live.pk})" in aggregates[0]  # the finished trial's points are not read


@pytest.mark.django_db
def test_a_finished_trial_that_trains_again_is_read_past_its_rollups(user: Any) -> None:
    from sweeps.ingest import roll_up

    sweep = make_sweep(user)
    trial = make_trial(sweep, 1, status="completed", step=9)
    add_points(trial, "train_loss", range(10), [1.0] * 10)
    roll_up(trial)
    assert queries.metric_series(sweep, names=["train_loss"])["series"][0]["step"][-1] == 9
    Trial.objects.filter(pk=trial.pk).update(status="running", worker="w")  # extended
    add_points(trial, "train_loss", range(10, 20), [0.5] * 10)
    [series] = queries.metric_series(sweep, names=["train_loss"])["series"]
    assert series["step"][-1] == 19 and min(series["value"]) == 0.5
