"""Test doubles shared by several test packages."""

from __future__ import annotations

from typing import Any

from trainers.base import Arg, Trainer


class ToyTrainer(Trainer):
    """A trainer that only declares a schema: for validation tests, never run by a worker."""

    key = "toy"
    args_schema = {
        "batch_size": Arg(int, 32, low=1, high=4096),
        "val_fraction": Arg(float, 0.2, low=0.05, high=0.5),
        "optimizer": Arg(str, "adam", choices=("adam", "sgd")),
        "augment": Arg(bool, False),
    }
    default_space = {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}}

    def run(self, session: Any) -> None:
        raise RuntimeError("the toy trainer is for validation tests only")
