"""The session: what a trainer's ``run`` is given to train one segment of one trial.

A segment trains a trial from where its checkpoint left it (``step``, ``start_resource``) to
the rung's budget. The trainer:

1. builds its model and optimizer from ``params`` and ``args``, seeded with ``seed``;
2. calls :meth:`Session.restore` (a no-op on a fresh trial) which loads the checkpoint into
   them and sets ``step``;
3. trains to :meth:`Session.target_step`, calling ``session.reporter.step(...)`` after every
   optimizer step and acting on the decision it returns, evaluating at the end of every epoch
   and calling :meth:`Session.checkpoint` there;
4. sets ``outcome`` to ``done`` (budget reached, checkpoint saved) or to the decision
   (``stop`` / ``pause``, checkpoint saved) and returns. Divergence is signalled by the
   reporter raising :class:`~trainers.reporting.Diverged`.

Step numbering: ``step`` counts optimizer steps over the trial's whole life; the point
logged after an optimizer step carries the new count (1, 2, ...). A resumed segment logs
from ``checkpoint step + 1`` on, so its curve continues without duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeps.enums import Outcome
from trainers import checkpoints
from trainers.base import EPOCHS
from trainers.device import Device
from trainers.reporting import CONTINUE, Reporter

DONE = Outcome.DONE

# Called after each checkpoint file is safely on disk: (path, step, resource_done) -> whether
# the database now names it (the runner records it with services.checkpoint_saved).
CheckpointHook = Callable[[str, int, float], bool]
# Receives a script's console output as it comes, then once more with its exit code.
ConsoleHook = Callable[[str, int | None], object]


@dataclass
class Session:
    """One segment of one trial, as a trainer sees it."""

    sweep_id: int
    trial_id: int
    params: dict[str, Any]
    args: dict[str, Any]
    seed: int
    device: Device
    reporter: Reporter
    budget: float
    start_resource: float = 0.0
    step: int = 0
    attempt: int = 0
    resource_unit: str = EPOCHS
    horizon: float = 0.0  # the sweep's full budget (its top rung), in ``resource_unit``
    resume_from: str = ""
    on_checkpoint: CheckpointHook | None = None
    console: ConsoleHook | None = None
    # An LR range test's learning rate for the step about to be taken (0-based global step);
    # trainers that expose their LR use it instead of their own (see trainers.lr_range).
    lr_at: Callable[[int], float] | None = None
    # Set by trainers that count whole epochs themselves (a training function, whose steps
    # per epoch Rungs never sees): checkpoints then record it as the resource done.
    epochs_done: float | None = None
    # Filled in while training:
    outcome: str = ""
    steps_per_epoch: int = 1
    resource_done: float = 0.0
    checkpoint_path: str = ""
    checkpoint_step: int = -1
    pruned_to: str = ""  # the checkpoint this segment last deleted the trial's older files for
    eval_metrics: dict[str, float] = field(default_factory=dict)
    eval_step: int = -1
    start_step: int = 0

    def __post_init__(self) -> None:
        self.resource_done = self.start_resource
        self.start_step = self.step

    # --- resources ---------------------------------------------------------------------------

    def resource_at(self, step: int) -> float:
        """The resource (epochs or steps) done after ``step`` optimizer steps."""
        if self.resource_unit == EPOCHS:
            return step / self.steps_per_epoch
        return float(step)

    def target_step(self, steps_per_epoch: int) -> int:
        """The global step at which this segment's budget is reached.

        Rounds up, so the resource done is never below the budget (``budget`` 1/3 epoch of
        22 steps trains 8 steps).
        """
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch)
        if self.resource_unit == EPOCHS:
            return max(math.ceil(self.budget * self.steps_per_epoch - 1e-9), 0)
        return max(math.ceil(self.budget - 1e-9), 0)

    def horizon_steps(self, epochs: float = 0.0) -> int:
        """Steps in the LR schedule's horizon: ``epochs`` if given, else the sweep's full
        budget, so a trial's schedule ends where the sweep's longest training does."""
        if epochs > 0:
            return max(round(epochs * self.steps_per_epoch), 1)
        if self.resource_unit == EPOCHS:
            return max(round(self.horizon * self.steps_per_epoch), 1)
        return max(round(self.horizon), 1)

    def is_epoch_end(self, step: int) -> bool:
        return step > 0 and step % self.steps_per_epoch == 0

    # --- checkpoints -------------------------------------------------------------------------

    def restore(self, **objects: Any) -> checkpoints.Checkpoint | None:
        """Load ``resume_from`` into ``objects`` (model=, optimizer=, scheduler=, scaler=).

        Returns None for a fresh trial. A trial that has trained (``step`` > 0) must have a
        checkpoint at exactly that step: it is never silently retrained from zero.
        """
        if not self.resume_from:
            if self.step > 0:
                raise checkpoints.CheckpointError(
                    f"trial {self.trial_id} has trained {self.step} steps but has no checkpoint"
                )
            return None
        ckpt = checkpoints.load_checkpoint(
            self.resume_from, map_location=self.device.device, **objects
        )
        if ckpt.step != self.step:
            raise checkpoints.CheckpointError(
                f"checkpoint {self.resume_from} is at step {ckpt.step}, "
                f"but trial {self.trial_id} is at step {self.step}"
            )
        self.resource_done = ckpt.resource_done
        self.checkpoint_path, self.checkpoint_step = ckpt.path, ckpt.step
        self.eval_metrics, self.eval_step = dict(ckpt.metrics), ckpt.metrics_step
        return ckpt

    def checkpoint(self, extra: dict[str, Any] | None = None, **objects: Any) -> str:
        """Flush the reporter, save a checkpoint at the current step, record it; return its path.

        Points are written before the checkpoint, so a worker killed right after it loses no
        point at or before the checkpoint's step. Once the database names the new file, the
        trial's older files are deleted.
        """
        self.reporter.flush()
        self.resource_done = (
            self.resource_at(self.step) if self.epochs_done is None else float(self.epochs_done)
        )
        path = checkpoints.save_checkpoint(
            checkpoints.checkpoint_path(self.sweep_id, self.trial_id, self.attempt, self.step),
            step=self.step,
            resource_done=self.resource_done,
            attempt=self.attempt,
            metrics=self.eval_metrics,
            metrics_step=self.eval_step,
            extra=extra,
            **objects,
        )
        return self.adopt_checkpoint(path)

    def adopt_checkpoint(self, path: str) -> str:
        """Make ``path`` (saved at the current step, e.g. by a script) the trial's checkpoint:
        record it and delete the trial's older files once the database names it."""
        self.reporter.flush()
        if self.epochs_done is not None:
            self.resource_done = float(self.epochs_done)
        previous, self.checkpoint_path, self.checkpoint_step = self.checkpoint_path, path, self.step
        if self.on_checkpoint is not None and previous != path:
            recorded = self.on_checkpoint(path, self.step, self.resource_done)
            # A worker that lost its lease must not delete what the current attempt resumes
            # from; it learns that from the hook (and the decision) and leaves files alone.
            if recorded and self.reporter.last_decision == CONTINUE:
                checkpoints.prune_trial(self.sweep_id, self.trial_id, keep=path)
                self.pruned_to = path
        return path

    def record_eval(self, step: int, **metrics: float) -> None:
        """Log evaluation metrics at ``step`` and remember them for the checkpoint."""
        self.reporter.log(step, **metrics)
        self.eval_metrics = {k: float(v) for k, v in metrics.items() if v is not None}
        self.eval_step = step

    def finish(self, outcome: str) -> None:
        self.outcome = outcome

    def checkpointed(self) -> bool:
        """Whether the current step is already saved (no second file for the same step)."""
        return self.checkpoint_step == self.step

    @property
    def steps_done(self) -> int:
        """Optimizer steps trained in this segment."""
        return self.step - self.start_step

    @property
    def directory(self) -> Path:
        return checkpoints.trial_dir(self.sweep_id, self.trial_id)
