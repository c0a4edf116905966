"""Search spaces: parsing and validating a JSON space spec into typed parameters.

A space spec is a mapping of parameter name to a parameter spec::

    {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": true},
     "layers": {"type": "int", "low": 1, "high": 4},
     "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
     "momentum": {"type": "float", "low": 0.0, "high": 0.99,
                  "condition": {"parent": "opt", "values": ["sgd"]}}}

This is the one place where a space is validated: the admin, the REST API and spec files
all call :func:`parse_space`. Every problem is reported with the field it belongs to
(``space.lr.low``) and the rule it breaks; nothing is partially accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FLOAT = "float"
INT = "int"
CATEGORICAL = "categorical"
KINDS = (FLOAT, INT, CATEGORICAL)

Value = bool | int | float | str
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
SPEC_KEYS = {"type", "low", "high", "log", "step", "choices", "condition"}
# An int parameter's bounds: every value between them is exact as a float (the encodings
# work in floats) and fits int64 (numpy, Parquet exports). ``high = 1e300`` was accepted once
# and its Parquet export failed.
INT_BOUND = 2**53
# Numeric categorical choices and condition values are stored and exported as int64.
INT64_MAX = 2**63 - 1


class SpaceError(ValueError):
    """A space (or another spec) breaks one or more rules.

    ``errors`` maps a dotted field path (``space.lr.low``) to the rule it breaks.
    """

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class Condition:
    """The parameter is active only when ``parent`` takes one of ``values``."""

    parent: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Parameter:
    """One typed dimension of a search space."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Value, ...] = ()
    condition: Condition | None = None

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.kind}
        if self.kind == CATEGORICAL:
            spec["choices"] = list(self.choices)
        else:
            spec["low"], spec["high"] = self.low, self.high
            if self.log:
                spec["log"] = True
            if self.step is not None:
                spec["step"] = self.step
        if self.condition is not None:
            spec["condition"] = {
                "parent": self.condition.parent,
                "values": list(self.condition.values),
            }
        return spec

    def grid_values(self) -> list[Value] | None:
        """The values a grid search visits, or None if this parameter has no finite grid."""
        if self.kind == CATEGORICAL:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == INT:
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(n)]

    def grid_len(self) -> int | None:
        """Length of :meth:`grid_values` without building it (spaces can be huge)."""
        if self.kind == CATEGORICAL:
            return len(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == INT:
            return (int(self.high) - int(self.low)) // int(self.step or 1) + 1
        if self.step is None:
            return None
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1


@dataclass(frozen=True)
class Space:
    """An ordered, validated collection of parameters."""

    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_spec(self) -> dict[str, dict[str, Any]]:
        return {p.name: p.to_spec() for p in self.parameters}

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """Whether ``name`` applies to ``config`` (its condition chain holds)."""
        p = self[name]
        while p.condition is not None:
            if config.get(p.condition.parent) not in p.condition.values:
                return False
            p = self[p.condition.parent]
        return True

    def active_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` without the parameters whose condition does not hold."""
        return {n: config[n] for n in self.names if n in config and self.is_active(n, config)}

    def grid_size(self) -> int | None:
        """Number of points in the full grid, or None if a float has no step."""
        size = 1
        for p in self.parameters:
            n = p.grid_len()
            if n is None:
                return None
            size *= n
        return size


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) that a float holds finitely.

    ``math.isfinite`` raises ``OverflowError`` on an int past ~308 digits; this says False.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number(spec: Mapping[str, Any], key: str, path: str, errors: dict[str, str]) -> float | None:
    if key not in spec:
        errors[f"{path}.{key}"] = "is required for a numeric parameter"
        return None
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors[f"{path}.{key}"] = f"must be a number, got {shown_value(value)}"
        return None
    if not is_finite_number(value):
        errors[f"{path}.{key}"] = f"must be finite, got {shown_value(value)}"
        return None
    return float(value)


def shown_value(value: Any) -> str:
    """``repr(value)`` for an error message, but a number too long to read is described:
    a 4,000-digit int would fill the message (and ``repr`` refuses past 4,300 digits)."""
    if isinstance(value, int) and abs(value) > INT64_MAX:
        return "an integer longer than 19 digits"
    return repr(value)


def _fits_int64(value: Any) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or abs(value) <= INT64_MAX


def _parse_parameter(name: str, spec: Any, errors: dict[str, str]) -> Parameter | None:
    path = f"space.{name}"
    if not NAME_RE.match(name):
        errors[path] = "name must start with a letter or _ and use letters, digits, _ . - (max 64)"
        return None
    if not isinstance(spec, Mapping):
        errors[path] = "must be an object with a 'type'"
        return None
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        errors[path] = f"unknown keys {unknown}; allowed: {sorted(SPEC_KEYS)}"
        return None
    kind = spec.get("type")
    if kind not in KINDS:
        errors[f"{path}.type"] = f"must be one of {list(KINDS)}, got {kind!r}"
        return None

    before = len(errors)
    # Null is no "not given": the API schema says these fields are numbers, objects, lists.
    for key in sorted(set(spec) - {"type"}):
        if spec[key] is None:
            errors[f"{path}.{key}"] = "must not be null (omit it)"
    if len(errors) > before:
        return None
    condition = _parse_condition(spec.get("condition"), path, errors)
    if kind == CATEGORICAL:
        for key in ("low", "high", "log", "step"):
            if key in spec and spec[key] is not False:
                errors[f"{path}.{key}"] = "does not apply to a categorical parameter"
        choices = spec.get("choices")
        if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
            errors[f"{path}.choices"] = "must be a non-empty list"
        elif any(isinstance(c, bool | int | float | str) is False for c in choices):
            errors[f"{path}.choices"] = "values must be strings, numbers or booleans"
        elif any(isinstance(c, float) and not math.isfinite(c) for c in choices):
            errors[f"{path}.choices"] = "numeric choices must be finite"
        elif not all(_fits_int64(c) for c in choices):
            errors[f"{path}.choices"] = (
                f"integer choices must be between {-INT64_MAX} and {INT64_MAX}"
            )
        elif len({(type(c), c) for c in choices}) != len(choices):
            dupes = sorted({repr(c) for c in choices if list(choices).count(c) > 1})
            errors[f"{path}.choices"] = f"must not repeat a value (repeated: {', '.join(dupes)})"
        if len(errors) > before:
            return None
        return Parameter(name, CATEGORICAL, choices=tuple(choices), condition=condition)

    if spec.get("choices") is not None:
        errors[f"{path}.choices"] = f"does not apply to a {kind} parameter"
    low = _number(spec, "low", path, errors)
    high = _number(spec, "high", path, errors)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        errors[f"{path}.log"] = f"must be true or false, got {log!r}"
        log = False
    step = spec.get("step")
    if step is not None:
        if not is_finite_number(step) or step <= 0:
            errors[f"{path}.step"] = f"must be a positive finite number, got {shown_value(step)}"
        elif log:
            errors[f"{path}.step"] = "cannot be combined with log scale"
        elif kind == INT and float(step) != int(step):
            errors[f"{path}.step"] = f"must be a whole number for an int parameter, got {step!r}"
    if low is not None and high is not None:
        if kind == INT:
            for key, v in (("low", low), ("high", high)):
                if v != int(v):
                    errors[f"{path}.{key}"] = (
                        f"must be a whole number for an int parameter, got {v!r}"
                    )
                elif not -INT_BOUND <= v <= INT_BOUND:
                    errors[f"{path}.{key}"] = (
                        f"must be between {-INT_BOUND} and {INT_BOUND} for an int parameter, "
                        f"got {v!r}"
                    )
        elif not math.isfinite(high - low):
            errors[f"{path}.high"] = f"high - low must be a finite number, got {high - low!r}"
        if low >= high:
            errors[f"{path}.low"] = f"must be less than high ({low!r} >= {high!r})"
        elif log and low <= 0:
            errors[f"{path}.low"] = f"must be > 0 on a log scale, got {low!r}"
        elif step is not None and f"{path}.step" not in errors and step > high - low:
            errors[f"{path}.step"] = f"must not exceed high - low ({step!r} > {high - low!r})"
    if len(errors) > before:
        return None
    assert low is not None and high is not None
    if kind == INT:
        return Parameter(
            name, INT, int(low), int(high), log, int(step) if step else None, condition=condition
        )
    return Parameter(
        name, FLOAT, low, high, log, float(step) if step else None, condition=condition
    )


def _parse_condition(spec: Any, path: str, errors: dict[str, str]) -> Condition | None:
    if spec is None:
        return None
    ok = (
        isinstance(spec, Mapping)
        and isinstance(spec.get("parent"), str)
        and isinstance(spec.get("values"), list)
        and len(spec["values"]) > 0
        and set(spec) == {"parent", "values"}
        and all(_fits_int64(v) for v in spec["values"])
    )
    if not ok:
        errors[f"{path}.condition"] = (
            'must be {"parent": <parameter name>, "values": [<one or more values>]}'
        )
        return None
    return Condition(spec["parent"], tuple(spec["values"]))


def _check_conditions(params: dict[str, Parameter], errors: dict[str, str]) -> None:
    for p in params.values():
        if p.condition is None:
            continue
        field_ = f"space.{p.name}.condition"
        parent = params.get(p.condition.parent)
        if parent is None:
            errors[field_] = f"parent {p.condition.parent!r} is not a parameter of this space"
            continue
        if parent.name == p.name:
            errors[field_] = "a parameter cannot depend on itself"
            continue
        if parent.kind == CATEGORICAL:
            missing = [v for v in p.condition.values if v not in parent.choices]
            if missing:
                errors[field_] = f"values {missing} are not choices of {parent.name!r}"
                continue
        seen = {p.name}
        node: Parameter | None = parent
        while node is not None and node.condition is not None:
            if node.name in seen:
                errors[field_] = "conditions form a cycle"
                break
            seen.add(node.name)
            node = params.get(node.condition.parent)


def parse_space(spec: Any, *, grid_cap: int | None = None) -> Space:
    """Validate ``spec`` and return a :class:`Space`, or raise :class:`SpaceError`.

    ``grid_cap``: when given, the space must have a finite grid of at most that many points
    (used when the grid sampler is chosen).
    """
    if not isinstance(spec, Mapping) or not spec:
        raise SpaceError({"space": "must be a non-empty object mapping parameter names to specs"})
    errors: dict[str, str] = {}
    params: dict[str, Parameter] = {}
    for name, pspec in spec.items():
        if not isinstance(name, str):
            errors["space"] = f"parameter names must be strings, got {name!r}"
            continue
        parsed = _parse_parameter(name, pspec, errors)
        if parsed is not None:
            params[name] = parsed
    if not errors:
        _check_conditions(params, errors)
    if errors:
        raise SpaceError(errors)
    space = Space(tuple(params.values()))
    if grid_cap is not None:
        check_grid(space, grid_cap)
    return space


def check_grid(space: Space, cap: int) -> None:
    """Raise :class:`SpaceError` unless the space has a finite grid of at most ``cap`` points."""
    for p in space.parameters:
        if p.grid_len() is None:
            raise SpaceError(
                {f"space.{p.name}.step": "a float parameter needs a step for grid search"}
            )
    size = space.grid_size()
    assert size is not None
    if size > cap:
        raise SpaceError({"space": f"the grid has {size} points, more than the cap of {cap}"})
