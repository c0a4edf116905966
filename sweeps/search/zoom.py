"""Zoom in: a narrower space around a sweep's best configs (the lectures' coarse-to-fine).

:func:`zoom_space` takes a space, the top-k configs and a ``margin``, and returns the space
a follow-up sweep should search:

* **float / int**: the top values' min and max, widened by ``margin`` x their spread on each
  side (on the log scale for a log parameter), then clipped to the old bounds. When the
  values coincide (spread 0), ``margin`` x the old range is used instead. A float without a
  step is rounded outward to 4 significant digits; a float with a step and every int keep
  the old grid (``low + k * step``) with bounds rounded outward onto it, at least one step
  apart. A float whose window would still be empty (margin 0, equal values) keeps its
  bounds.
* **categorical**: the values the top configs took, in the old order.
* A parameter none of the top configs used (its condition never held) is left as it was.
* **conditions** stay; a condition's values shrink to those its parent can still take, and
  a parameter whose parent can no longer take any of them is dropped (with its own
  dependents).

Every top config lies inside the new space (the tests hold it to that).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sweeps.search.encoding import grid_value
from sweeps.search.space import (
    CATEGORICAL,
    INT,
    Condition,
    Parameter,
    Space,
    Value,
    is_finite_number,
)

__all__ = ["SIGNIFICANT", "Change", "Zoom", "zoom_space"]

SIGNIFICANT = 4  # digits a float bound keeps (rounded outward)


@dataclass(frozen=True)
class Change:
    """A parameter's spec before and after (``new`` None: dropped)."""

    name: str
    old: dict[str, Any]
    new: dict[str, Any] | None


@dataclass(frozen=True)
class Zoom:
    space: Space
    changes: tuple[Change, ...]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _round_out(x: float, up: bool) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    quantum = 10.0 ** (math.floor(math.log10(abs(x))) - (SIGNIFICANT - 1))
    steps = math.ceil(x / quantum) if up else math.floor(x / quantum)
    return float(f"{steps * quantum:.{SIGNIFICANT + 2}g}")


def _window(p: Parameter, values: list[float], margin: float) -> tuple[float, float]:
    """The widened, clipped [low, high] around ``values`` before any rounding."""
    assert p.low is not None and p.high is not None
    f, inv = (math.log, math.exp) if p.log else ((lambda v: v), (lambda v: v))
    lo, hi = f(min(values)), f(max(values))
    spread = hi - lo if hi > lo else f(p.high) - f(p.low)
    low = max(p.low, min(inv(lo - margin * spread), min(values)))
    high = min(p.high, max(inv(hi + margin * spread), max(values)))
    return low, high


def _narrow_number(p: Parameter, values: list[float], margin: float) -> Parameter:
    assert p.low is not None and p.high is not None
    low, high = _window(p, values, margin)
    if p.kind == INT or p.step is not None:
        step = p.step or 1
        top = math.floor((p.high - p.low) / step + 1e-9)  # the old grid's last index
        k_lo = max(0, math.floor((low - p.low) / step + 1e-9))
        k_hi = min(top, math.ceil((high - p.low) / step - 1e-9))
        if k_hi <= k_lo:  # at least one step apart (a space needs low < high)
            k_hi, k_lo = (k_lo + 1, k_lo) if k_lo < top else (k_hi, k_hi - 1)
        if p.kind == INT:
            return replace(p, low=int(p.low + k_lo * step), high=int(p.low + k_hi * step))
        # The old grid's own point values (rounded as the samplers round them), so every top
        # value stays inside; one step more where rounding left the bounds under a step apart.
        for lo, hi in ((k_lo, k_hi), (k_lo, min(top, k_hi + 1)), (max(0, k_lo - 1), k_hi)):
            if lo == 0 and hi == top:
                break
            if grid_value(p, hi) - grid_value(p, lo) >= step:
                return replace(p, low=grid_value(p, lo), high=grid_value(p, hi))
        return p
    low = max(p.low, _round_out(low, up=False))
    high = min(p.high, _round_out(high, up=True))
    if not low < high:
        return p
    return replace(p, low=low, high=high)


def _narrow(p: Parameter, configs: Sequence[Mapping[str, Any]], margin: float) -> Parameter:
    taken = [c[p.name] for c in configs if p.name in c]
    if p.kind == CATEGORICAL:
        choices = tuple(c for c in p.choices if any(_same(c, v) for v in taken))
        return replace(p, choices=choices) if choices else p
    numbers = [float(v) for v in taken if is_finite_number(v)]
    return _narrow_number(p, numbers, margin) if numbers else p


def _can_take(p: Parameter, value: Value) -> bool:
    if p.kind == CATEGORICAL:
        return value in p.choices  # as Space.is_active compares (False == 0 there too)
    assert p.low is not None and p.high is not None
    return is_finite_number(value) and p.low <= value <= p.high  # type: ignore[operator]


def zoom_space(space: Space, top: Sequence[Mapping[str, Any]], margin: float) -> Zoom:
    """The space narrowed around ``top`` (the best configs, any order) by ``margin``.

    Raises ValueError for no configs or a margin that is not a finite number >= 0.
    """
    if not top:
        raise ValueError("zooming in needs at least one config")
    if not is_finite_number(margin) or margin < 0:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    narrowed = {p.name: _narrow(p, top, margin) for p in space.parameters}
    # Conditions: keep the values the (narrowed) parent can still take; drop a parameter
    # left with none, then whatever depended on it, until nothing changes.
    dropped: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, p in narrowed.items():
            if name in dropped or p.condition is None:
                continue
            parent = narrowed.get(p.condition.parent)
            values = (
                ()
                if parent is None or parent.name in dropped
                else tuple(v for v in p.condition.values if _can_take(parent, v))
            )
            if not values:
                dropped.add(name)
                changed = True
            elif values != p.condition.values:
                narrowed[name] = replace(p, condition=Condition(p.condition.parent, values))
                changed = True
    params = tuple(narrowed[p.name] for p in space.parameters if p.name not in dropped)
    changes = tuple(
        Change(p.name, p.to_spec(), None if p.name in dropped else narrowed[p.name].to_spec())
        for p in space.parameters
        if p.name in dropped or narrowed[p.name] != p
    )
    return Zoom(Space(params), changes)
