"""Every built-in trainer declares valid arguments, a valid default space and its metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.search.space import SpaceError, parse_space
from trainers.base import EPOCHS
from trainers.registry import BUILTIN, get_trainer

KEYS = sorted(BUILTIN)


@pytest.mark.parametrize("key", KEYS)
def test_default_space_parses(key: str) -> None:
    trainer = get_trainer(key)
    space = parse_space(trainer.default_space)
    assert "lr" in space.names
    assert space["lr"].log, "the learning rate is searched on a log scale"


@pytest.mark.parametrize("key", KEYS)
def test_declarations(key: str) -> None:
    trainer = get_trainer(key)
    assert trainer.key == key
    assert trainer.resource_unit == EPOCHS
    assert {"train_loss", "grad_norm", "lr", "samples_per_s", "val_loss", "val_acc"} <= set(
        trainer.metrics
    )
    defaults = trainer.clean_args({})
    assert set(defaults) == set(trainer.args_schema)


@pytest.mark.parametrize("key", KEYS)
def test_bad_args_name_the_field(key: str) -> None:
    trainer = get_trainer(key)
    name, arg = next((n, a) for n, a in trainer.args_schema.items() if a.type in (int, float))
    with pytest.raises(SpaceError) as info:
        trainer.clean_args({name: "many", "no_such_arg": 1})
    assert info.value.errors[f"trainer_args.{name}"] == "must be a number, got 'many'"
    assert "trainer_args.no_such_arg" in info.value.errors


def test_range_errors_state_the_rule() -> None:
    with pytest.raises(SpaceError) as info:
        get_trainer("synthetic").clean_args({"steps_per_epoch": 0, "step_sleep": -1})
    assert info.value.errors == {
        "trainer_args.steps_per_epoch": "must be >= 1, got 0",
        "trainer_args.step_sleep": "must be >= 0, got -1.0",
    }


def test_classifier_space_has_a_conditional_momentum() -> None:
    space = parse_space(get_trainer("digits-mlp").default_space)
    assert space.is_active("momentum", {"optimizer": "sgd"})
    assert not space.is_active("momentum", {"optimizer": "adam"})
    assert set(space["schedule"].choices) == {"constant", "warmup_cosine", "one_cycle"}


@pytest.mark.slow
def test_declarations_import_no_training_stack() -> None:
    """The web process reads declarations without importing torch (seconds, hundreds of MB)."""
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE']='dashboard.settings';"
        "django.setup(); from trainers.registry import BUILTIN, get_trainer;"
        "[get_trainer(k).default_space for k in BUILTIN];"
        "heavy = [m for m in ('torch', 'mnist1d') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
