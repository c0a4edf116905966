"""Stored rollups + the tail past them give the sweep page exactly the curves that thinning
every raw point gives, extremes kept; they follow segment ends and the reaper's drops."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sweeps import queries, services
from sweeps.models import MetricPoint, SeriesRollup, Trial
from sweeps.queries import series as series_module
from tests.factories import add_points, make_sweep, make_trial

# Task sends are recorded, never sent to a broker (the root conftest's sent_tasks).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent_tasks")]

NAMES = ("train_loss", "grad_norm")


def _r5(value: float) -> float:
    return float(f"{value:.5g}")


def thin_directly(points: Iterable[tuple[int, float | None]], length: int, n_buckets: int) -> Any:
    """The page's rule, from its definition, on raw ``(step, value)`` points: equal buckets
    of a power-of-two number of steps (at most ``n_buckets`` up to ``length``), each drawn as
    its minimum and maximum at its first and last step, in the order of the local trend."""
    width = max(1, (1 << max(length, 1).bit_length()) // n_buckets)
    found: dict[int, list[Any]] = {}
    for step, value in points:
        b = found.setdefault(step // width, [step, step, None, None])
        b[0], b[1] = min(b[0], step), max(b[1], step)
        if value is not None:
            b[2] = value if b[2] is None else min(b[2], value)
            b[3] = value if b[3] is None else max(b[3], value)
    buckets = [found[k] for k in sorted(found)]
    assert len(buckets) <= n_buckets

    def mid(b: Sequence[Any]) -> float | None:
        return None if b[2] is None else (b[2] + b[3]) / 2

    steps: list[int] = []
    values: list[float] = []
    for i, (s0, s1, lo, hi) in enumerate(buckets):
        if lo is None:
            continue
        if lo == hi or s0 == s1:
            steps.append(s0)
            values.append(_r5(lo))
            continue
        here = mid(buckets[i])
        prev = mid(buckets[i - 1]) if i > 0 else None
        nxt = mid(buckets[i + 1]) if i + 1 < len(buckets) else None
        rising = (here if nxt is None else nxt) >= (here if prev is None else prev)
        steps += [s0, s1]
        values += [_r5(lo), _r5(hi)] if rising else [_r5(hi), _r5(lo)]
    return steps, values


def _raw(trial: Trial, name: str, upto: int | None = None) -> list[tuple[int, float | None]]:
    qs = MetricPoint.objects.filter(trial=trial, name=name)
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    return list(qs.order_by("id").values_list("step", "value"))


def _curve(n: int, seed: int, start: int = 0) -> list[float | None]:
    rng = random.Random(seed)
    values: list[float | None] = [
        math.exp(-(start + i) / 300) + 0.05 * rng.random() for i in range(n)
    ]
    return values


def _log(trial: Trial, steps: range, seed: int) -> None:
    """Log NAMES at ``steps``: a noisy decay with a spike, a dip and a gap in train_loss."""
    loss = _curve(len(steps), seed, steps.start)
    if len(steps) > 100:
        loss[len(steps) // 3] = 40.0 + seed  # a spike that thinning must keep
        loss[len(steps) // 2] = -5.0 - seed  # and a dip
        loss[10:14] = [None] * 4  # a non-finite stretch (stored as NULL)
    add_points(trial, "train_loss", steps, loss)
    add_points(trial, "grad_norm", steps, [2 * (v or 0) + 1 for v in loss])


def _expected(sweep: Any, n_buckets: int, upto: int | None = None) -> dict[tuple[int, str], Any]:
    out = {}
    for trial in Trial.objects.filter(sweep=sweep):
        if trial.status in ("running", "pending", "waiting", "paused"):
            qs = MetricPoint.objects.filter(trial=trial, name__in=NAMES)
            if upto is not None:
                qs = qs.filter(id__lte=upto)
            length = max(qs.values_list("step", flat=True), default=0)
        else:
            length = trial.step
        for name in NAMES:
            raw = _raw(trial, name, upto)
            if raw:
                out[(trial.pk, name)] = thin_directly(raw, length, n_buckets)
    return out


def _served(sweep: Any, **kwargs: Any) -> dict[tuple[int, str], Any]:
    out = queries.metric_series(sweep, names=NAMES, **kwargs)
    return {(s["trial"], s["name"]): (s["step"], s["value"]) for s in out["series"]}


def _n_buckets(n_series: int, max_points: int) -> int:
    per = queries.series_budget(n_series, max_points, queries.SERIES_TOTAL_POINTS)
    return 1 << max(0, (per // 2).bit_length() - 1)


def _finish(trial: Trial, step: int) -> None:
    """The trial's segment ends at ``step`` (as a worker reports it)."""
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=1, worker="w", rung=0)
    services.finish_segment(trial.pk, 1, 0, value=0.5, resource_done=1.0, step=step,
                            checkpoint="c.pt")  # fmt: skip


