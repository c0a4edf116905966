"""A batch goes at the step nearest the flush interval, not at the first step past it."""

from __future__ import annotations

from collections.abc import Iterable

from trainers.reporting import Reporter

from .conftest import Effects


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(gaps: Iterable[float], flush_seconds: float) -> list[list[float]]:
    """Log one point per step after each gap; the log times of each written batch."""
    clock, batches = Clock(), []
    rep = Reporter(
        write=lambda points: batches.append([p[3] for p in points]),
        heartbeat=Effects().heartbeat,
        clock=clock,
        wall_clock=clock,
        flush_seconds=flush_seconds,
    )
    for step, gap in enumerate(gaps, start=1):
        clock.now += gap
        rep.log(step, train_loss=1.0)
    return batches


def test_a_step_a_hair_early_does_not_add_a_step_of_waiting() -> None:
    # Steps every 10 ms with timer jitter (some land 0.1 ms early), a 20 ms interval.
    gaps = [0.010 if i % 3 else 0.0099 for i in range(60)]
    batches = run(gaps, flush_seconds=0.02)
    assert len(batches) >= 29
    for batch in batches[1:]:
        assert len(batch) == 2, "the oldest point waits one step, never two"


def test_writes_still_come_once_per_interval_on_average() -> None:
    batches = run([0.007] * 300, flush_seconds=0.02)  # 2.1 s of steps
    assert 95 <= len(batches) <= 110
    assert max(batch[-1] - batch[0] for batch in batches) <= 0.02


def test_steps_slower_than_the_interval_are_written_at_once() -> None:
    batches = run([0.05] * 10, flush_seconds=0.02)
    assert [len(b) for b in batches] == [1] * 10
