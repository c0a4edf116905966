"""A fast synthetic learning curve for tests, demos and benchmarks of the schedulers.

It is SGD with heavy-ball momentum on a *noisy quadratic model* (Zhang et al. 2019,
"Which algorithmic choices matter at which batch sizes?"): ``D`` = 32 directions with
curvatures ``h_i = h_max * i^-1.5`` and a minibatch gradient ``h * theta + sigma * sqrt(h) * xi``.
That small model reproduces what makes hyperparameter search interesting, at ~20k steps/s:

* ``lr`` has a budget-dependent optimum: a large LR converges fast to a high noise floor
  (about ``lr * sigma^2 * sum(h) / 4``), a small one slowly to a low floor, so rankings
  change between low and high budgets (the case successive halving can get wrong);
* ``width`` trades speed for quality: a wider model starts further from its optimum
  (``theta_0 = sqrt(width / 64)``) but has less gradient noise (``sigma^2 ~ 64 / width``) and a
  lower floor (``0.05 + 3 / width``);
* ``momentum`` speeds up the slow directions (effective step ``lr / (1 - momentum)``).

Divergence is real: ``h_max = 2 (1 + momentum) / diverge_lr``, so the iteration is unstable
exactly when ``lr > diverge_lr``; the float32 state then overflows to inf within a few dozen
to a few thousand steps (faster the further above) and the reporter marks the trial diverged.

Deterministic for (params, seed): the noise of global step ``t`` comes from a generator
seeded by (seed, t // 1024), so a resumed segment draws exactly what an uninterrupted one
would; the state (``theta``, velocity) travels in the checkpoint. ``val_loss`` is the
noiseless loss plus the floor plus a little evaluation noise; ``val_acc`` is
``exp(-val_loss)``, a pseudo-accuracy for objectives that are maximised.
"""

from __future__ import annotations

from typing import Any, ClassVar

from trainers.base import EPOCHS, Arg, Trainer

DIM = 32
NOISE_CHUNK = 1024
SYNTHETIC_METRICS = (
    "train_loss", "grad_norm", "lr", "samples_per_s", "val_loss", "val_loss_se", "val_acc",
)  # fmt: skip


class SyntheticCurve(Trainer):
    """SGD with momentum on a noisy quadratic: a learning curve in microseconds per step."""

    key = "synthetic"
    description = "Noisy-quadratic learning curve: thousands of steps per second, no data."
    resource_unit: ClassVar[str] = EPOCHS
    uses_gpu: ClassVar[bool] = False  # numpy on 32 numbers: a GPU would only add latency
    exposes_lr: ClassVar[bool] = True
    metrics: ClassVar[tuple[str, ...]] = SYNTHETIC_METRICS
    args_schema: ClassVar[dict[str, Arg]] = {
        "steps_per_epoch": Arg(int, 50, low=1, high=1_000_000, help="Optimizer steps per epoch."),
        "step_sleep": Arg(
            float, 0.0, low=0.0, high=60.0, help="Seconds to sleep per step (tests, demos)."
        ),
        "diverge_lr": Arg(
            float, 0.8, low=1e-9, high=1e9, help="Training diverges (NaN/inf) when lr exceeds this."
        ),
        "clip_grad_norm": Arg(
            float, 0.0, low=0.0, high=1e9, help="Clip the gradient norm to this (0: off)."
        ),
        "batch_size": Arg(
            int, 32, low=1, high=65536, help="Scales the gradient noise (1/sqrt) and samples/s."
        ),
        "noise": Arg(float, 0.3, low=0.0, high=100.0, help="Gradient noise scale."),
    }
    default_space: ClassVar[dict[str, dict[str, Any]]] = {
        "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
        "width": {"type": "int", "low": 8, "high": 512, "log": True},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9},
    }

    def run(self, session: Any) -> None:
        """Train one segment (see :class:`trainers.session.Session`)."""
        from trainers.builtin._nqm import train_synthetic

        train_synthetic(session)