@pytest.mark.parametrize("max_points", [16, 64, 512])
def test_rollups_and_tails_give_the_curves_of_thinning_every_raw_point(
    user: Any, max_points: int
) -> None:
    sweep = make_sweep(user, status="paused")  # no scheduler turns
    done = make_trial(sweep, 1)
    _log(done, range(1, 1001), seed=1)
    _finish(done, 1000)
    Trial.objects.filter(pk=done.pk).update(status="stopped")
    # Trained a first rung (rolled up), now part way through the next: a tail past it.
    live = make_trial(sweep, 2)
    _log(live, range(1, 401), seed=2)
    _finish(live, 400)
    Trial.objects.filter(pk=live.pk).update(status="running", worker="w2", attempt=2)
    _log(live, range(401, 701), seed=3)
    # A trial that never finished a segment: all of it is tail.
    fresh = make_trial(sweep, 3, status="running", worker="w3", attempt=1)
    _log(fresh, range(1, 301), seed=4)

    n_buckets = _n_buckets(3 * len(NAMES), max_points)
    served = _served(sweep, max_points=max_points)
    expected = _expected(sweep, n_buckets)
    assert served == expected
    spikes = served[(done.pk, "train_loss")][1]
    assert 41.0 in spikes and -6.0 in spikes  # extremes survive every budget
    assert 43.0 in served[(live.pk, "train_loss")][1]  # a spike in the tail too


def test_a_series_that_ends_before_its_trial_is_drawn_from_its_buckets(user: Any) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1)
    add_points(trial, "train_loss", range(1, 2001), _curve(2000, seed=1))
    add_points(trial, "grad_norm", range(1, 101), _curve(100, seed=2))  # stopped early
    _finish(trial, 2000)
    Trial.objects.filter(pk=trial.pk).update(status="completed")
    for max_points in (16, 64, 512):
        n_buckets = _n_buckets(len(NAMES), max_points)
        assert _served(sweep, max_points=max_points) == _expected(sweep, n_buckets)


def test_the_page_reads_rollups_and_aggregates_only_tails(user: Any) -> None:
    sweep = make_sweep(user, status="paused")  # no scheduler turns
    for n in range(1, 4):
        trial = make_trial(sweep, n)
        _log(trial, range(1, 201), seed=n)
        _finish(trial, 200)
    live = Trial.objects.get(sweep=sweep, number=3)
    Trial.objects.filter(pk=live.pk).update(status="running", worker="w", attempt=2)
    _log(live, range(201, 260), seed=9)
    with CaptureQueriesContext(connection) as ctx:
        served = _served(sweep)
    aggregates = [q["sql"] for q in ctx.captured_queries if "GROUP BY" in q["sql"].upper()]
    assert len(aggregates) == 1  # only the running trial's tail is aggregated
    assert str(live.pk) in aggregates[0]
    assert served == _expected(sweep, _n_buckets(3 * len(NAMES), queries.SERIES_MAX_POINTS))


