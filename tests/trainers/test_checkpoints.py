"""Checkpoints resume training exactly, load weights-only, are written atomically."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trainers import checkpoints
from trainers.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from trainers.runner import execute_segment

from .conftest import Effects, Spec

MLP_PARAMS = {
    "lr": 0.05,
    "hidden": 32,
    "dropout": 0.3,  # draws from the torch RNG: resumes only match if it is restored
    "optimizer": "sgd",
    "momentum": 0.9,  # optimizer state: resumes only match if it is restored
    "weight_decay": 1e-4,
    "schedule": "warmup_cosine",  # scheduler state
}
MLP_ARGS = {"batch_size": 128, "schedule_epochs": 3}


def model_state(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_two_epochs_straight_equal_one_plus_resume_plus_one(cpu: Any) -> None:
    straight = Effects()
    whole = execute_segment(
        Spec("digits-mlp", MLP_PARAMS, budget=2, trainer_args=MLP_ARGS), device=cpu,
        **straight.kwargs(),
    )  # fmt: skip
    first, second = Effects(), Effects()
    part1 = execute_segment(
        Spec("digits-mlp", MLP_PARAMS, budget=1, trainer_args=MLP_ARGS, trial_id=8), device=cpu,
        **first.kwargs(),
    )  # fmt: skip
    part2 = execute_segment(
        Spec("digits-mlp", MLP_PARAMS, budget=2, trainer_args=MLP_ARGS, trial_id=8, rung=1,
             attempt=2, start_resource=part1.resource_done, step=part1.step,
             checkpoint=part1.checkpoint),
        device=cpu, **second.kwargs(),
    )  # fmt: skip
    assert whole.outcome == part1.outcome == part2.outcome == "done"
    assert part1.resource_done == 1.0 and whole.resource_done == part2.resource_done == 2.0
    steps_per_epoch = part1.step
    assert part2.step == whole.step == 2 * steps_per_epoch
    # The step counter continues: the resumed segment logs from the checkpoint's step + 1.
    resumed = second.series("train_loss")
    assert resumed[0][0] == steps_per_epoch + 1
    assert first.series("train_loss") + resumed == straight.series("train_loss")
    assert second.series("val_loss") == straight.series("val_loss")[1:]
    assert part2.value == whole.value
    a, b = model_state(whole.checkpoint), model_state(part2.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_synthetic_resumes_exactly_from_a_mid_epoch_pause(cpu: Any) -> None:
    args = {"steps_per_epoch": 20}
    params = {"lr": 0.2, "width": 32, "momentum": 0.5}
    straight = Effects()
    whole = execute_segment(Spec("synthetic", params, 3, args), device=cpu, **straight.kwargs())

    pausing = Effects(lambda n: "pause" if n >= 30 else "continue")
    part1 = execute_segment(
        Spec("synthetic", params, 3, args, trial_id=9), device=cpu,
        reporter_options={"decision_seconds": 0}, **pausing.kwargs(),
    )  # fmt: skip
    assert part1.outcome == "pause" and part1.step == 30, "paused at the step it was seen"
    assert part1.resource_done == 1.5
    rest = Effects()
    part2 = execute_segment(
        Spec("synthetic", params, 3, args, trial_id=9, attempt=2, step=part1.step,
             start_resource=part1.resource_done, checkpoint=part1.checkpoint),
        device=cpu, **rest.kwargs(),
    )  # fmt: skip
    assert part2.outcome == "done" and part2.step == 60
    assert pausing.series("train_loss") + rest.series("train_loss") == straight.series("train_loss")
    assert part2.value == whole.value


def test_a_trained_trial_without_its_checkpoint_is_not_retrained_from_zero(cpu: Any) -> None:
    effects = Effects()
    result = execute_segment(
        Spec("synthetic", {"lr": 0.1}, 2, {"steps_per_epoch": 5}, step=5, start_resource=1.0),
        device=cpu, **effects.kwargs(),
    )  # fmt: skip
    assert result.outcome == "failed"
    assert "has trained 5 steps but has no checkpoint" in result.reason
    assert effects.points == []


def test_a_checkpoint_at_another_step_is_refused(cpu: Any, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", step=3, resource_done=0.6)
    result = execute_segment(
        Spec("synthetic", {"lr": 0.1}, 2, {"steps_per_epoch": 5}, step=5, start_resource=1.0,
             checkpoint=path),
        device=cpu, **Effects().kwargs(),
    )  # fmt: skip
    assert result.outcome == "failed"
    assert "is at step 3, but trial 7 is at step 5" in result.reason


class Payload:
    """Not a tensor or plain value: unpickling it could run arbitrary code."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.getenv, ("HOME",))


