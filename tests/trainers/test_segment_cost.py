"""A short segment's bookkeeping stays cheap: its end and the sweep's turn are one
transaction, and what the services just wrote is not read again (bench/overhead.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sweeps import scheduling, services
from sweeps.models import Event, RungResult, Trial
from tests.trainers.test_runner_db import Queue, launch, queue

__all__ = ["queue"]  # the fixture

pytestmark = pytest.mark.django_db(transaction=True)

ONE_STEP = {
    "trainer_args": {"steps_per_epoch": 1},
    "scheduler": {"name": "fifo", "max_resource": 1},
    "max_trials": 4,
}
# Statements of the second trial, BEGIN and COMMIT included, measured on SQLite: 38 before
# the segment's end took the turn in its own transaction, 27 after, 28 since a point batch
# first checks that its segment still holds the trial. PostgreSQL takes one more: the
# ingest lock that orders a sweep's point batches.
MAX_QUERIES = {"sqlite": 28, "postgresql": 29}


def test_a_one_step_trial_costs_few_queries_and_two_transactions(user: Any, queue: Queue) -> None:
    sweep = launch(user, **ONE_STEP)
    queue.run_all(limit=1)  # the first segment warms this process's caches
    with CaptureQueriesContext(connection) as captured:
        assert queue.run_all(limit=1) == 1
    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) <= MAX_QUERIES[connection.vendor], "\n".join(sql)
    # Transactions: the claim, the points, and the segment's end with the sweep's turn (the
    # checkpoint's record is one UPDATE).
    assert sum(s.startswith("BEGIN") for s in sql) == 3, "\n".join(sql)
    assert not any(s.startswith('SELECT "sweeps_rungresult"."id"') for s in sql)
    queue.run_all()
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    assert sorted(sweep.trials.values_list("status", flat=True)) == ["completed"] * 4
    assert RungResult.objects.filter(sweep=sweep).count() == 4


def test_a_turn_that_fails_keeps_the_segments_result(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = launch(user, **ONE_STEP)
    trial_id, rung, attempt = queue.sent.pop(0)
    spec = services.begin_segment(trial_id, rung, attempt, "test:1")
    assert spec is not None

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the scheduler broke")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError, match="scheduler broke"):
        patched.setattr(scheduling, "decide_turn", broken)
        services.finish_segment(
            trial_id, attempt, rung, value=0.5, resource_done=1.0, step=1, checkpoint=""
        )
    trial = Trial.objects.get(pk=trial_id)
    assert trial.status == "waiting" and trial.worker == "" and trial.best_value == 0.5
    assert RungResult.objects.get(trial=trial, rung=0).value == 0.5
    assert Event.objects.filter(trial=trial, kind="rung_done").count() == 1
    assert not queue.sent, "nothing of the failed turn was sent"

    # Reported again (the worker retried): recorded once, and the turn runs this time.
    services.finish_segment(
        trial_id, attempt, rung, value=0.5, resource_done=1.0, step=1, checkpoint=""
    )
    assert RungResult.objects.filter(trial=trial).count() == 1
    assert Trial.objects.get(pk=trial_id).status == "completed"
    assert len(queue.sent) == 1 and sweep.trials.count() == 2


def test_a_repeated_end_records_one_result(user: Any, queue: Queue) -> None:
    launch(user, **ONE_STEP)
    trial_id, rung, attempt = queue.sent.pop(0)
    services.begin_segment(trial_id, rung, attempt, "test:1")
    for value in (0.5, 0.7):
        services.finish_segment(
            trial_id, attempt, rung, value=value, resource_done=1.0, step=1, checkpoint=""
        )
    assert list(RungResult.objects.filter(trial_id=trial_id).values_list("value", flat=True)) == [
        0.5
    ]
    assert len(queue.sent) == 1, "the second report's turn dispatched nothing more"
