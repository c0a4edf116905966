"""Named trainers: the built-ins plus those added in settings by dotted path.

Trainer classes are looked up only by key from this registry, never imported from a path a
user typed: ``RUNGS_TRAINERS`` is read from the server's environment.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from sweeps.search.space import SpaceError
from trainers.base import Trainer

BUILTIN = {
    "digits-mlp": "trainers.builtin.digits:DigitsMLP",
    "digits-cnn": "trainers.builtin.digits:DigitsCNN",
    "mnist1d-cnn": "trainers.builtin.mnist1d:MNIST1DCNN",
    "synthetic": "trainers.builtin.synthetic:SyntheticCurve",
}


def trainer_paths() -> dict[str, str]:
    return {**BUILTIN, **settings.RUNGS_TRAINERS}


def trainer_keys() -> list[str]:
    return sorted(trainer_paths())


def get_trainer(key: str) -> type[Trainer]:
    """The trainer class registered as ``key``; SpaceError naming ``trainer`` if unknown."""
    path = trainer_paths().get(key) if isinstance(key, str) else None
    if path is None:
        raise SpaceError(
            {"trainer": f"unknown trainer {key!r}; known: {', '.join(trainer_keys())}"}
        )
    module_name, _, attr = path.partition(":")
    cls = getattr(import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise TypeError(f"{path} (trainer {key!r}) is not a Trainer subclass")
    return cls
