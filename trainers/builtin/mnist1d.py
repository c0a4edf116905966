"""A 1-D CNN on MNIST-1D (Greydanus 2020): 10 classes of 40-sample signals, 4,000 train +
1,000 test examples, small enough for CPU yet hard enough to separate good from bad configs.

The data come from the ``mnist1d`` package's generator (``make_dataset`` with its default
arguments) -- never its download function, workers have no network. Generating takes ~1.5 s,
so the arrays are cached under ``settings.VAR_DIR/data/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trainers.classifier import OPTIMIZER_SPACE, Arrays, ClassifierTrainer

if TYPE_CHECKING:
    from torch import nn

CACHE_NAME = "mnist1d-default.npz"


def cache_path() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "data" / CACHE_NAME


def generate_arrays() -> dict[str, Any]:
    """Run the mnist1d generator with its defaults, leaving the global RNGs as they were
    (it seeds ``random`` and numpy's global generator)."""
    import random

    import numpy as np
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": data["x"].astype(np.float32),
        "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int64),
    }


def load_mnist1d_arrays() -> Arrays:
    """Signals as (N, 1, 40) float32 with the generator's own train/test split."""
    import numpy as np

    path = cache_path()
    if path.is_file():
        with np.load(path) as stored:
            arrays = {k: stored[k] for k in ("x", "y", "x_test", "y_test")}
    else:
        arrays = generate_arrays()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)  # several workers may generate at once; each write is whole
    return Arrays(
        x=arrays["x"][:, None, :],
        y=arrays["y"],
        x_test=arrays["x_test"][:, None, :],
        y_test=arrays["y_test"],
    )


class MNIST1DCNN(ClassifierTrainer):
    """Three 1-D convolutions (the last two strided) and a linear head."""

    key = "mnist1d-cnn"
    description = "1-D CNN on MNIST-1D (generated locally, cached under var/)."
    default_space: ClassVar[dict[str, dict[str, Any]]] = {
        **OPTIMIZER_SPACE,
        "channels": {"type": "int", "low": 8, "high": 64, "log": True},
        "kernel_size": {"type": "categorical", "choices": [3, 5, 7]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    }

    def load_arrays(self, args: dict[str, Any]) -> Arrays:
        return load_mnist1d_arrays()

    def build_model(self, params: dict[str, Any], input_shape: tuple[int, ...]) -> nn.Module:
        from torch import nn

        c = int(params.get("channels", 32))
        k = int(params.get("kernel_size", 5))
        length = input_shape[-1]
        for _ in range(2):  # two stride-2 convolutions with padding k // 2
            length = (length + 2 * (k // 2) - k) // 2 + 1
        return nn.Sequential(
            nn.Conv1d(1, c, k, padding=k // 2),
            nn.ReLU(),
            nn.Conv1d(c, c, k, stride=2, padding=k // 2),
            nn.ReLU(),
            nn.Conv1d(c, c, k, stride=2, padding=k // 2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(float(params.get("dropout", 0.0))),
            nn.Linear(c * length, self.n_classes),
        )
