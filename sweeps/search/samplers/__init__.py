"""Samplers: where new configs come from.

========  =========================================================================
name      what it does
========  =========================================================================
grid      every distinct grid point once, in a seed-shuffled order (needs steps)
random    independent draws; log parameters drawn in log space
sobol     scrambled Sobol sequence (``scipy.stats.qmc``): even coverage
bayes     scikit-optimize ``Optimizer``: GP (EI / PI / LCB / gp_hedge) or RF / ET / GBRT;
          batch proposals with a constant liar; fitted on the rung that the rungs above confirm
========  =========================================================================

Every sampler is rebuilt from the sweep's results on each call (:class:`History`), is
deterministic for a seed, and never holds state that matters. :class:`PooledSampler`
puts a Bayesian sampler's expensive fit off the critical path.

Config (the sweep's JSON), validated by :func:`validate_sampler_config`::

    {"name": "bayes", "base_estimator": "GP", "acq_func": "gp_hedge", "n_initial_points": 10}
    {"name": "grid"} | {"name": "random"} | {"name": "sobol"}
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sweeps.search.samplers.base import (
    History,
    Observation,
    Proposal,
    Sampler,
    history_from_snapshot,
)
from sweeps.search.samplers.grid import GridSampler
from sweeps.search.samplers.options import (
    ACQ_FUNCS,
    BASE_ESTIMATORS,
    DEFAULT_MIN_RANK_CORR,
    DEFAULT_RANDOM_FRACTION,
    MAX_RANDOM_FRACTION,
)
from sweeps.search.samplers.random_search import RandomSampler
from sweeps.search.space import Space, SpaceError, check_grid

if TYPE_CHECKING:
    from sweeps.search.samplers.bayes import BayesSampler, Explanation
    from sweeps.search.samplers.pool import PooledSampler
    from sweeps.search.samplers.sobol import SobolSampler

# Loaded on first use (PEP 562): scikit-optimize, scikit-learn and scipy cost ~1.5 s and
# ~90 MB at import, which the web process, `up` and a worker running a grid or random
# sweep never need (tests/test_light_imports.py keeps them out).
_LAZY = {
    "BayesSampler": "sweeps.search.samplers.bayes",
    "Explanation": "sweeps.search.samplers.bayes",
    "PooledSampler": "sweeps.search.samplers.pool",
    "SobolSampler": "sweeps.search.samplers.sobol",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ACQ_FUNCS",
    "BASE_ESTIMATORS",
    "BAYES_DEFAULTS",
    "DEFAULT_GRID_CAP",
    "SAMPLERS",
    "BayesSampler",
    "Explanation",
    "GridSampler",
    "History",
    "Observation",
    "PooledSampler",
    "Proposal",
    "RandomSampler",
    "Sampler",
    "SobolSampler",
    "build_sampler",
    "history_from_snapshot",
    "validate_sampler_config",
]

SAMPLERS = ("grid", "random", "sobol", "bayes")
DEFAULT_GRID_CAP = 100_000
_KEYS = {
    "grid": {"name"},
    "random": {"name"},
    "sobol": {"name"},
    "bayes": {
        "name", "base_estimator", "acq_func", "n_initial_points", "random_fraction",
        "min_rank_corr",
    },
}  # fmt: skip
# What the Bayesian sampler fills in for a setting a config leaves out.
BAYES_DEFAULTS: dict[str, Any] = {
    "base_estimator": "GP",
    "acq_func": "gp_hedge",
    "n_initial_points": 10,
    "random_fraction": DEFAULT_RANDOM_FRACTION,
    "min_rank_corr": DEFAULT_MIN_RANK_CORR,
}
# Bounds of the Bayesian sampler's number settings: (low, high).
_BAYES_RANGES = {"random_fraction": (0.0, MAX_RANDOM_FRACTION), "min_rank_corr": (-1.0, 1.0)}


def validate_sampler_config(
    config: Any, space: Space, grid_cap: int | None = None
) -> dict[str, Any]:
    """Check a sampler config against ``space``; return it with defaults filled in.

    Raises :class:`SpaceError` mapping ``sampler.<field>`` (or ``space...`` for a space that
    does not suit the sampler, e.g. a grid without steps) to the rule broken.
    """
    if not isinstance(config, Mapping):
        raise SpaceError({"sampler": "must be an object with a 'name'"})
    name = config.get("name")
    if name not in SAMPLERS:
        raise SpaceError({"sampler.name": f"must be one of {list(SAMPLERS)}, got {name!r}"})
    errors: dict[str, str] = {}
    for key in sorted(set(config) - _KEYS[name]):
        errors[f"sampler.{key}"] = (
            f"is not a setting of the {name} sampler; allowed: {sorted(_KEYS[name])}"
        )
    out: dict[str, Any] = {"name": name}
    if name == "bayes":
        out.update({k: config.get(k, v) for k, v in BAYES_DEFAULTS.items()})
        if out["base_estimator"] not in BASE_ESTIMATORS:
            errors["sampler.base_estimator"] = (
                f"must be one of {list(BASE_ESTIMATORS)}, got {out['base_estimator']!r}"
            )
        if out["acq_func"] not in ACQ_FUNCS:
            errors["sampler.acq_func"] = (
                f"must be one of {list(ACQ_FUNCS)}, got {out['acq_func']!r}"
            )
        n = out["n_initial_points"]
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 10_000:
            errors["sampler.n_initial_points"] = f"must be an integer from 2 to 10000, got {n!r}"
        for key, (low, high) in _BAYES_RANGES.items():
            value = out[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (low <= value <= high)
            ):
                errors[f"sampler.{key}"] = (
                    f"must be a number from {low:g} to {high:g}, got {value!r}"
                )
    if errors:
        raise SpaceError(errors)
    if name == "grid":
        check_grid(space, grid_cap if grid_cap is not None else DEFAULT_GRID_CAP)
    return out


def build_sampler(
    config: Mapping[str, Any], space: Space, seed: int, grid_cap: int | None = None
) -> Sampler:
    """The sampler a (validated) config names, seeded with ``seed``."""
    cfg = validate_sampler_config(config, space, grid_cap)
    name = cfg["name"]
    if name == "grid":
        return GridSampler(
            space, seed, grid_cap=grid_cap if grid_cap is not None else DEFAULT_GRID_CAP
        )
    if name == "random":
        return RandomSampler(space, seed)
    if name == "sobol":
        from sweeps.search.samplers.sobol import SobolSampler

        return SobolSampler(space, seed)
    from sweeps.search.samplers.bayes import BayesSampler

    return BayesSampler(
        space,
        seed,
        base_estimator=cfg["base_estimator"],
        acq_func=cfg["acq_func"],
        n_initial_points=cfg["n_initial_points"],
        random_fraction=cfg["random_fraction"],
        min_rank_corr=cfg["min_rank_corr"],
    )
