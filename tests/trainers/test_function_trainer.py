"""A training function as a trainer: resume, steering, reporting and failures.

The no-database tests drive :func:`trainers.runner.execute_segment` with scripted effects;
the others run sweeps through :func:`trainers.runner.run_segment` and the real services.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sweeps import services
from sweeps.models import MetricPoint, RungResult, Sweep, Trial
from tests.trainers.conftest import Effects, Spec
from tests.trainers.test_runner_db import Queue, queue, steer_after_first_write
from trainers import checkpoints, runner
from trainers.base import Trainer
from trainers.function import rungs_trainer
from trainers.registry import get_trainer
from trainers.reporting import STEP_METRICS

LINE = "tests.trainers.function_trainers:line"
EXAMPLE = "examples.function_trainer.train:train"


@pytest.fixture(autouse=True)
def registered(settings: Any) -> None:
    settings.RUNGS_TRAINERS = {"fn-line": LINE, "fn-digits-mlp": EXAMPLE}


def every_step(effects: Effects, spec: Spec) -> runner.SegmentResult:
    """Run a segment whose reporter asks the heartbeat at every step."""
    return runner.execute_segment(
        spec, reporter_options={"decision_seconds": 0.0}, **effects.kwargs()
    )


# --- the decorator ---------------------------------------------------------------------------


def test_the_decorator_makes_a_registered_trainer() -> None:
    cls = get_trainer("fn-line")
    assert issubclass(cls, Trainer) and cls.key == "fn-line"
    assert cls.metrics == (*STEP_METRICS, "val_loss")
    assert cls.default_space["lr"]["high"] == 0.3 and cls.uses_gpu is False
    assert get_trainer("fn-digits-mlp").metrics[-2:] == ("val_loss", "val_acc")


def test_only_epochs_are_a_resource_unit_of_a_function() -> None:
    with pytest.raises(ValueError, match="resource_unit of a training function must be 'epochs'"):
        rungs_trainer(key="x", resource_unit="steps")


# --- one segment, scripted effects -----------------------------------------------------------


def test_a_segment_reports_steps_and_evaluations() -> None:
    effects = Effects()
    result = every_step(effects, Spec(trainer="fn-line", params={"lr": 0.05}, budget=2))
    assert result.outcome == "done" and result.step == 20 and result.resource_done == 2.0
    for name in ("train_loss", "grad_norm", "lr"):
        assert [s for s, _ in effects.series(name)] == list(range(1, 21)), name
    assert all(v is not None and v > 0 for _, v in effects.series("grad_norm"))
    assert {v for _, v in effects.series("lr")} == {0.05}
    assert [s for s, _ in effects.series("val_loss")] == [10, 20]
    assert result.value == effects.series("val_loss")[-1][1]
    assert [(step, done) for _, step, done in effects.checkpoints] == [(10, 1.0), (20, 2.0)]


def test_a_promoted_segment_resumes_where_the_first_stopped() -> None:
    first = Effects()
    a = every_step(first, Spec(trainer="fn-line", params={"lr": 0.05}, budget=1))
    again = Effects()
    b = every_step(
        again,
        Spec(
            trainer="fn-line", params={"lr": 0.05}, budget=3, start_resource=a.resource_done,
            step=a.step, checkpoint=a.checkpoint, attempt=2,
        ),
    )  # fmt: skip
    assert b.outcome == "done" and b.step == 30 and b.resource_done == 3.0
    assert [s for s, _ in again.series("train_loss")] == list(range(11, 31))
    # The same curve as one uninterrupted segment: the checkpoint carried model and RNGs.
    whole = Effects()
    every_step(whole, Spec(trainer="fn-line", params={"lr": 0.05}, budget=3))
    resumed = [v for _, v in first.series("train_loss") + again.series("train_loss")]
    assert resumed == pytest.approx([v for _, v in whole.series("train_loss")])


@pytest.mark.parametrize("decision", ["stop", "pause"])
def test_kill_and_pause_take_effect_within_one_step(decision: str) -> None:
    effects = Effects(lambda n: decision if n >= 14 else "continue")
    result = every_step(effects, Spec(trainer="fn-line", params={"lr": 0.05}, budget=3))
    # Heard at step 14 (the 14th heartbeat); the next step call saves and stops.
    assert result.outcome == decision and result.step == 14
    assert [s for s, _ in effects.series("train_loss")] == list(range(1, 15))
    ckpt = checkpoints.load_checkpoint(result.checkpoint, restore_rngs=False)
    # Mid-epoch: the epoch in progress does not count, a resumed trial repeats it.
    assert ckpt.step == 14 and ckpt.resource_done == 1.0 == result.resource_done


def test_a_decision_heard_at_an_epochs_last_step_is_obeyed_at_its_end() -> None:
    effects = Effects(lambda n: "pause" if n >= 10 else "continue")
    result = every_step(effects, Spec(trainer="fn-line", params={"lr": 0.05}, budget=3))
    assert result.outcome == "pause" and result.step == 10 and result.resource_done == 1.0
    assert len(effects.checkpoints) == 1, "the epoch's checkpoint is not taken twice"


def test_a_nan_loss_diverges_the_trial() -> None:
    effects = Effects()
    spec = Spec(trainer="fn-line", params={}, budget=2, trainer_args={"nan_at_step": 7})
    result = every_step(effects, spec)
    assert result.outcome == "diverged"
    assert result.reason == "train_loss was nan at step 7; the trial diverged"


def test_an_exception_in_user_code_is_retried_with_its_traceback() -> None:
    spec = Spec(trainer="fn-line", params={}, budget=2, trainer_args={"raise_at_step": 13})
    result = every_step(Effects(), spec)
    assert result.outcome == "retry"
    assert result.reason.endswith("RuntimeError: boom in user code")
    assert "function_trainers.py" in result.reason and "in line" in result.reason


def test_a_function_that_forgets_to_restore_cannot_resume() -> None:
    first = every_step(Effects(), Spec(trainer="fn-line", params={}, budget=1))
    spec = Spec(
        trainer="fn-line", params={}, budget=2, trainer_args={"restore": False},
        start_resource=1.0, step=first.step, checkpoint=first.checkpoint, attempt=2,
    )  # fmt: skip
    result = every_step(Effects(), spec)
    assert result.outcome == "failed" and "call session.restore(" in result.reason


__all__ = ["queue"]  # the fixture

# --- sweeps through the real services --------------------------------------------------------


def launch(user: Any, **spec: Any) -> Sweep:
    values: dict[str, Any] = {
        "name": "function trainer",
        "trainer": "fn-line",
        "space": {"lr": {"type": "float", "low": 0.01, "high": 0.2, "log": True}},
        "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 3, "eta": 3},
        "sampler": {"name": "random"},
        "max_trials": 3,
        "concurrency": 1,
        "seed": 5,
    }
    values.update(spec)
    return services.create_sweep(values, user)


def steps(trial: Trial, name: str = "train_loss") -> list[int]:
    points = MetricPoint.objects.filter(trial=trial, name=name).order_by("step")
    return list(points.values_list("step", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_halving_sweep_of_a_function_resumes_its_promoted_trial(user: Any, queue: Queue) -> None:
    sweep = launch(user)
    assert queue.run_all() == 4
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    winner = Trial.objects.get(sweep=sweep, status="completed")
    assert winner.step == 30 and winner.resource_done == 3.0
    assert steps(winner) == list(range(1, 31)), "resumed: no step trained twice"
    assert steps(winner, "val_loss") == [10, 20, 30]
    assert RungResult.objects.get(trial=winner, rung=1).value is not None
    for trial in sweep.trials.all():
        assert steps(trial, "grad_norm") == steps(trial) and steps(trial, "lr") == steps(trial)


@pytest.mark.django_db(transaction=True)
def test_the_example_runs_a_hyperband_sweep(user: Any, queue: Queue) -> None:
    sweep = launch(
        user,
        trainer="fn-digits-mlp",
        space={
            "lr": {"type": "float", "low": 1e-3, "high": 0.03, "log": True},
            "hidden": {"type": "int", "low": 16, "high": 64, "log": True},
        },
        scheduler={"name": "hyperband", "min_resource": 1, "max_resource": 3, "eta": 3},
        max_trials=5,
    )
    queue.run_all()
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    trials = list(sweep.trials.all())
    assert Counter(t.status for t in trials)["completed"] >= 1
    steps_per_epoch = 22  # 1,400 training images in batches of 64
    for trial in trials:
        assert trial.step == steps_per_epoch * trial.resource_done
        assert steps(trial) == list(range(1, trial.step + 1))
        assert steps(trial, "grad_norm") == steps(trial)
        assert steps(trial, "val_loss") == [
            steps_per_epoch * (e + 1) for e in range(int(trial.resource_done))
        ]


@pytest.mark.django_db(transaction=True)
def test_a_killed_function_keeps_its_steps_and_checkpoint(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    steer_after_first_write(monkeypatch, services.kill_trial)
    sweep = launch(
        user, trainer_args={"step_sleep": 0.01}, max_trials=1,
        scheduler={"name": "fifo", "max_resource": 5},
    )  # fmt: skip
    queue.run_all(limit=1)
    trial = sweep.trials.get()
    assert trial.status == "killed" and 0 < trial.step < 50
    assert steps(trial) == list(range(1, trial.step + 1))
    assert checkpoints.load_checkpoint(trial.checkpoint, restore_rngs=False).step == trial.step


@pytest.mark.django_db(transaction=True)
def test_a_paused_function_resumes_and_completes(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    steer_after_first_write(monkeypatch, services.pause_trial)
    sweep = launch(
        user, trainer_args={"step_sleep": 0.01}, max_trials=1,
        scheduler={"name": "fifo", "max_resource": 3},
    )  # fmt: skip
    queue.run_all(limit=1)
    trial = sweep.trials.get()
    assert trial.status == "paused" and 0 < trial.step < 30
    services.resume_trial(trial.pk)
    queue.run_all()
    trial.refresh_from_db()
    assert trial.status == "completed" and trial.resource_done == 3.0
    # A mid-epoch pause repeats that epoch's batches; the step numbers go on, none twice.
    assert steps(trial) == list(range(1, trial.step + 1))


@pytest.mark.django_db(transaction=True)
def test_user_code_failures_end_the_trial_and_the_sweep_goes_on(user: Any, queue: Queue) -> None:
    sweep = launch(
        user, trainer_args={"raise_at_step": 5}, max_trials=1,
        scheduler={"name": "fifo", "max_resource": 1},
    )  # fmt: skip
    queue.run_all()
    trial = sweep.trials.get()
    sweep.refresh_from_db()
    assert trial.status == "failed" and trial.retries >= 1
    assert trial.error.endswith("RuntimeError: boom in user code")
    assert sweep.status in ("completed", "failed")


def test_a_functions_test_hook_evaluates_a_trials_checkpoint(cpu: Any) -> None:
    trainer = get_trainer("fn-line")
    assert trainer.has_test_split and not get_trainer("fn-digits-mlp").has_test_split
    scores = []
    for epochs in (1, 3):
        trained = every_step(Effects(), Spec(trainer="fn-line", params={"lr": 0.05}, budget=epochs))
        scores.append(trainer.evaluate_test({}, {"lr": 0.05}, trained.checkpoint, cpu))
    assert all(set(s) == {"test_loss"} for s in scores)
    # The checkpoint is what is evaluated: longer training, lower test loss.
    assert scores[1]["test_loss"] < scores[0]["test_loss"]
