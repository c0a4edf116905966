"""Map a :class:`~sweeps.search.space.Space` to numbers and back.

Two encodings, both exact about types and bounds:

* the unit cube ``[0, 1)^d`` (:func:`from_unit`), used by the random and Sobol samplers: one
  coordinate per parameter, log-scaled parameters are spread evenly in log space, steps and
  ints are quantised so every value of the grid is equally likely;
* scikit-optimize dimensions (:class:`SkoptEncoder`), used by the Bayesian sampler: ``Real``
  (log-uniform prior on a log scale), ``Integer`` (log-uniform too), ``Categorical`` over
  choice *indices* (so choices of any JSON type survive numpy), and a stepped float or int
  becomes an ``Integer`` over its grid index, so a proposal always lies on the step grid.

Decoding always returns plain Python values (``int`` for an int parameter, ``float`` for a
float one, the choice object itself for a categorical) inside the bounds, and omits the
parameters whose condition does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sweeps.search.space import (
    CATEGORICAL,
    INT,
    Parameter,
    Space,
    SpaceError,
    Value,
    is_finite_number,
    shown_value,
)

if TYPE_CHECKING:
    from skopt.space import Dimension

__all__ = [
    "SkoptEncoder",
    "choice_index",
    "from_unit",
    "param_from_unit",
    "grid_value",
    "quantise",
    "validate_config",
]


def choice_index(param: Parameter, value: Any) -> int:
    """Index of ``value`` among ``param.choices``, matching the type too.

    ``True == 1`` in Python, and a space may list both ``1`` and ``True``; matching on
    ``(type, value)`` keeps them apart.
    """
    for i, choice in enumerate(param.choices):
        if type(choice) is type(value) and choice == value:
            return i
    for i, choice in enumerate(param.choices):
        # A JSON round trip turns 2.0 into 2: accept numerically equal numbers as a fallback.
        if (
            not isinstance(choice, bool | str)
            and not isinstance(value, bool | str)
            and choice == value
        ):
            return i
    raise ValueError(
        f"{value!r} is not one of the choices of {param.name!r}: {list(param.choices)}"
    )


def grid_value(param: Parameter, i: int) -> float:
    """The i-th value of a stepped float: ``low + i * step``, tidied and inside the bounds.

    Rounding to 12 decimals turns 0.30000000000000004 into 0.3, but can also round a low
    bound like 1.2574985328803905 below itself; clamping keeps the value in bounds.
    """
    assert param.low is not None and param.high is not None and param.step is not None
    return float(min(max(round(param.low + i * param.step, 12), param.low), param.high))


def quantise(param: Parameter, value: float) -> Value:
    """Snap a number to the parameter's type, step grid and bounds."""
    assert param.low is not None and param.high is not None
    if param.step is not None:
        n = param.grid_len()
        assert n is not None
        i = min(max(round((value - param.low) / param.step), 0), n - 1)
        if param.kind == INT:
            return int(param.low) + i * int(param.step)
        return grid_value(param, i)
    if param.kind == INT:
        return int(min(max(round(value), int(param.low)), int(param.high)))
    return float(min(max(value, param.low), param.high))


def param_from_unit(param: Parameter, u: float) -> Value:
    """The value at position ``u`` in ``[0, 1)`` along one parameter."""
    u = min(max(float(u), 0.0), math.nextafter(1.0, 0.0))
    if param.kind == CATEGORICAL:
        return param.choices[int(u * len(param.choices))]
    assert param.low is not None and param.high is not None
    n = param.grid_len()
    if param.kind == INT and param.log:
        # Spread over [low, high + 1) in log space, then floor: each integer gets the
        # log-width of its own unit interval, so small values are favoured as on a log scale.
        lo, hi = math.log(param.low), math.log(param.high + 1)
        return int(min(max(math.floor(math.exp(lo + u * (hi - lo))), param.low), param.high))
    if n is not None:  # an int, or a stepped float: every grid value equally likely
        i = int(u * n)
        if param.kind == INT:
            return int(param.low) + i * int(param.step or 1)
        return grid_value(param, i)
    if param.log:
        lo, hi = math.log(param.low), math.log(param.high)
        return float(min(max(math.exp(lo + u * (hi - lo)), param.low), param.high))
    return float(param.low + u * (param.high - param.low))


def from_unit(space: Space, u: Sequence[float]) -> dict[str, Value]:
    """A config from a point of the unit cube (one coordinate per parameter, in order).

    Inactive conditional parameters are omitted.
    """
    if len(u) != len(space.parameters):
        raise ValueError(
            f"need one coordinate per parameter ({len(space.parameters)}), got {len(u)}"
        )
    config = {p.name: param_from_unit(p, x) for p, x in zip(space.parameters, u, strict=True)}
    return space.active_config(config)


