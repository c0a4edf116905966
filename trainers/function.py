"""A training function as a trainer: ``@rungs_trainer(...)`` on ``def train(config, session)``.

The decorator returns a :class:`~trainers.base.Trainer` subclass, so the function is
registered like any trainer class (``my-mlp: mypkg.train:train`` in the trainers file). Its
``session`` is a :class:`FunctionSession`, a thin facade over the segment's
:class:`~trainers.session.Session` and :class:`~trainers.reporting.Reporter`::

    @rungs_trainer(key="my-mlp", metrics=["val_loss"], space={...})
    def train(config, session):
        model, opt = build(config)
        session.restore(model=model, optimizer=opt)    # a no-op on a fresh trial
        for epoch in session.epochs():                 # this segment's epochs only
            for xb, yb in batches(epoch):
                loss = loss_fn(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                session.step(loss, model=model, optimizer=opt)   # before clipping / opt.step
                opt.step()
            session.report(val_loss=evaluate(model))

What the function does not write:

* **Resume.** ``epochs()`` starts at the epochs the trial has completed and ends at the
  rung's budget (rounded up to whole epochs); ``restore`` loads the model, optimizer,
  scheduler and RNG states the last checkpoint holds.
* **Checkpoints.** At the end of every epoch the objects given to ``restore``,
  ``checkpoint`` or ``step`` are saved, unless the function saved that step itself.
* **Kill and pause.** ``step`` acts on a stop or pause decision at the next ``step`` call
  (or epoch end): the previous optimizer step is then applied, so the checkpoint taken
  there is exact; it then unwinds the function with an exception the trainer catches.
* **Divergence, errors.** A NaN loss raises the reporter's ``Diverged``; any other
  exception in the function fails the segment with its traceback (see
  :mod:`trainers.runner`).

Resource is counted in whole epochs, because the steps in an epoch are the function's
business: a trial paused in the middle of epoch ``e`` resumes at the start of epoch ``e``
(its batches seen again, its step numbers continuing), so ``resource_unit`` must be epochs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from trainers.base import EPOCHS, Arg, Trainer
from trainers.checkpoints import Checkpoint, CheckpointError, load_checkpoint
from trainers.reporting import CONTINUE, STEP_METRICS
from trainers.session import DONE, Session

TrainFn = Callable[[dict[str, Any], "FunctionSession"], object]
TestFn = Callable[[dict[str, Any], Callable[..., None]], dict[str, Any]]
_OBJECTS = ("model", "optimizer", "scheduler", "scaler")


class _Interrupted(BaseException):
    """Unwinds a training function after a stop or pause decision was obeyed.

    A BaseException, so a broad ``except Exception`` in the user's loop does not swallow it.
    """


class FunctionSession:
    """What a training function is given: its segment's epochs, and where to report.

    ``config`` (the function's first argument) holds the trial's parameters; ``args``
    the sweep's trainer arguments, ``seed`` the trial's seed, ``device`` the torch device
    the worker chose, ``trial_id`` and ``global_step``.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._objects: dict[str, Any] = {}
        self._restored = False
        self._epoch: int | None = None  # the epoch being trained, while inside epochs()
        self._pending = CONTINUE  # a decision seen at the last step, obeyed at the next

    # --- what the loop reads -----------------------------------------------------------------

    @property
    def args(self) -> dict[str, Any]:
        return self._session.args

    @property
    def seed(self) -> int:
        return self._session.seed

    @property
    def device(self) -> Any:
        return self._session.device.device

    @property
    def trial_id(self) -> int:
        return self._session.trial_id

    @property
    def global_step(self) -> int:
        """Optimizer steps reported over the trial's whole life (the last point's step)."""
        return self._session.step

    def epochs(self) -> Iterator[int]:
        """The epochs this segment trains (0-based), from where the trial left off to the
        rung's budget; checkpoints each one's end and obeys a late kill or pause there."""
        s = self._session
        if s.step > 0 and not self._restored:
            raise CheckpointError(
                f"trial {s.trial_id} has trained {s.step} steps: call session.restore(model=..., "
                "optimizer=...) before session.epochs(), or it would train from scratch"
            )
        # Completed epochs: a trial checkpointed mid-epoch repeats that epoch from its start.
        start = int(math.floor(s.resource_done + 1e-9))
        end = max(math.ceil(s.budget - 1e-9), 0)
        for epoch in range(start, end):
            self._epoch = epoch
            s.epochs_done = float(epoch)
            yield epoch
            s.epochs_done = float(epoch + 1)
            self._obey()  # a decision seen at the epoch's last step
            if not s.checkpointed() or s.resource_done != s.epochs_done:
                s.checkpoint(**self._objects)
        self._epoch = None

    # --- reporting ---------------------------------------------------------------------------

    def step(
        self,
        loss: Any,
        *,
        model: Any = None,
        optimizer: Any = None,
        lr: float | None = None,
        samples: int = 0,
        **extra: float | None,
    ) -> None:
        """Report one optimizer step: ``loss``, the gradient norm of ``model`` and the LR.

        Call it after ``loss.backward()`` and before gradient clipping (the norm is the
        unclipped one) and ``optimizer.step()``. The LR is ``optimizer``'s first group's,
        or ``lr``; ``samples`` (the batch size) gives ``samples_per_s``.
        """
        self._obey()
        self._remember(model=model, optimizer=optimizer)
        s = self._session
        loss_value = float(loss.detach().float().item() if hasattr(loss, "detach") else loss)
        if optimizer is not None:
            if s.lr_at is not None:  # an LR range test sets the LR this step will use
                for group in optimizer.param_groups:
                    group["lr"] = s.lr_at(s.step)
            lr = float(optimizer.param_groups[0]["lr"])
        s.step += 1
        self._pending = s.reporter.step(
            s.step,
            train_loss=loss_value,
            grad_norm=_grad_norm(model),
            lr=lr,  # type: ignore[arg-type]  # None: no optimizer, no point
            samples=int(samples),
            **extra,
        )

    def report(self, **metrics: float) -> None:
        """Report evaluation metrics (``val_loss=...``) at the current step, at an epoch's end.

        The last report of a segment gives its rung's result.
        """
        values = {k: float(v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        self._session.record_eval(self._session.step, **values)

    # --- checkpoints -------------------------------------------------------------------------

    def restore(self, **objects: Any) -> Checkpoint | None:
        """Load the trial's checkpoint into ``model=``, ``optimizer=``, ``scheduler=``
        (``scaler=``) and the RNG states; None for a fresh trial. Later checkpoints save
        these objects."""
        self._remember(**objects)
        ckpt = self._session.restore(**objects)
        self._restored = True
        return ckpt

    def checkpoint(self, **objects: Any) -> str:
        """Save ``objects`` (model=, optimizer=, scheduler=) and the RNG states now, as the
        end of the current epoch; return the file's path. Optional: epochs() saves anyway."""
        self._remember(**objects)
        s = self._session
        if self._epoch is not None:
            s.epochs_done = float(self._epoch + 1)
        try:
            return s.checkpoint(**self._objects)
        finally:
            if self._epoch is not None:
                # Until the epoch's loop ends, a kill or pause must not count it as done.
                s.epochs_done = float(self._epoch)

    # --- internals ---------------------------------------------------------------------------

    def _remember(self, **objects: Any) -> None:
        unknown = sorted(set(objects) - set(_OBJECTS))
        if unknown:
            raise TypeError(f"can checkpoint only {list(_OBJECTS)}, got {unknown}")
        self._objects.update({k: v for k, v in objects.items() if v is not None})

    def _obey(self) -> None:
        """Checkpoint and unwind if the last decision was to stop or pause."""
        decision, self._pending = self._pending, CONTINUE
        if decision == CONTINUE:
            return
        s = self._session
        if not s.checkpointed():
            s.checkpoint(**self._objects)
        s.finish(decision)
        raise _Interrupted(decision)


def _grad_norm(model: Any) -> float | None:
    if model is None:
        return None
    from trainers.loop import gradient_norm

    if not any(p.grad is not None for p in model.parameters()):
        return None
    return float(gradient_norm(model, 0.0).item())


def _seed_everything(seed: int) -> None:
    """Seed a fresh trial's initial weights and data order; a resume restores the RNGs."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class FunctionTrainer(Trainer):
    """A trainer made from a training function by :func:`rungs_trainer`."""

    function: ClassVar[TrainFn]
    test_function: ClassVar[TestFn | None] = None

    @classmethod
    def evaluate_test(
        cls, args: dict[str, Any], params: dict[str, Any], checkpoint: str, device: Any
    ) -> dict[str, float]:
        """Call the function's ``test`` with a ``restore`` that loads ``checkpoint``."""
        if cls.test_function is None:
            return super().evaluate_test(args, params, checkpoint, device)

        def restore(**objects: Any) -> None:
            load_checkpoint(checkpoint, map_location=device.device, restore_rngs=False, **objects)

        metrics = cls.test_function(dict(params), restore)
        return {k: float(v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}

    exposes_lr: ClassVar[bool] = True  # through the optimizer given to session.step

    def run(self, session: Any) -> None:
        """Call the function for one segment and settle the segment's outcome."""
        facade = FunctionSession(session)
        session.epochs_done = float(math.floor(session.start_resource + 1e-9))
        _seed_everything(session.seed)
        try:
            type(self).function(dict(session.params), facade)
        except _Interrupted:
            return
        end = max(math.ceil(session.budget - 1e-9), 0)
        if (session.epochs_done or 0) < end:
            raise RuntimeError(
                f"{type(self).function.__name__} returned after {session.epochs_done:g} of "
                f"{end} epochs; loop over session.epochs() to its end"
            )
        session.finish(DONE)


def rungs_trainer(
    *,
    key: str,
    metrics: Sequence[str] = ("val_loss",),
    space: dict[str, dict[str, Any]] | None = None,
    resource_unit: str = EPOCHS,
    args: dict[str, Arg] | None = None,
    description: str = "",
    uses_gpu: bool = True,
    test: TestFn | None = None,
) -> Callable[[TrainFn], type[FunctionTrainer]]:
    """Turn ``def train(config, session)`` into a trainer class registered as ``key``.

    ``metrics``: what the function reports with ``session.report`` (the step metrics are
    added); ``space``: the default search space; ``args``: the trainer's argument schema.
    ``test``: ``def test(config, restore) -> {"test_loss": ...}``, which builds the model,
    calls ``restore(model=model)`` to load the chosen trial's checkpoint and evaluates it on
    a test split the training never reads; with it, a sweep offers its final evaluation.
    Register the result's dotted path in the trainers file under the same ``key``.
    """
    if resource_unit != EPOCHS:
        raise ValueError(
            f"resource_unit of a training function must be {EPOCHS!r}, got {resource_unit!r}"
        )
    if not key or not isinstance(key, str):
        raise ValueError(f"key must be a non-empty string, got {key!r}")

    def wrap(fn: TrainFn) -> type[FunctionTrainer]:
        namespace: dict[str, Any] = {
            "key": key,
            "description": description or (fn.__doc__ or "").strip().split("\n")[0],
            "resource_unit": resource_unit,
            "metrics": tuple(dict.fromkeys((*STEP_METRICS, *metrics))),
            "default_space": dict(space or {}),
            "args_schema": dict(args or {}),
            "uses_gpu": uses_gpu,
            "function": staticmethod(fn),
            "test_function": staticmethod(test) if test is not None else None,
            "has_test_split": test is not None,
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,
            "__doc__": fn.__doc__,
        }
        return type(fn.__name__, (FunctionTrainer,), namespace)

    return wrap
