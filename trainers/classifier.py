"""What the built-in torch classifiers share: arguments, search-space pieces, the run method.

This module imports no torch, numpy or sklearn: the web process imports trainer classes to
read their declarations when it validates a sweep, and must not pay for a training stack.
:meth:`ClassifierTrainer.run` hands over to the shared loop in :mod:`trainers.loop`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from trainers.base import EPOCHS, Arg, Trainer
from trainers.schedules import SCHEDULES

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

CLASSIFIER_METRICS = (
    "train_loss", "grad_norm", "lr", "samples_per_s", "val_loss", "val_loss_se", "val_acc",
    "gpu_mem_mb",
)  # fmt: skip

COMMON_ARGS: dict[str, Arg] = {
    "batch_size": Arg(int, 64, low=1, high=65536, help="Examples per optimizer step."),
    "val_fraction": Arg(
        float, 0.2, low=0.05, high=0.5, help="Share of the non-test data held out for validation."
    ),
    "test_fraction": Arg(
        float, 0.2, low=0.05, high=0.5, help="Share held out for the one final test evaluation."
    ),
    "split_seed": Arg(
        int, 0, low=0, high=2**31 - 1, help="Fixes the train/validation/test split for a sweep."
    ),
    "clip_grad_norm": Arg(
        float, 0.0, low=0.0, high=1e6, help="Clip the global gradient norm to this (0: off)."
    ),
    "schedule_epochs": Arg(
        float, 0.0, low=0.0, high=1e6, help="LR schedule horizon in epochs (0: the sweep's budget)."
    ),
    "precision": Arg(
        str, "auto", choices=("auto", "fp32", "bf16", "fp16"), help="Mixed precision on CUDA."
    ),
}

OPTIMIZER_SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.3, "log": True},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    "momentum": {
        "type": "float",
        "low": 0.0,
        "high": 0.99,
        "condition": {"parent": "optimizer", "values": ["sgd"]},
    },
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "schedule": {"type": "categorical", "choices": list(SCHEDULES)},
}

# Used when a space leaves a parameter out (or a condition makes it inactive).
PARAM_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "optimizer": "adam",
    "momentum": 0.0,
    "weight_decay": 0.0,
    "schedule": "constant",
    "dropout": 0.0,
}


@dataclass(frozen=True)
class Arrays:
    """A labelled dataset as numpy arrays: ``x`` (N, ...) float32, ``y`` (N,) int64.

    ``x_test`` / ``y_test``: a test set fixed by the data's publisher, if it has one (else
    the test split is carved out of ``x`` with ``test_fraction``).
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


class ClassifierTrainer(Trainer):
    """A torch classifier trained by :func:`trainers.loop.train_classifier`.

    Subclasses provide the data (:meth:`load_arrays`) and the network (:meth:`build_model`).
    """

    resource_unit: ClassVar[str] = EPOCHS
    metrics: ClassVar[tuple[str, ...]] = CLASSIFIER_METRICS
    args_schema: ClassVar[dict[str, Arg]] = COMMON_ARGS
    n_classes: ClassVar[int] = 10
    exposes_lr: ClassVar[bool] = True
    has_test_split: ClassVar[bool] = True

    @classmethod
    def evaluate_test(
        cls, args: dict[str, Any], params: dict[str, Any], checkpoint: str, device: Any
    ) -> dict[str, float]:
        """The checkpoint's loss, its standard error and accuracy on the test split."""
        from trainers.loop import evaluate_on_test

        return evaluate_on_test(cls(), args, params, checkpoint, device)

    @abstractmethod
    def load_arrays(self, args: dict[str, Any]) -> Arrays:
        """The whole dataset (cached by the caller per process)."""

    @abstractmethod
    def build_model(self, params: dict[str, Any], input_shape: tuple[int, ...]) -> nn.Module:
        """The network for ``params``; ``input_shape`` excludes the batch dimension."""

    def run(self, session: Any) -> None:
        """Train one segment with the shared classifier loop."""
        from trainers.loop import train_classifier

        train_classifier(self, session)
