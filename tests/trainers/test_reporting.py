"""The reporter batches points by count and time, caches decisions, and flags divergence."""

from __future__ import annotations

import math

import pytest
from django.db import OperationalError

from trainers.reporting import Diverged, Reporter, TimeLimitExceeded

from .conftest import Effects


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reporter(effects: Effects, clock: Clock, **options: object) -> Reporter:
    return Reporter(
        write=effects.write,
        heartbeat=effects.heartbeat,
        nudge=effects.nudge,
        clock=clock,
        wall_clock=clock,
        **options,  # type: ignore[arg-type]
    )


def step(rep: Reporter, n: int, loss: float = 1.0) -> str:
    return rep.step(n, train_loss=loss, grad_norm=2.0, lr=0.1, samples=32)


def test_points_are_written_in_batches_bounded_by_count(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock, flush_points=10, flush_seconds=60)
    for n in range(1, 5):
        step(rep, n)  # 4 points per step
    # 16 points: one full batch of 10 went, the other 6 wait for the next batch.
    assert effects.writes == 1 and len(effects.points) == 10 and rep.pending == 6
    assert effects.nudges == 1, "every write is followed by a nudge"
    assert [p[1] for p in effects.points] == [1] * 4 + [2] * 4 + [3] * 2


def test_points_are_written_in_batches_bounded_by_time(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock, flush_points=10_000, flush_seconds=0.25)
    step(rep, 1)
    clock.now += 0.1
    step(rep, 2)
    assert effects.writes == 0 and rep.pending == 8
    clock.now += 0.2
    step(rep, 3)
    assert effects.writes == 1 and rep.pending == 0 and len(effects.points) == 12


def test_flush_writes_everything_in_bounded_batches(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock, flush_points=10_000, flush_seconds=60)
    for n in range(1, 6):
        step(rep, n)
    rep.flush_points = 8
    assert rep.flush() == 20
    assert effects.writes == 3 and rep.pending == 0
    assert rep.flush() == 0 and effects.writes == 3


def test_step_metrics_and_values(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock)
    step(rep, 1)
    clock.now += 0.01
    step(rep, 2)
    rep.flush()
    names = {n for n, *_ in effects.points}
    assert names == {"train_loss", "grad_norm", "lr", "samples_per_s"}
    assert effects.series("grad_norm") == [(1, 2.0), (2, 2.0)]
    # No rate from a single step; then 32 samples in 0.01 s.
    assert effects.series("samples_per_s") == [(1, None), (2, pytest.approx(3200.0))]
    assert all(at == 100.0 or at == pytest.approx(100.01) for *_, at in effects.points)


def test_a_loop_that_counts_no_samples_logs_no_throughput(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock)
    for n in (1, 2, 3):
        rep.step(n, train_loss=1.0, grad_norm=None, lr=0.1, samples=0)
        clock.now += 0.01
    rep.flush()
    assert {v for _, v in effects.series("samples_per_s")} == {None}


def test_decision_is_cached_between_heartbeats() -> None:
    effects = Effects(lambda n: "continue" if n < 3 else "pause")
    clock = Clock()
    rep = reporter(effects, clock, decision_seconds=0.2)
    for n in range(1, 50):  # many steps within one interval: one heartbeat
        assert step(rep, n) == "continue"
    assert effects.heartbeats == 1
    clock.now += 0.2
    assert step(rep, 50) == "continue"
    assert effects.heartbeats == 2
    clock.now += 0.2
    assert step(rep, 51) == "pause", "a pause is seen at the first step after it is set"
    assert effects.heartbeats == 3


def test_nan_or_inf_loss_raises_diverged_after_buffering_the_point(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock)
    step(rep, 1)
    with pytest.raises(Diverged, match="train_loss was nan at step 2"):
        step(rep, 2, loss=math.nan)
    with pytest.raises(Diverged, match="inf"):
        step(rep, 3, loss=math.inf)
    rep.flush()
    losses = effects.series("train_loss")
    assert losses[0] == (1, 1.0) and math.isnan(losses[1][1]) and losses[2] == (3, math.inf)


def test_deadline_raises_time_limit(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock, deadline=101.0)
    step(rep, 1)
    clock.now = 101.5
    with pytest.raises(TimeLimitExceeded):
        step(rep, 2)


def test_unknown_decision_is_an_error(effects: Effects) -> None:
    rep = reporter(Effects(lambda n: "explode"), Clock())
    with pytest.raises(ValueError, match="heartbeat must return one of"):
        step(rep, 1)


def test_a_dropped_connection_is_retried_and_no_point_is_lost(effects: Effects) -> None:
    failures = iter([OperationalError("server closed the connection unexpectedly")])

    def flaky_write(points: object) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        effects.write(points)

    rep = Reporter(write=flaky_write, heartbeat=effects.heartbeat, flush_points=4)
    step(rep, 1)
    assert effects.writes == 1 and len(effects.points) == 4 and rep.pending == 0


def test_a_persistent_failure_keeps_the_points(effects: Effects) -> None:
    def broken(points: object) -> None:
        raise OperationalError("database is down")

    rep = Reporter(write=broken, heartbeat=effects.heartbeat, flush_points=100)
    step(rep, 1)
    with pytest.raises(OperationalError):
        rep.flush()
    assert rep.pending == 4, "a failed write keeps its points for the next try"


def test_streaming_full_batches_nudge_at_most_every_interval(effects: Effects) -> None:
    clock = Clock()
    rep = reporter(effects, clock, flush_points=4, flush_seconds=60, nudge_seconds=0.025)
    for n in range(1, 11):  # a full batch every step, 1 ms apart
        clock.now += 0.001
        step(rep, n)
    assert effects.writes == 10 and effects.nudges == 1, "the first batch nudges, then quiet"
    clock.now += 0.03
    step(rep, 11)
    assert effects.nudges == 2, "the next batch after the interval nudges for all before it"
    step(rep, 12)
    rep.flush()
    assert effects.nudges == 3, "an explicit flush always nudges for what is owed"
    rep.flush()
    assert effects.nudges == 3, "nothing new written, no nudge"
