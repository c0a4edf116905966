"""The LR range test (Smith, "Cyclical learning rates", 2017; fastai's ``lr_find``).

Train one configuration while the learning rate rises exponentially from ``low`` to
``high`` over ``steps`` optimizer steps, and record the training loss at each. The loss is
smoothed with an exponential moving average (bias-corrected, weight ``SMOOTHING``); the test
stops early once the smoothed loss exceeds ``DIVERGE`` times its minimum, or the loss is no
longer finite (the constants, and the rules as shown to users, are in
:mod:`sweeps.services.lr_range`). The suggested range:

* **low**: the learning rate where the smoothed loss falls fastest (the most negative slope
  of smoothed loss against log10 of the learning rate), before its minimum;
* **high**: the learning rate where the smoothed loss is lowest: past it the loss turns up,
  so the diverging end is never inside the range.

Any trainer that declares ``exposes_lr`` can be tested: the built-ins, and training
functions that pass ``optimizer=`` to ``session.step``. The trainer runs as in a segment,
with :attr:`~trainers.session.Session.lr_at` setting its learning rate at every step; its
points are kept in memory, not in a trial's series.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sweeps.services.lr_range import DEFAULTS, DIVERGE, MIN_STEPS, SMOOTHING
from trainers.checkpoints import delete_trial_checkpoints
from trainers.device import Device, select_device
from trainers.reporting import CONTINUE, STOP, Diverged, Reporter
from trainers.session import Session

# Checkpoints of a range test go under this sweep id (no sweep has it) and are deleted after.
SCRATCH_SWEEP = 0


def lr_schedule(low: float, high: float, steps: int) -> Callable[[int], float]:
    """The learning rate of 0-based step ``i``: ``low`` at 0, ``high`` at ``steps - 1``."""
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low!r}, high={high!r}")
    if steps < MIN_STEPS:
        raise ValueError(f"steps must be >= {MIN_STEPS}, got {steps}")
    ratio = math.log(high / low) / (steps - 1)
    return lambda i: low * math.exp(ratio * min(i, steps - 1))


def suggest(lrs: list[float], smoothed: list[float]) -> dict[str, float] | None:
    """The suggested range by the rules in the module docstring; None if the curve has too
    few finite points or never falls."""
    lr = np.asarray(lrs, dtype=float)
    loss = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(loss)
    if finite.sum() < 3:
        return None
    lr, loss = lr[finite], loss[finite]
    best = int(np.argmin(loss))
    if best < 2:
        return None  # the loss never fell: no range to suggest
    slope = np.gradient(loss[: best + 1], np.log10(lr[: best + 1]))
    steepest = int(np.argmin(slope[:best]))
    return {"low": float(lr[steepest]), "high": float(lr[best])}


def run_range_test(
    trainer_cls: Any,
    trainer_args: dict[str, Any],
    params: dict[str, Any],
    *,
    low: float = DEFAULTS["low"],
    high: float = DEFAULTS["high"],
    steps: int = DEFAULTS["steps"],
    seed: int = 0,
    device: Device | None = None,
    heartbeat: Callable[[], str] = lambda: CONTINUE,
) -> dict[str, Any]:
    """Run the test; return the curve (``lr``, ``loss``, ``smoothed``), why it stopped and
    the suggested range. ``heartbeat`` may answer "stop" to cancel it."""
    if not getattr(trainer_cls, "exposes_lr", False):
        raise ValueError(
            f"trainer {trainer_cls.key!r} does not expose its learning rate to an LR range test"
        )
    lr_at = lr_schedule(low, high, steps)
    args = trainer_cls.clean_args(trainer_args)
    curve: dict[str, list[float]] = {"lr": [], "loss": [], "smoothed": []}
    state = {"avg": 0.0, "best": math.inf, "stopped": "", "cancelled": False}

    def decide() -> str:
        """Called by the reporter after every step: record it and decide whether to go on."""
        n = len(curve["lr"]) + 1
        loss, lr = reporter.last["train_loss"], reporter.last.get("lr", lr_at(n - 1))
        state["avg"] = SMOOTHING * state["avg"] + (1 - SMOOTHING) * loss
        smooth = state["avg"] / (1 - SMOOTHING**n)
        curve["lr"].append(lr)
        curve["loss"].append(loss)
        curve["smoothed"].append(smooth)
        state["best"] = min(state["best"], smooth)
        if heartbeat() != CONTINUE:
            state["stopped"], state["cancelled"] = "cancelled", True
        elif n >= MIN_STEPS and smooth > DIVERGE * state["best"]:
            state["stopped"] = f"the smoothed loss passed {DIVERGE:g}x its minimum at lr {lr:.3g}"
        elif n >= steps:
            state["stopped"] = f"reached the highest learning rate, {high:g}"
        return STOP if state["stopped"] else CONTINUE

    reporter = Reporter(write=lambda points: None, heartbeat=decide, decision_seconds=0.0)
    scratch = int(time.time() * 1e6) % 2**31
    dev = device or select_device(
        str(args.get("precision", "auto")), prefer_cuda=trainer_cls.uses_gpu
    )
    session = Session(
        sweep_id=SCRATCH_SWEEP, trial_id=scratch, params=dict(params), args=args, seed=seed,
        device=dev, reporter=reporter, budget=1e9, horizon=1e9,
        resource_unit=trainer_cls.resource_unit, lr_at=lr_at,
    )  # fmt: skip
    try:
        trainer_cls().run(session)
    except Diverged as exc:
        state["stopped"] = f"the loss became {exc.value} at lr {reporter.last.get('lr', 0):.3g}"
    finally:
        delete_trial_checkpoints(SCRATCH_SWEEP, scratch)
    if len(set(curve["lr"])) < 2:
        raise ValueError(
            f"trainer {trainer_cls.key!r} did not use the test's learning rates "
            "(a training function must pass optimizer= to session.step)"
        )
    return {
        **curve,
        "stopped": state["stopped"] or "the trainer ended",
        "cancelled": state["cancelled"],
        "suggested": None if state["cancelled"] else suggest(curve["lr"], curve["smoothed"]),
    }


def run_stored_test(test_id: int, worker: str) -> None:
    """Claim, run and report the stored test ``test_id`` (the body of its Celery task)."""
    from sweeps import services
    from trainers.registry import get_trainer
    from trainers.runner import short_traceback

    test = services.claim_range_test(test_id, worker)
    if test is None:
        return
    try:
        result = run_range_test(
            get_trainer(test.trainer), test.trainer_args, test.params,
            low=test.low, high=test.high, steps=test.steps,
        )  # fmt: skip
    except Exception as exc:  # the reason is shown to whoever asked for the test
        services.fail_range_test(
            test_id, str(exc) if isinstance(exc, ValueError) else short_traceback(exc)
        )
        return
    services.finish_range_test(test_id, result)
