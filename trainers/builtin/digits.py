"""Classifiers of sklearn's bundled 8x8 digits (1,797 images, 10 classes; no download).

An MLP reaches about 0.96 validation accuracy in a few epochs at ~35 ms per epoch on one CPU
core, which makes these the quick real-data trainers of the demo and the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from trainers.classifier import OPTIMIZER_SPACE, Arrays, ClassifierTrainer

if TYPE_CHECKING:
    from torch import nn


def load_digits_arrays() -> Arrays:
    """Pixels scaled to [0, 1] as (N, 1, 8, 8) float32; labels int64."""
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return Arrays(x=x, y=bunch.target.astype(np.int64))


class DigitsMLP(ClassifierTrainer):
    """A multi-layer perceptron on the 64 pixels."""

    key = "digits-mlp"
    description = "MLP on sklearn's 8x8 digits (CPU: ~35 ms per epoch)."
    default_space: ClassVar[dict[str, dict[str, Any]]] = {
        **OPTIMIZER_SPACE,
        "hidden": {"type": "int", "low": 16, "high": 512, "log": True},
        "layers": {"type": "int", "low": 1, "high": 3},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    }

    def load_arrays(self, args: dict[str, Any]) -> Arrays:
        return load_digits_arrays()

    def build_model(self, params: dict[str, Any], input_shape: tuple[int, ...]) -> nn.Module:
        import math

        from torch import nn

        hidden, layers = int(params.get("hidden", 128)), int(params.get("layers", 1))
        dropout = float(params.get("dropout", 0.0))
        modules: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for _ in range(layers):
            modules += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        modules.append(nn.Linear(width, self.n_classes))
        return nn.Sequential(*modules)


class DigitsCNN(ClassifierTrainer):
    """Two 3x3 convolutions, a 2x2 max-pool and a linear head."""

    key = "digits-cnn"
    description = "Small CNN on sklearn's 8x8 digits."
    default_space: ClassVar[dict[str, dict[str, Any]]] = {
        **OPTIMIZER_SPACE,
        "channels": {"type": "int", "low": 8, "high": 64, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    }

    def load_arrays(self, args: dict[str, Any]) -> Arrays:
        return load_digits_arrays()

    def build_model(self, params: dict[str, Any], input_shape: tuple[int, ...]) -> nn.Module:
        from torch import nn

        c = int(params.get("channels", 16))
        _, height, width = input_shape
        return nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(float(params.get("dropout", 0.0))),
            nn.Linear(2 * c * (height // 2) * (width // 2), self.n_classes),
        )