def test_loading_is_weights_only(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"format": checkpoints.FORMAT, "extra": Payload()}, evil)
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(evil)


def test_round_trip_restores_objects_rngs_and_progress(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    path = save_checkpoint(
        tmp_path / "t" / "a1-s9.pt", step=9, resource_done=0.75, attempt=1, model=model,
        optimizer=optimizer, metrics={"val_loss": 0.5}, metrics_step=8,
        extra={"theta": torch.arange(3.0), "note": "x"},
    )  # fmt: skip
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=0.01)
    ckpt = load_checkpoint(path, model=fresh, optimizer=fresh_opt)
    assert (ckpt.step, ckpt.resource_done, ckpt.attempt) == (9, 0.75, 1)
    assert ckpt.metrics == {"val_loss": 0.5} and ckpt.metrics_step == 8
    assert torch.equal(ckpt.extra["theta"], torch.arange(3.0)) and ckpt.extra["note"] == "x"
    assert torch.equal(fresh.weight, model.weight)
    assert fresh_opt.state_dict()["state"][0]["step"] == 1
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_a_failed_write_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a1-s1.pt"
    save_checkpoint(path, step=1, resource_done=0.1)

    def crash(obj: Any, f: Any) -> None:
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, step=2, resource_done=0.2)
    monkeypatch.undo()
    assert load_checkpoint(path, restore_rngs=False).step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a1-s1.pt"]


def test_segment_checkpoints_every_epoch_and_prunes_older_files(cpu: Any) -> None:
    effects = Effects()
    result = execute_segment(
        Spec("synthetic", {"lr": 0.1}, 3, {"steps_per_epoch": 10}), device=cpu,
        **effects.kwargs(),
    )  # fmt: skip
    assert [(step, done) for _, step, done in effects.checkpoints] == [
        (10, 1.0),
        (20, 2.0),
        (30, 3.0),
    ]
    files = sorted(p.name for p in checkpoints.trial_dir(3, 7).iterdir())
    assert files == ["a1-s30.pt"] and result.checkpoint.endswith("a1-s30.pt")


def test_points_are_flushed_before_each_checkpoint(cpu: Any) -> None:
    """A worker killed right after a checkpoint must not lose points at or before it."""
    effects = Effects()
    seen: list[int] = []

    def saved(path: str, step: int, resource_done: float) -> bool:
        seen.append(max(s for _, s, _, _ in effects.points))
        return True

    kwargs = {**effects.kwargs(), "checkpoint_saved": saved}
    execute_segment(
        Spec("synthetic", {"lr": 0.1}, 2, {"steps_per_epoch": 10}), device=cpu, **kwargs
    )
    assert seen == [10, 20]


def test_pruning_keeps_what_a_script_saved_after_the_kept_file() -> None:
    """A script runs ahead of the worker reading its lines: files of the kept attempt at later
    steps are its newer checkpoints, not leftovers."""
    folder = checkpoints.trial_dir(3, 7)
    folder.mkdir(parents=True)
    for name in ("a1-s10.pt", "a1-s20.pt", "a1-s30.pt", "a0-s40.pt", "notes.txt"):
        (folder / name).write_bytes(b"x")
    assert checkpoints.prune_trial(3, 7, keep=folder / "a1-s20.pt") == 2
    assert sorted(p.name for p in folder.iterdir()) == ["a1-s20.pt", "a1-s30.pt", "notes.txt"]
