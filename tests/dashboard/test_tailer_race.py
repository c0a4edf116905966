"""A batch that commits between the tailer's read of its sweep's points and its scan of all
visible ids is delivered, not skipped (found by the fault-injection run: a live page missed
single steps of a trial, though the database had them)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dashboard import tailer
from sweeps.ingest import write_points
from sweeps.models import MetricPoint, Sweep, Trial

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_point_committed_between_the_two_reads_is_delivered(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = Sweep.objects.create(
        name="race", owner=user, trainer="synthetic", status="running",
        space={"lr": {"type": "float", "low": 0.1, "high": 1}},
    )  # fmt: skip
    trial = Trial.objects.create(sweep=sweep, number=1, params={"lr": 0.5}, status="running")
    write_points(sweep.pk, trial.pk, [("train_loss", 1, 1.0, time.time())])
    tail = tailer.SweepTailer(sweep.pk)  # (it keeps the running loop; the reads are sync)
    tail._load()
    tail.state.refreshed = time.monotonic() - 5  # idle: the read also scans other sweeps' ids

    real = MetricPoint.objects.filter
    calls: list[dict[str, Any]] = []

    def filter_then_commit(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        if len(calls) == 2:  # a worker's batch commits after the first read, before the scan
            write_points(sweep.pk, trial.pk, [("train_loss", 2, 0.5, time.time())])
        return real(*args, **kwargs)

    monkeypatch.setattr(MetricPoint.objects, "filter", filter_then_commit)
    rows, cursor = tail._read_points(time.monotonic())
    monkeypatch.setattr(MetricPoint.objects, "filter", real)
    later, _ = tail._read_points(time.monotonic())
    newest = MetricPoint.objects.order_by("-id").first()
    assert newest is not None and newest.step == 2
    delivered = [r[0] for r in (*rows, *later)]
    assert delivered == [newest.pk], "the point is delivered exactly once"
