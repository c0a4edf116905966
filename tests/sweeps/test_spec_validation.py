"""Every validation rule names its field, and a bad spec creates nothing and enqueues nothing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sweeps import services
from sweeps.models import Event, SearchSpace, Sweep, Trial
from sweeps.search.space import SpaceError, parse_space
from sweeps.sending import ADVANCE_SWEEP
from sweeps.validation import clean_spec

pytestmark = pytest.mark.django_db


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "s",
        "trainer": "toy",
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
        "sampler": {"name": "random"},
        "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 27, "eta": 3},
    }
    base.update(overrides)
    return base


def errors_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpaceError) as info:
        clean_spec(data)
    return info.value.errors


BAD_SPACES = [
    ({"lr": {"type": "float", "low": 0, "high": 1, "log": True}}, "space.lr.low", "log scale"),
    ({"lr": {"type": "float", "low": -1, "high": 1, "log": True}}, "space.lr.low", "log scale"),
    ({"x": {"type": "float", "low": 2, "high": 1}}, "space.x.low", "less than high"),
    ({"x": {"type": "int", "low": 3, "high": 3}}, "space.x.low", "less than high"),
    ({"x": {"type": "float", "low": math.nan, "high": 1}}, "space.x.low", "finite"),
    ({"x": {"type": "float", "low": 0, "high": math.inf}}, "space.x.high", "finite"),
    ({"x": {"type": "float", "low": -math.inf, "high": 0}}, "space.x.low", "finite"),
    ({"x": {"type": "float", "low": "a", "high": 1}}, "space.x.low", "number"),
    ({"x": {"type": "float", "high": 1}}, "space.x.low", "required"),
    ({"c": {"type": "categorical", "choices": []}}, "space.c.choices", "non-empty"),
    ({"c": {"type": "categorical", "choices": ["a", "b", "a"]}}, "space.c.choices", "repeat"),
    ({"c": {"type": "categorical", "choices": "ab"}}, "space.c.choices", "list"),
    ({"x": {"type": "complex", "low": 0, "high": 1}}, "space.x.type", "one of"),
    ({"x": {"type": "int", "low": 0.5, "high": 4}}, "space.x.low", "whole number"),
    ({"x": {"type": "float", "low": 0, "high": 1, "step": 0}}, "space.x.step", "positive"),
    ({"x": {"type": "float", "low": 1, "high": 10, "step": 1, "log": True}}, "space.x.step", "log"),
    ({"x": {"type": "float", "low": 0, "high": 1, "step": 2}}, "space.x.step", "exceed"),
    ({"x": {"type": "float", "low": 0, "high": 1, "bogus": 1}}, "space.x", "unknown keys"),
    ({"m": {"type": "float", "low": 0, "high": 1, "condition": {"parent": "nope", "values": [1]}}},
     "space.m.condition", "not a parameter"),
    ({"o": {"type": "categorical", "choices": ["adam", "sgd"]},
      "m": {"type": "float", "low": 0, "high": 1, "condition": {"parent": "o", "values": ["rmsprop"]}}},
     "space.m.condition", "not choices"),
    ({"a": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "b", "values": [1]}},
      "b": {"type": "categorical", "choices": [1, 2], "condition": {"parent": "a", "values": [1]}}},
     "space.a.condition", "cycle"),
    ({}, "space", "non-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("space", "field", "rule"), BAD_SPACES)
def test_bad_space_names_field_and_rule(
    toy_trainer: str, space: Any, field: str, rule: str
) -> None:
    errors = errors_of(spec(space=space))
    assert field in errors, errors
    assert rule in errors[field]


def test_grid_larger_than_cap_is_refused(toy_trainer: str, settings: Any) -> None:
    settings.RUNGS_GRID_CAP = 100
    space = {"a": {"type": "int", "low": 1, "high": 10}, "b": {"type": "int", "low": 1, "high": 11}}
    errors = errors_of(spec(space=space, sampler={"name": "grid"}))
    assert "110 points, more than the cap of 100" in errors["space"]
    # The same space is fine for a sampler that does not enumerate it.
    assert clean_spec(spec(space=space))["space"] == parse_space(space).to_spec()


def test_grid_needs_a_step_for_floats(toy_trainer: str) -> None:
    errors = errors_of(spec(sampler={"name": "grid"}))
    assert "needs a step" in errors["space.lr.step"]


def test_unknown_trainer(toy_trainer: str) -> None:
    errors = errors_of(spec(trainer="resnet-9000"))
    assert "unknown trainer 'resnet-9000'" in errors["trainer"]
    assert "toy" in errors["trainer"]


@pytest.mark.parametrize(
    ("args", "field", "rule"),
    [
        ({"batch_size": 0}, "trainer_args.batch_size", ">= 1"),
        ({"batch_size": 2.5}, "trainer_args.batch_size", "whole number"),
        ({"batch_size": "64"}, "trainer_args.batch_size", "number"),
        ({"val_fraction": 0.9}, "trainer_args.val_fraction", "<= 0.5"),
        ({"val_fraction": math.nan}, "trainer_args.val_fraction", "finite"),
        ({"optimizer": "lbfgs"}, "trainer_args.optimizer", "one of"),
        ({"augment": "yes"}, "trainer_args.augment", "true or false"),
        ({"epochs_typo": 3}, "trainer_args.epochs_typo", "not an argument"),
    ],
)
def test_trainer_args_fail_schema(toy_trainer: str, args: Any, field: str, rule: str) -> None:
    errors = errors_of(spec(trainer_args=args))
    assert rule in errors[field], errors


def test_trainer_args_get_defaults(toy_trainer: str) -> None:
    cleaned = clean_spec(spec(trainer_args={"batch_size": 128}))
    assert cleaned["trainer_args"] == {
        "batch_size": 128,
        "val_fraction": 0.2,
        "optimizer": "adam",
        "augment": False,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sampler": {"name": "tpe"}}, "sampler.name"),
        ({"sampler": {"name": "bayes", "base_estimator": "XGB"}}, "sampler.base_estimator"),
        ({"sampler": {"name": "bayes", "acq_func": "UCB"}}, "sampler.acq_func"),
        ({"scheduler": {"name": "pbt"}}, "scheduler.name"),
        (
            {"scheduler": {"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 1}},
            "scheduler.eta",
        ),
        (
            {"scheduler": {"name": "asha", "min_resource": 0, "max_resource": 9}},
            "scheduler.min_resource",
        ),
        (
            {"scheduler": {"name": "asha", "min_resource": 30, "max_resource": 3}},
            "scheduler.max_resource",
        ),
        ({"objective": {"mode": "maximise"}}, "objective.mode"),
        ({"max_trials": 0}, "max_trials"),
        ({"concurrency": -2}, "concurrency"),
        ({"seed": "x"}, "seed"),
        ({"name": ""}, "name"),
        ({"start": "yes"}, "start"),
        ({"search_space": 9999, "space": None}, "search_space"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_other_fields_name_themselves(
    toy_trainer: str, overrides: dict[str, Any], field: str
) -> None:
    assert field in errors_of(spec(**overrides))


def test_objective_must_be_a_metric_the_trainer_reports(toy_trainer: str) -> None:
    errors = errors_of(spec(trainer="digits-mlp", space=None, objective={"metric": "val_f1"}))
    assert (
        "does not report 'val_f1'" in errors["objective.metric"]
        and "val_acc" in errors["objective.metric"]
    )
    assert clean_spec(
        spec(trainer="digits-mlp", space=None, objective={"metric": "val_acc", "mode": "max"})
    )


def test_saved_search_space_is_copied(toy_trainer: str) -> None:
    saved = SearchSpace.objects.create(name="mlp")
    saved.parameters.create(name="layers", kind="int", low=1, high=4)
    cleaned = clean_spec(spec(space=None, search_space=saved.pk))
    assert cleaned["space"] == {"layers": {"type": "int", "low": 1, "high": 4}}
    assert cleaned["search_space"] == saved


def test_bad_spec_creates_nothing_and_enqueues_nothing(
    toy_trainer: str, user: Any, sent_tasks: Any
) -> None:
    with pytest.raises(SpaceError):
        services.create_sweep(
            spec(space={"lr": {"type": "float", "low": 0, "high": 1, "log": True}}), user
        )
    assert (Sweep.objects.count(), Trial.objects.count(), Event.objects.count()) == (0, 0, 0)
    assert sent_tasks == []


def test_good_spec_creates_a_running_sweep(
    toy_trainer: str, user: Any, sent_tasks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        sweep = services.create_sweep(spec(), user)
    assert sweep.status == "running" and sweep.owner == user
    assert list(sweep.events.values_list("kind", flat=True)) == ["created", "started"]
    assert sent_tasks == [(ADVANCE_SWEEP, (sweep.pk,))]
