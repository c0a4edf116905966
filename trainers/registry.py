"""Named trainers: the built-ins plus those registered in the trainers file.

The trainers file (``RUNGS_TRAINERS_FILE``, default ``trainers.yaml`` at the project root)
is the one place a trainer is added, and ``up``, ``launch``, the web and every worker read
it. Each entry maps a key to either a dotted path (a :class:`~trainers.base.Trainer` class or
a ``@rungs_trainer`` function) or a command trainer (a script run per segment, see
:mod:`trainers.command`)::

    my-mlp: mypkg.train:train   # importable from the project root or the file's folder
    my-script:
      command: python train.py --epochs 100
      metrics: [val_loss, val_acc]
      space: {lr: {type: float, low: 1.0e-4, high: 0.1, log: true}}

Trainers are looked up only by key from this registry, never imported from a path or run
from a command a user typed: the file lives on the server.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sweeps.search.space import SpaceError
from trainers.base import Trainer

BUILTIN = {
    "digits-mlp": "trainers.builtin.digits:DigitsMLP",
    "digits-cnn": "trainers.builtin.digits:DigitsCNN",
    "mnist1d-cnn": "trainers.builtin.mnist1d:MNIST1DCNN",
    "synthetic": "trainers.builtin.synthetic:SyntheticCurve",
}
Entry = str | dict[str, Any]


@lru_cache(maxsize=4)
def _read_file(path: Path, mtime: float) -> dict[str, Entry]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ImproperlyConfigured(f"trainers file {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"trainers file {path} must map trainer keys to entries")
    for key, entry in data.items():
        if not isinstance(key, str) or not isinstance(entry, str | dict):
            raise ImproperlyConfigured(
                f"trainers file {path}: {key!r} must map to a dotted path "
                "('package.module:name') or a command trainer (a mapping with 'command')"
            )
    return data


def file_entries() -> dict[str, Entry]:
    """The trainers file's entries; {} when there is no file."""
    path = Path(settings.RUNGS_TRAINERS_FILE)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return {}
    return _read_file(path, mtime)


def trainer_entries() -> dict[str, Entry]:
    return {**BUILTIN, **file_entries(), **settings.RUNGS_TRAINERS}


def trainer_keys() -> list[str]:
    return sorted(trainer_entries())


def get_trainer(key: str) -> type[Trainer]:
    """The trainer class registered as ``key``; SpaceError naming ``trainer`` if unknown."""
    entry = trainer_entries().get(key) if isinstance(key, str) else None
    if entry is None:
        raise SpaceError(
            {"trainer": f"unknown trainer {key!r}; known: {', '.join(trainer_keys())}"}
        )
    if isinstance(entry, dict):
        from trainers.command import command_trainer

        return command_trainer(key, entry, base=Path(settings.RUNGS_TRAINERS_FILE).parent)
    module_name, _, attr = entry.partition(":")
    cls = getattr(_import(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise TypeError(f"{entry} (trainer {key!r}) is not a Trainer subclass")
    return cls


def _import(module_name: str) -> Any:
    """``module_name``, found from the project (and ``PYTHONPATH``) or else from the trainers
    file's folder: code kept beside its trainers file needs no ``PYTHONPATH`` in any process."""
    try:
        return import_module(module_name)
    except ModuleNotFoundError as exc:
        folder = str(Path(settings.RUNGS_TRAINERS_FILE).resolve().parent)
        if exc.name != module_name.partition(".")[0] or folder in sys.path:
            raise
        sys.path.append(folder)
        return import_module(module_name)


def loadable_trainers() -> tuple[list[str], dict[str, str]]:
    """The keys this process can run, and why each other key cannot (import error, missing
    command): what a worker registers."""
    ok: list[str] = []
    broken: dict[str, str] = {}
    for key in trainer_keys():
        try:
            cls = get_trainer(key)
            cls.check_runnable()
        except Exception as exc:  # any failure means this worker cannot run it
            broken[key] = f"{type(exc).__name__}: {exc}"[:500]
        else:
            ok.append(key)
    return ok, broken
