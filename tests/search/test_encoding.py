"""The space as unit-cube coordinates and as skopt dimensions: typed, in bounds, both ways."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeps.search import Space, SpaceError, parse_space, validate_config
from sweeps.search.encoding import SkoptEncoder, from_unit
from sweeps.search.space import CATEGORICAL, INT

from .strategies import FAST, spaces


def assert_valid(space: Space, config: dict[str, Any]) -> None:
    """In bounds, of the right Python type, on the step grid, inactive parameters omitted."""
    assert set(config) == {n for n in space.names if space.is_active(n, config)}
    for name, value in config.items():
        p = space[name]
        if p.kind == CATEGORICAL:
            assert any(type(c) is type(value) and c == value for c in p.choices), (name, value)
            continue
        assert p.low is not None and p.high is not None
        if p.kind == INT:
            assert type(value) is int, (name, value)
        else:
            assert type(value) is float, (name, value)
        assert p.low <= value <= p.high, (name, value, p)
        if p.step is not None:
            k = (value - p.low) / p.step
            assert abs(k - round(k)) < 1e-6, (name, value, p)


@FAST
@given(spaces(), st.lists(st.floats(0, 1), min_size=8, max_size=8))
def test_unit_cube_configs_are_typed_and_in_bounds(space: Space, u: list[float]) -> None:
    assert_valid(
        space,
        from_unit(space, u[: len(space.parameters)] + [0.5] * (len(space.parameters) - len(u))),
    )


@FAST
@given(spaces(), st.integers(0, 2**31 - 1))
def test_skopt_points_decode_typed_and_in_bounds_and_round_trip(space: Space, seed: int) -> None:
    enc = SkoptEncoder(space)
    from skopt.space import Space as SkSpace

    for point in SkSpace(enc.dimensions()).rvs(5, random_state=seed):
        config = enc.decode(point)
        assert_valid(space, config)
        # encode(decode(x)) is a fixed point of decode: the same config comes back
        assert enc.decode(enc.encode(config)) == config


def test_inactive_conditional_parameters_are_omitted(mixed_space: Space) -> None:
    configs = [from_unit(mixed_space, list(np.random.default_rng(i).random(8))) for i in range(200)]
    assert any("momentum" in c for c in configs) and any("momentum" not in c for c in configs)
    assert all(("momentum" in c) == (c["opt"] == "sgd") for c in configs)


def test_log_float_is_sampled_in_log_space() -> None:
    space = parse_space({"lr": {"type": "float", "low": 1e-6, "high": 1.0, "log": True}})
    values = [from_unit(space, [u])["lr"] for u in np.linspace(0, 1, 1001)[:-1]]
    # Uniform in log space: the median is the geometric mean 1e-3, not (1e-6 + 1) / 2.
    assert statistics.median(values) == pytest.approx(1e-3, rel=0.02)
    per_decade = np.histogram(np.log10(values), bins=6, range=(-6, 0))[0]
    assert per_decade.min() >= 160


def test_log_int_favours_small_values_and_reaches_both_ends() -> None:
    space = parse_space({"width": {"type": "int", "low": 1, "high": 1024, "log": True}})
    values = [from_unit(space, [u])["width"] for u in np.linspace(0, 1, 2000)[:-1]]
    assert from_unit(space, [0.0])["width"] == 1 and from_unit(space, [1.0])["width"] == 1024
    assert 16 <= statistics.median(values) <= 48


def test_every_grid_value_of_a_stepped_parameter_is_reachable() -> None:
    space = parse_space({"d": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}})
    values = {from_unit(space, [u])["d"] for u in np.linspace(0, 1, 100)[:-1]}
    assert values == {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}


def test_skopt_dimensions_follow_the_parameter_kinds(mixed_space: Space) -> None:
    dims = {d.name: d for d in SkoptEncoder(mixed_space).dimensions()}
    assert type(dims["lr"]).__name__ == "Real" and dims["lr"].prior == "log-uniform"
    assert type(dims["width"]).__name__ == "Integer" and dims["width"].prior == "log-uniform"
    # stepped parameters become integer grid indices, categoricals choice indices
    assert (dims["dropout"].low, dims["dropout"].high) == (0, 5)
    assert (dims["batch"].low, dims["batch"].high) == (0, 7)
    assert list(dims["opt"].categories) == [0, 1, 2, 3]


def test_choices_equal_in_python_but_of_different_types_stay_apart(mixed_space: Space) -> None:
    enc = SkoptEncoder(mixed_space)
    base = {"lr": 1e-3, "dropout": 0.1, "layers": 2, "width": 64, "batch": 32}
    assert enc.decode(enc.encode({**base, "opt": True}))["opt"] is True
    assert type(enc.decode(enc.encode({**base, "opt": 1}))["opt"]) is int


def test_validate_config_accepts_a_good_config_and_types_it(mixed_space: Space) -> None:
    config = {"lr": 0.01, "dropout": 0.2, "layers": 3.0, "width": 64, "batch": 48, "opt": "sgd", "momentum": 0.9,
              "nesterov": True}  # fmt: skip
    out = validate_config(mixed_space, config)
    assert out["layers"] == 3 and type(out["layers"]) is int
    assert_valid(mixed_space, out)


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"lr": 0.5}, "params.lr", "between"),
        ({"dropout": 0.25}, "params.dropout", "step"),
        ({"layers": 2.5}, "params.layers", "whole number"),
        ({"opt": "rmsprop"}, "params.opt", "one of"),
        ({"momentum": 0.5}, "params.momentum", "inactive"),
        ({"bogus": 1}, "params.bogus", "not a parameter"),
        ({"lr": math.nan}, "params.lr", "finite"),
    ],
)
def test_validate_config_names_the_field_and_the_rule(
    mixed_space: Space, change: dict[str, Any], field: str, rule: str
) -> None:
    config = {
        "lr": 0.01,
        "dropout": 0.2,
        "layers": 3,
        "width": 64,
        "batch": 48,
        "opt": "adam",
        **change,
    }
    with pytest.raises(SpaceError) as exc:
        validate_config(mixed_space, config)
    assert rule in exc.value.errors[field]


def test_validate_config_requires_active_parameters(mixed_space: Space) -> None:
    with pytest.raises(SpaceError) as exc:
        validate_config(
            mixed_space,
            {"lr": 0.01, "dropout": 0.2, "layers": 3, "width": 64, "batch": 48, "opt": "sgd"},
        )
    assert exc.value.errors == {"params.momentum": "is required", "params.nesterov": "is required"}
