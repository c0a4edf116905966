"""Sampler and scheduler settings: validated with the field and the rule named."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps.search import (
    AshaScheduler,
    BayesSampler,
    FifoScheduler,
    GridSampler,
    HyperbandScheduler,
    MedianStoppingScheduler,
    RandomSampler,
    SobolSampler,
    Space,
    SpaceError,
    SuccessiveHalvingScheduler,
    build_sampler,
    build_scheduler,
    validate_sampler_config,
    validate_scheduler_config,
)


def test_sampler_defaults_are_filled_in(mixed_space: Space) -> None:
    assert validate_sampler_config({"name": "bayes"}, mixed_space) == {
        "name": "bayes", "base_estimator": "GP", "acq_func": "gp_hedge", "n_initial_points": 10,
        "random_fraction": 0.0, "min_rank_corr": 0.7,
    }  # fmt: skip
    assert validate_sampler_config({"name": "sobol"}, mixed_space) == {"name": "sobol"}


@pytest.mark.parametrize(
    ("config", "field", "rule"),
    [
        (None, "sampler", "must be an object"),
        (
            {"name": "tpe"},
            "sampler.name",
            "must be one of ['grid', 'random', 'sobol', 'bayes'], got 'tpe'",
        ),
        ({"name": "bayes", "base_estimator": "SVR"}, "sampler.base_estimator", "must be one of"),
        ({"name": "bayes", "acq_func": "UCB"}, "sampler.acq_func", "must be one of"),
        ({"name": "bayes", "n_initial_points": 1}, "sampler.n_initial_points", "integer from 2"),
        ({"name": "bayes", "n_initial_points": True}, "sampler.n_initial_points", "integer from 2"),
        ({"name": "random", "seed": 3}, "sampler.seed", "not a setting of the random sampler"),
        ({"name": "bayes", "random_fraction": 0.9}, "sampler.random_fraction", "from 0 to 0.5"),
        ({"name": "bayes", "random_fraction": "a"}, "sampler.random_fraction", "a number"),
        ({"name": "bayes", "min_rank_corr": True}, "sampler.min_rank_corr", "from -1 to 1"),
    ],
)
def test_bad_sampler_config_names_the_field_and_rule(
    mixed_space: Space, config: Any, field: str, rule: str
) -> None:
    with pytest.raises(SpaceError) as exc:
        validate_sampler_config(config, mixed_space)
    assert rule in exc.value.errors[field]


def test_grid_needs_steps_and_respects_the_cap(mixed_space: Space, grid_space: Space) -> None:
    with pytest.raises(SpaceError) as exc:
        validate_sampler_config({"name": "grid"}, mixed_space)
    assert exc.value.errors == {"space.lr.step": "a float parameter needs a step for grid search"}
    with pytest.raises(SpaceError, match="more than the cap of 10"):
        validate_sampler_config({"name": "grid"}, grid_space, grid_cap=10)
    assert validate_sampler_config({"name": "grid"}, grid_space, grid_cap=100) == {"name": "grid"}


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        (None, {"scheduler": "must be an object with a 'name'"}),
        ({"name": "pbt"}, {"scheduler.name": "must be one of ['fifo', 'sha', 'hyperband', 'asha', 'median'], got 'pbt'"}),
        ({"name": "asha", "min_resource": 1, "max_resource": 81, "eta": 1}, {"scheduler.eta": "must be an integer >= 2, got 1"}),
        ({"name": "asha", "min_resource": 1, "max_resource": 81, "eta": 2.5}, {"scheduler.eta": "must be an integer >= 2, got 2.5"}),
        ({"name": "sha", "max_resource": 81}, {"scheduler.min_resource": "is required"}),
        ({"name": "hyperband", "min_resource": 0, "max_resource": 81}, {"scheduler.min_resource": "must be a positive finite number, got 0"}),
        ({"name": "hyperband", "min_resource": 10, "max_resource": 20}, {"scheduler.max_resource": "must be >= min_resource * eta to allow one halving (20.0 < 10.0 * 3)"}),
        ({"name": "fifo"}, {"scheduler.max_resource": "is required"}),
        ({"name": "fifo", "max_resource": 5, "min_resource": 9}, {"scheduler.min_resource": "must be <= max_resource (9.0 > 5.0)"}),
        ({"name": "median", "min_resource": 1, "max_resource": 9, "min_trials": 0}, {"scheduler.min_trials": "must be an integer >= 1, got 0"}),
        ({"name": "asha", "min_resource": 1, "max_resource": 9, "grace": 2}, {"scheduler.grace": "is not a setting of the asha scheduler; allowed: ['eta', 'keep_ties', 'max_resource', 'min_resource', 'name']"}),
    ],
)  # fmt: skip
def test_bad_scheduler_config_names_the_field_and_rule(config: Any, errors: dict[str, str]) -> None:
    with pytest.raises(SpaceError) as exc:
        validate_scheduler_config(config)
    assert exc.value.errors == errors


def test_scheduler_defaults_are_filled_in() -> None:
    assert validate_scheduler_config({"name": "asha", "min_resource": 1, "max_resource": 27}) == {
        "name": "asha", "min_resource": 1.0, "max_resource": 27.0, "eta": 3
    }  # fmt: skip
    assert (
        validate_scheduler_config({"name": "median", "min_resource": 1, "max_resource": 27})[
            "min_trials"
        ]
        == 3
    )


def test_builders_make_what_the_config_names(mixed_space: Space, grid_space: Space) -> None:
    assert type(build_sampler({"name": "grid"}, grid_space, 0)) is GridSampler
    assert type(build_sampler({"name": "random"}, mixed_space, 0)) is RandomSampler
    assert type(build_sampler({"name": "sobol"}, mixed_space, 0)) is SobolSampler
    bayes = build_sampler(
        {"name": "bayes", "base_estimator": "RF", "acq_func": "LCB"}, mixed_space, 3
    )
    assert isinstance(bayes, BayesSampler) and (
        bayes.base_estimator,
        bayes.acq_func,
        bayes.seed,
    ) == ("RF", "LCB", 3)
    halving = {"min_resource": 1, "max_resource": 27, "eta": 3}
    kinds = {"fifo": FifoScheduler, "sha": SuccessiveHalvingScheduler, "hyperband": HyperbandScheduler,
             "asha": AshaScheduler, "median": MedianStoppingScheduler}  # fmt: skip
    for name, cls in kinds.items():
        scheduler = build_scheduler({"name": name, **halving}, mixed_space)
        assert type(scheduler) is cls
        assert isinstance(scheduler.sampler, RandomSampler)
    assert build_scheduler({"name": "fifo", "max_resource": 27}, mixed_space).ladder == (27.0,)