def test_folding_segment_by_segment_then_coarsening_is_bucketing_at_once() -> None:
    rng = random.Random(7)
    points = [(s, rng.choice([None, rng.gauss(0, 1), 1e9 * rng.random()])) for s in range(5000)]
    rng.shuffle(points)  # segments may re-log steps out of order
    for width in (1, 4, 64):
        fine: list[Any] = []
        for start in range(0, 5000, 700):  # seven "segments", each folded on top
            fine = queries.fold_buckets(width, fine, points[start : start + 700])
        once = queries.fold_buckets(width, (), points)
        assert fine == once
        for coarser in (width * 2, width * 32):
            assert queries.fold_buckets(coarser, fine) == queries.fold_buckets(coarser, (), points)
        # Folding a point twice changes nothing: min and max are idempotent.
        assert queries.fold_buckets(width, fine, points[:100]) == once


def test_a_segment_end_rolls_the_trial_up(user: Any) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1, status="running", attempt=1, worker="w")
    _log(trial, range(1, 301), seed=1)
    assert not SeriesRollup.objects.filter(trial=trial).exists()
    services.finish_segment(trial.pk, 1, 0, value=0.4, resource_done=1, step=300, checkpoint="c")
    newest = MetricPoint.objects.filter(trial=trial).order_by("-id")[0].pk
    rows = SeriesRollup.objects.filter(trial=trial)
    assert {(r.name, r.level) for r in rows} == {
        (name, level) for name in NAMES for level in queries.ROLLUP_LEVELS
    }
    assert {r.cursor for r in rows} == {newest}
    fine = rows.get(name="train_loss", level=256)
    assert (fine.width, fine.buckets[0][0], fine.buckets[-1][1]) == (2, 1, 300)
    assert max(b[3] for b in fine.buckets if b[3] is not None) == 41.0  # the spike
    # The next segment (promoted, then paused mid-way): its points fold on top.
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=2, worker="w", rung=1)
    _log(trial, range(301, 501), seed=2)
    services.pause_trial(trial.pk)
    services.interrupt_segment(trial.pk, 2, resource_done=1.5, step=500, checkpoint="c2")
    fine = SeriesRollup.objects.get(trial=trial, name="train_loss", level=256)
    assert fine.cursor == MetricPoint.objects.order_by("-id")[0].pk
    assert (fine.width, fine.buckets[-1][1]) == (2, 500)
    assert _served(sweep) == _expected(sweep, 256)
    # A stale delivery (an older attempt) changes nothing.
    _log(trial, range(501, 511), seed=3)
    services.fail_segment(trial.pk, 1, reason="stale")
    assert SeriesRollup.objects.get(trial=trial, name="train_loss", level=256) == fine
    assert SeriesRollup.objects.get(pk=fine.pk).cursor == fine.cursor
    # A failed segment's points are final too.
    services.resume_trial(trial.pk)
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=3, worker="w")
    services.fail_segment(trial.pk, 3, reason="boom", retry=False)
    assert SeriesRollup.objects.get(trial=trial, name="train_loss", level=256).buckets[-1][1] == 510


def _lose_worker(trial: Trial) -> None:
    """The trial's worker stops heart-beating; the reaper finds it."""
    Trial.objects.filter(pk=trial.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )
    assert services.reap_lost_segments() == 1


def test_rollups_follow_the_reaper_dropping_a_lost_segments_points(user: Any) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1)
    _log(trial, range(1, 201), seed=1)
    _finish(trial, 200)
    # The next rung: a checkpoint at step 300, then the worker is lost at step 400.
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=2, worker="w", rung=1)
    _log(trial, range(201, 301), seed=2)
    assert services.checkpoint_saved(trial.pk, 2, resource_done=1.5, step=300, checkpoint="c2")
    _log(trial, range(301, 401), seed=3)
    add_points(trial, "train_loss", [350], [99.0])  # a spike the drop must take away
    assert 99.0 in _served(sweep)[(trial.pk, "train_loss")][1]
    _lose_worker(trial)
    trial.refresh_from_db()
    assert trial.status == "pending" and trial.step == 300
    assert max(MetricPoint.objects.filter(trial=trial).values_list("step", flat=True)) == 300
    served = _served(sweep)
    assert served == _expected(sweep, 256)
    assert 99.0 not in served[(trial.pk, "train_loss")][1]
    assert served[(trial.pk, "train_loss")][0][-1] == 300
    # What was kept of the lost segment (up to its checkpoint) is rolled up already.
    rollup = SeriesRollup.objects.get(trial=trial, name="train_loss", level=256)
    assert rollup.buckets[-1][1] == 300
    assert rollup.cursor == MetricPoint.objects.filter(trial=trial).order_by("-id")[0].pk