class SkoptEncoder:
    """scikit-optimize dimensions for a space, and the two-way mapping of configs.

    Inactive parameters have no value in a config; the surrogate still needs one, so they
    are encoded at a fixed neutral point (the middle of the range, the first choice). The
    model then learns that they do not matter when inactive.
    """

    def __init__(self, space: Space) -> None:
        self.space = space

    def dimensions(self) -> list[Dimension]:
        """Fresh skopt dimensions (new objects each call: skopt mutates their transforms)."""
        return [self._dimension(p) for p in self.space.parameters]

    @staticmethod
    def _dimension(p: Parameter) -> Dimension:
        # Here, not at the top: the unit-cube half of this module serves the grid, random
        # and Sobol samplers, which must not pay for scikit-optimize (~1.5 s, ~90 MB).
        from skopt.space import Categorical, Integer, Real

        if p.kind == CATEGORICAL:
            return Categorical(list(range(len(p.choices))), name=p.name)
        assert p.low is not None and p.high is not None
        if p.step is not None:
            n = p.grid_len()
            assert n is not None
            return Integer(0, n - 1, name=p.name)
        prior = "log-uniform" if p.log else "uniform"
        if p.kind == INT:
            return Integer(int(p.low), int(p.high), prior=prior, name=p.name)
        return Real(p.low, p.high, prior=prior, name=p.name)

    @staticmethod
    def _neutral(p: Parameter) -> Any:
        if p.kind == CATEGORICAL:
            return 0
        assert p.low is not None and p.high is not None
        if p.step is not None:
            n = p.grid_len()
            assert n is not None
            return (n - 1) // 2
        mid = math.sqrt(p.low * p.high) if p.log else (p.low + p.high) / 2
        return int(round(mid)) if p.kind == INT else float(mid)

    def encode(self, config: Mapping[str, Any]) -> list[Any]:
        """A point of the skopt space for ``config`` (missing or inactive → neutral)."""
        point: list[Any] = []
        for p in self.space.parameters:
            if p.name not in config or not self.space.is_active(p.name, config):
                point.append(self._neutral(p))
            elif p.kind == CATEGORICAL:
                point.append(choice_index(p, config[p.name]))
            elif p.step is not None:
                assert p.low is not None
                n = p.grid_len()
                assert n is not None
                point.append(min(max(round((float(config[p.name]) - p.low) / p.step), 0), n - 1))
            elif p.kind == INT:
                assert p.low is not None and p.high is not None
                point.append(int(min(max(int(config[p.name]), int(p.low)), int(p.high))))
            else:
                assert p.low is not None and p.high is not None
                point.append(float(min(max(float(config[p.name]), p.low), p.high)))
        return point

    def decode(self, point: Sequence[Any]) -> dict[str, Value]:
        """The typed, in-bounds config at a skopt point, inactive parameters omitted."""
        config: dict[str, Value] = {}
        for p, x in zip(self.space.parameters, point, strict=True):
            if p.kind == CATEGORICAL:
                config[p.name] = p.choices[min(max(int(x), 0), len(p.choices) - 1)]
            elif p.step is not None:
                assert p.low is not None
                config[p.name] = quantise(p, p.low + int(x) * p.step)
            else:
                config[p.name] = quantise(p, float(x))
        return self.space.active_config(config)


def validate_config(space: Space, config: Any) -> dict[str, Value]:
    """Check a hand-written config (a user's enqueued trial) against ``space``.

    Every active parameter needs a value of its type, inside its bounds and on its step
    grid; inactive and unknown parameters are rejected. Returns the config with typed
    values; raises :class:`SpaceError` mapping ``params.<name>`` to the rule broken.
    """
    if not isinstance(config, Mapping):
        raise SpaceError({"params": "must be an object mapping parameter names to values"})
    errors: dict[str, str] = {}
    for name in sorted(set(config) - set(space.names)):
        errors[f"params.{name}"] = f"is not a parameter of the space {space.names}"
    out: dict[str, Value] = {}
    for p in space.parameters:
        path = f"params.{p.name}"
        active = space.is_active(p.name, config)
        if not active:
            if p.name in config:
                errors[path] = "is inactive for this config: its condition does not hold"
            continue
        if p.name not in config:
            errors[path] = "is required"
            continue
        value = config[p.name]
        if p.kind == CATEGORICAL:
            try:
                out[p.name] = p.choices[choice_index(p, value)]
            except ValueError:
                errors[path] = f"must be one of {list(p.choices)}, got {value!r}"
            continue
        assert p.low is not None and p.high is not None
        if not is_finite_number(value):
            errors[path] = f"must be a finite number, got {shown_value(value)}"
        elif p.kind == INT and float(value) != int(value):
            errors[path] = f"must be a whole number, got {value!r}"
        elif not p.low <= value <= p.high:
            errors[path] = f"must be between {p.low!r} and {p.high!r}, got {value!r}"
        elif p.step is not None and abs(float(quantise(p, float(value))) - value) > 1e-9 * max(
            1.0, abs(value)
        ):
            errors[path] = f"must be low + k * step ({p.low!r} + k * {p.step!r}), got {value!r}"
        else:
            out[p.name] = int(value) if p.kind == INT else float(value)
    if errors:
        raise SpaceError(errors)
    return out
