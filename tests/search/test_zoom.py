"""Zooming in: bounds from the top configs widened by the margin (log scale for log
parameters), clipped, ints and stepped floats on the old grid, categoricals cut to what
the top took, conditions kept; every top config stays inside the new space."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeps.search import SpaceError, build_sampler, parse_space, validate_config
from sweeps.search.samplers import History
from sweeps.search.zoom import zoom_space

from .strategies import FAST, spaces

SPACE = parse_space(
    {
        "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 1.0},
        "layers": {"type": "int", "low": 1, "high": 8},
        "width": {"type": "int", "low": 16, "high": 256, "step": 16},
        "wd": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.01},
        "opt": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
        "momentum": {
            "type": "float", "low": 0.0, "high": 0.99,
            "condition": {"parent": "opt", "values": ["sgd", "rmsprop"]},
        },
        "nesterov": {
            "type": "categorical", "choices": [True, False],
            "condition": {"parent": "momentum", "values": [0.9]},
        },
    }
)  # fmt: skip


def config(**values: Any) -> dict[str, Any]:
    base = {"lr": 0.001, "dropout": 0.2, "layers": 2, "width": 64, "wd": 0.02, "opt": "adam"}
    return {**base, **values}


def zoomed(top: list[dict[str, Any]], margin: float = 0.25) -> dict[str, Any]:
    return zoom_space(SPACE, top, margin).space.to_spec()


def test_floats_widen_by_the_margin_times_the_spread() -> None:
    spec = zoomed([config(dropout=0.2), config(dropout=0.4)])
    assert (spec["dropout"]["low"], spec["dropout"]["high"]) == (0.15, 0.45)


def test_log_floats_widen_on_the_log_scale_rounded_outward() -> None:
    spec = zoomed([config(lr=0.001), config(lr=0.004)])
    # log-spread ln 4, a quarter of it on each side: x 4**-0.25 and x 4**0.25 (= sqrt 2).
    assert spec["lr"] == {"type": "float", "low": 0.0007071, "high": 0.005657, "log": True}


def test_bounds_are_clipped_to_the_old_ones() -> None:
    spec = zoomed([config(dropout=0.0), config(dropout=0.1)], margin=1.0)
    assert (spec["dropout"]["low"], spec["dropout"]["high"]) == (0.0, 0.2)
    spec = zoomed([config(lr=1e-5), config(lr=1.0)])
    assert (spec["lr"]["low"], spec["lr"]["high"]) == (1e-5, 1.0)


def test_ints_round_outward_and_keep_a_step() -> None:
    spec = zoomed([config(layers=2, width=64), config(layers=3, width=96)])
    assert (spec["layers"]["low"], spec["layers"]["high"]) == (1, 4)  # window 1.75 .. 3.25
    assert spec["width"] == {"type": "int", "low": 48, "high": 112, "step": 16}  # 56 .. 104
    same = zoomed([config(layers=3), config(layers=3)], margin=0.0)
    assert (same["layers"]["low"], same["layers"]["high"]) == (3, 4)
    top = zoomed([config(layers=8), config(layers=8)], margin=0.0)
    assert (top["layers"]["low"], top["layers"]["high"]) == (7, 8)


def test_stepped_floats_stay_on_the_old_grid() -> None:
    spec = zoomed([config(wd=0.03), config(wd=0.05)])
    assert spec["wd"] == {"type": "float", "low": 0.02, "high": 0.06, "step": 0.01}


def test_coinciding_values_get_margin_times_the_old_range() -> None:
    spec = zoomed([config(dropout=0.5), config(dropout=0.5)], margin=0.1)
    assert (spec["dropout"]["low"], spec["dropout"]["high"]) == (0.4, 0.6)
    # With no margin there is no window: the parameter keeps its bounds.
    spec = zoomed([config(dropout=0.5), config(dropout=0.5)], margin=0.0)
    assert (spec["dropout"]["low"], spec["dropout"]["high"]) == (0.0, 1.0)


def test_categoricals_keep_the_values_the_top_took_in_order() -> None:
    spec = zoomed([config(opt="rmsprop", momentum=0.5), config(opt="sgd", momentum=0.6)])
    assert spec["opt"]["choices"] == ["sgd", "rmsprop"]
    assert spec["momentum"]["condition"] == {"parent": "opt", "values": ["sgd", "rmsprop"]}
    assert (spec["momentum"]["low"], spec["momentum"]["high"]) == (0.475, 0.625)


def test_conditions_shrink_with_their_parent_and_dead_branches_are_dropped() -> None:
    result = zoom_space(SPACE, [config(opt="sgd", momentum=0.5), config(opt="sgd", momentum=0.7)],
                        0.25)  # fmt: skip
    spec = result.space.to_spec()
    assert spec["opt"]["choices"] == ["sgd"]
    assert spec["momentum"]["condition"]["values"] == ["sgd"]
    # momentum now lies in 0.45 .. 0.75: nesterov (only when momentum is 0.9) can never
    # apply, so it goes.
    assert "nesterov" not in spec
    adam_only = zoom_space(SPACE, [config(), config(lr=0.002)], 0.25)
    assert {"momentum", "nesterov"}.isdisjoint(adam_only.space.names)
    dropped = {c.name: c.new for c in adam_only.changes if c.new is None}
    assert dropped == {"momentum": None, "nesterov": None}
    parse_space(adam_only.space.to_spec())


def test_changes_list_only_what_changed_with_old_and_new() -> None:
    result = zoom_space(SPACE, [config(dropout=0.2), config(dropout=0.4)], 0.25)
    names = [c.name for c in result.changes]
    assert "dropout" in names and "wd" in names  # wd 0.02 -> one step on each side
    change = next(c for c in result.changes if c.name == "dropout")
    assert change.old == SPACE["dropout"].to_spec()
    assert change.new == {"type": "float", "low": 0.15, "high": 0.45}
    unchanged = zoom_space(SPACE, [config(lr=1e-5), config(lr=1.0)], 0.25)
    assert "lr" not in [c.name for c in unchanged.changes]


@pytest.mark.parametrize("margin", [-0.1, float("nan"), float("inf")])
def test_a_bad_margin_is_refused(margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        zoom_space(SPACE, [config()], margin)
    with pytest.raises(ValueError, match="at least one"):
        zoom_space(SPACE, [], 0.25)


@FAST
@given(spaces(), st.integers(1, 6), st.floats(0, 3), st.integers(0, 2**16))
def test_every_top_config_lies_in_the_zoomed_space(
    space: Any, k: int, margin: float, seed: int
) -> None:
    sampler = build_sampler({"name": "random"}, space, seed)
    top = [p.params for p in sampler.propose(History(), k)]
    result = zoom_space(space, top, margin)
    new = parse_space(result.space.to_spec())  # a valid space
    for params in top:
        try:
            validate_config(new, params)
        except SpaceError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{params} left the zoomed space: {exc.errors}") from None
    for p in new.parameters:  # never wider than before
        old = space[p.name]
        if p.low is not None:
            assert old.low <= p.low < p.high <= old.high
        else:
            assert set(map(repr, p.choices)) <= set(map(repr, old.choices))


def test_a_grid_of_one_step_cannot_narrow_and_stays() -> None:
    space = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.533935675048383,
                               "step": 1.533935675048383}})  # fmt: skip
    result = zoom_space(space, [{"x": 0.0}], 0.0)
    assert result.space == space and result.changes == ()


def test_condition_values_match_their_parent_as_the_space_does() -> None:
    # The space treats False and 0 as equal when it checks a condition (Python's ==); the
    # zoom keeps the child whenever the space would still activate it.
    space = parse_space({
        "p0": {"type": "categorical", "choices": ["0", 0, False]},
        "p1": {"type": "float", "low": 0.0, "high": 1.0,
               "condition": {"parent": "p0", "values": [0]}},
    })  # fmt: skip
    top = [{"p0": False, "p1": 0.5}]
    new = zoom_space(space, top, 0.0).space
    assert new.names == ["p0", "p1"] and new["p0"].choices == (False,)
    validate_config(new, top[0])