def test_rollups_that_held_dropped_points_are_folded_again(user: Any) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1)
    _log(trial, range(1, 201), seed=1)
    add_points(trial, "grad_norm", [210], [77.0])  # logged past the step the segment reports
    _finish(trial, 200)
    assert SeriesRollup.objects.get(trial=trial, name="grad_norm", level=256).buckets[-1][1] == 210
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=2, worker="w", rung=1)
    _log(trial, range(201, 260), seed=2)
    _lose_worker(trial)  # no checkpoint since step 200: everything past it goes
    served = _served(sweep)
    assert served == _expected(sweep, 256)
    assert 77.0 not in served[(trial.pk, "grad_norm")][1]
    assert all(s[0][-1] == 200 for s in served.values())
    for rollup in SeriesRollup.objects.filter(trial=trial):
        assert rollup.points[0][-1] == 200
    finest = SeriesRollup.objects.get(trial=trial, name="grad_norm", level=queries.FINEST)
    assert finest.buckets[-1][1] == 200


def test_a_killed_trials_last_points_are_read_until_its_worker_lets_go(user: Any) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1)
    _log(trial, range(1, 101), seed=1)
    _finish(trial, 100)
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=2, worker="w", rung=1)
    _log(trial, range(101, 151), seed=2)
    services.kill_trial(trial.pk)  # the worker sees "stop" at its next step
    assert _served(sweep)[(trial.pk, "train_loss")][0][-1] == 150
    assert _served(sweep) == _expected(sweep, 256)


def test_a_rollup_newer_than_the_pages_cursor_is_passed_over(user: Any) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1)
    _log(trial, range(1, 101), seed=1)
    upto = MetricPoint.objects.order_by("-id")[0].pk
    _log(trial, range(101, 201), seed=2)
    _finish(trial, 200)  # the segment ends after the page read its cursor
    assert _served(sweep, upto=upto) == _expected(sweep, 256, upto=upto)


def test_the_migration_rolls_up_points_stored_before_rollups(user: Any) -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("sweeps.migrations.0002_seriesrollup")
    sweep = make_sweep(user)
    trials = [make_trial(sweep, n, status="completed", step=400) for n in (1, 2)]
    for n, trial in enumerate(trials):
        _log(trial, range(1, 401), seed=n)
    assert not SeriesRollup.objects.exists()

    class Editor:
        connection = connection

    migration.roll_up_existing(apps, Editor())
    assert SeriesRollup.objects.filter(level=8).count() == 2 * len(NAMES)
    with CaptureQueriesContext(connection) as ctx:
        served = _served(sweep, max_points=16)
    assert not [q for q in ctx.captured_queries if "GROUP BY" in q["sql"].upper()]
    assert served == _expected(sweep, 8)


def test_a_segment_ending_while_the_page_reads_is_passed_over(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = make_sweep(user, status="paused")
    trial = make_trial(sweep, 1)
    _log(trial, range(1, 101), seed=1)
    _finish(trial, 100)
    Trial.objects.filter(pk=trial.pk).update(status="running", attempt=2, worker="w", rung=1)
    _log(trial, range(101, 151), seed=2)
    upto = MetricPoint.objects.order_by("-id")[0].pk
    real = series_module._finest_buckets

    def racing(*args: Any) -> Any:
        # Between the page's two reads of rollups, the segment logs more and ends.
        _log(trial, range(151, 201), seed=3)
        services.finish_segment(trial.pk, 2, 1, value=0.3, resource_done=2, step=200,
                                checkpoint="c2")  # fmt: skip
        return real(*args)

    monkeypatch.setattr(series_module, "_finest_buckets", racing)
    served = _served(sweep, upto=upto)
    assert served == _expected(sweep, 256, upto=upto)
    assert served[(trial.pk, "train_loss")][0][-1] == 150  # nothing past the page's cursor
