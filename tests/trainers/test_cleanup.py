"""RUNGS_KEEP_CHECKPOINTS: what is deleted, when, and what is always kept."""

from __future__ import annotations

from typing import Any

import pytest

from trainers import checkpoints
from trainers.checkpoints import cleanup_checkpoints, keep_policy, save_checkpoint
from trainers.tasks import cleanup_checkpoints_task

from .factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db

# status -> best_value (lower is better)
TRIALS = {
    "completed": 0.2,
    "stopped": 0.1,  # the best, although it was cut at a lower rung
    "killed": 0.3,
    "failed": None,
    "diverged": None,
    "paused": 0.5,
}


def build(user: Any, sweep_status: str) -> tuple[Any, dict[str, Any]]:
    sweep = make_sweep(user, status=sweep_status)
    trials = {}
    for number, (status, best) in enumerate(TRIALS.items(), start=1):
        trial = make_trial(sweep, number, status=status, best_value=best)
        old = save_checkpoint(checkpoints.checkpoint_path(sweep.pk, trial.pk, 1, 5), step=5,
                              resource_done=1)  # fmt: skip
        path = save_checkpoint(checkpoints.checkpoint_path(sweep.pk, trial.pk, 2, 9), step=9,
                               resource_done=2)  # fmt: skip
        trial.checkpoint = path
        trial.save(update_fields=["checkpoint"])
        trials[status] = (trial, old, path)
    return sweep, trials


def kept(sweep: Any, trials: dict[str, Any]) -> set[str]:
    return {s for s, (t, *_) in trials.items() if checkpoints.trial_dir(sweep.pk, t.pk).exists()}


def test_while_running_only_trials_that_cannot_train_again_lose_theirs(user: Any) -> None:
    sweep, trials = build(user, "running")
    removed = cleanup_checkpoints(sweep.pk, "best")
    assert sorted(removed) == sorted(trials[s][0].pk for s in ("killed", "failed", "diverged"))
    assert kept(sweep, trials) == {"completed", "stopped", "paused"}


def test_finished_sweep_keeps_the_best_and_completed_trials(user: Any) -> None:
    sweep, trials = build(user, "completed")
    cleanup_checkpoints(sweep.pk, "best")
    assert kept(sweep, trials) == {"completed", "stopped", "paused"}
    # The kept trials are pruned to the file their row names.
    trial, old, path = trials["stopped"]
    assert [p.name for p in checkpoints.trial_dir(sweep.pk, trial.pk).iterdir()] == ["a2-s9.pt"]


def test_a_stopped_trial_that_is_not_the_best_loses_its_checkpoint(user: Any) -> None:
    sweep, trials = build(user, "completed")
    trials["stopped"][0].__class__.objects.filter(pk=trials["stopped"][0].pk).update(best_value=0.9)
    cleanup_checkpoints(sweep.pk, "best")
    assert kept(sweep, trials) == {"completed", "paused"}


def test_cancelled_sweep_drops_trials_that_can_never_resume(user: Any) -> None:
    sweep, trials = build(user, "cancelled")
    cleanup_checkpoints(sweep.pk, "best")
    assert kept(sweep, trials) == {"completed", "stopped"}  # stopped is the best


def test_policy_all_keeps_everything(user: Any) -> None:
    sweep, trials = build(user, "completed")
    assert cleanup_checkpoints(sweep.pk, "all") == []
    assert kept(sweep, trials) == set(TRIALS)


def test_policy_none_keeps_nothing_once_finished(user: Any) -> None:
    sweep, trials = build(user, "completed")
    cleanup_checkpoints(sweep.pk, "none")
    assert kept(sweep, trials) == {"paused"}  # a completed sweep has no paused trial in practice


def test_policy_comes_from_settings_and_is_checked(user: Any, settings: Any) -> None:
    assert keep_policy() == "best"
    settings.RUNGS_KEEP_CHECKPOINTS = "all"
    sweep, trials = build(user, "running")
    assert cleanup_checkpoints_task.apply(args=(sweep.pk,)).get() == []
    settings.RUNGS_KEEP_CHECKPOINTS = "some"
    with pytest.raises(ValueError, match="RUNGS_KEEP_CHECKPOINTS must be one of"):
        cleanup_checkpoints(sweep.pk)


def test_a_deleted_sweep_loses_all_its_checkpoints(user: Any) -> None:
    sweep, trials = build(user, "running")
    sweep_id = sweep.pk
    root = checkpoints.trial_dir(sweep_id, 1).parent
    sweep.delete()
    cleanup_checkpoints(sweep_id, "best")
    assert not root.exists()
