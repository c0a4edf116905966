"""The sweep page's analysis panels, assembled from rows the live tailer already holds.

History, parallel coordinates and parameter importance need only trial rows and rung
results (no database); the surrogate view rebuilds the sweep's Bayesian sampler from the
database's results, exactly as the scheduler does, and asks it to explain one parameter.

Parameter importance fits a random forest (~0.2 s at 1,000 results). Its answer is kept in
Django's cache by its inputs, and a page's first render (:func:`cached_only`) takes it only
from there: the live tailer computes the panels off the request path as soon as the page's
socket opens, and pushes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
from django.core.cache import cache

from dashboard import plots
from sweeps import queries
from sweeps.queries import finite


def panels(
    sweep: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Figures of the analysis panels from a sweep summary, trial rows and rung results."""
    rows = queries.trial_results(trials, results)
    metric, mode = sweep["objective"]["metric"], sweep["objective"]["mode"]
    space = sweep.get("space") or {}
    return {
        "history_number": plots.history_figure(rows, mode=mode, metric=metric, x="number"),
        "history_time": plots.history_figure(rows, mode=mode, metric=metric, x="time"),
        "parallel": plots.parallel_figure(rows, space, metric=metric, mode=mode),
        "importance": plots.importance_figure(importance(rows, space, compute=not _cached.get())),
        "surrogate": surrogate_status(sweep),
    }


def quick_panels(
    sweep: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]],
    results: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """:func:`panels` without what is slow: parameter importance only from the cache."""
    with cached_only():
        return panels(sweep, trials, results)


IMPORTANCE_CACHE_SECONDS = 24 * 3600
_cached = ContextVar("rungs_analytics_cached_only", default=False)


@contextlib.contextmanager
def cached_only() -> Iterator[None]:
    """Inside it, :func:`panels` computes nothing expensive: the importance panel shows
    what the cache holds, or says it is being computed (a page's first render, which the
    live socket's analytics message completes moments later)."""
    token = _cached.set(True)
    try:
        yield
    finally:
        _cached.reset(token)


def importance(
    rows: Sequence[Mapping[str, Any]],
    space: Mapping[str, Mapping[str, Any]],
    *,
    compute: bool = True,
) -> dict[str, float] | None:
    """:func:`param_importance`, kept in Django's cache under a digest of
    its inputs (its answer changes only with a new result, while pages and the live tailer
    ask for the panels far more often). ``compute=False``: None unless cached."""
    key = json.dumps(
        [space, [(r.get("params"), r.get("value")) for r in rows]], sort_keys=True, default=str
    )
    cache_key = "rungs:importance:" + hashlib.sha256(key.encode()).hexdigest()
    found = cache.get(cache_key)
    if found is None:
        if not compute:
            return None
        found = param_importance(rows, space)
        cache.set(cache_key, found, IMPORTANCE_CACHE_SECONDS)
    return dict(found)


def encode_params(
    rows: Sequence[Mapping[str, Any]], space: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], np.ndarray]:
    """Parameters as numbers (pure): log-scaled ones as log10, categoricals as the index of
    their choice; inactive (conditional) parameters as NaN. Returns (names, matrix)."""
    names = list(space)
    x = np.full((len(rows), len(names)), np.nan)
    for j, name in enumerate(names):
        spec = space[name]
        choices = [repr(c) for c in spec.get("choices", [])]
        for i, row in enumerate(rows):
            value = (row.get("params") or {}).get(name)
            if value is None:
                continue
            if spec.get("type") == "categorical":
                key = repr(value)
                x[i, j] = choices.index(key) if key in choices else np.nan
            elif isinstance(value, int | float) and not isinstance(value, bool):
                x[i, j] = math.log10(value) if spec.get("log") and value > 0 else float(value)
    return names, x


def param_importance(
    rows: Sequence[Mapping[str, Any]],
    space: Mapping[str, Mapping[str, Any]],
    *,
    seed: int = 0,
    min_trials: int = 4,
) -> dict[str, float]:
    """How much each parameter explains of the objective (pure; sums to 1).

    ``rows`` are :func:`sweeps.queries.trial_results` rows (params and value). Fits a random forest
    (scikit-learn, 64 trees, fixed seed) of value on the encoded parameters and returns its
    impurity-based feature importances. Empty when fewer than ``min_trials`` results, or
    when the objective does not vary.
    """
    values = [r["value"] for r in rows if finite(r.get("value")) is not None]
    if len(values) < min_trials or not space or float(np.ptp(values)) == 0.0:
        return {}
    from sklearn.ensemble import RandomForestRegressor

    usable = [r for r in rows if finite(r.get("value")) is not None]
    names, x = encode_params(usable, space)
    x = np.where(np.isnan(x), -1e9, x)  # inactive conditional parameters: their own branch
    model = RandomForestRegressor(n_estimators=64, random_state=seed, min_samples_leaf=2)
    model.fit(x, np.asarray(values))
    importances = model.feature_importances_
    total = float(importances.sum())
    if total <= 0:
        return {}
    return {name: float(v) / total for name, v in zip(names, importances, strict=True)}


def surrogate_status(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the surrogate view applies to this sweep, and which parameters it offers."""
    sampler = sweep.get("sampler") or {}
    if sampler.get("name") != "bayes":
        return {
            "available": False,
            "reason": f"the {sampler.get('name', 'unknown')} sampler has no model to show; "
            "the surrogate view is for Bayesian (bayes) sweeps",
            "params": [],
        }
    return {"available": True, "reason": "", "params": list((sweep.get("space") or {}).keys())}


_samplers: dict[int, tuple[str, Any]] = {}
_samplers_lock = threading.Lock()


def _sampler(sweep: Any) -> Any:
    """A plain (not pooled) Bayesian sampler for ``sweep``, cached per process: it caches its
    fitted kernel by the results it saw, so asking again after no new result is quick."""
    from sweeps.search import build_sampler, parse_space

    key = json.dumps([sweep.space, sweep.sampler, sweep.seed], sort_keys=True)
    with _samplers_lock:
        cached = _samplers.get(sweep.pk)
        if cached is not None and cached[0] == key:
            return cached[1]
    sampler = build_sampler(sweep.sampler, parse_space(sweep.space), seed=sweep.seed)
    with _samplers_lock:
        _samplers[sweep.pk] = (key, sampler)
    return sampler


def surrogate(sweep_id: int, param: str) -> dict[str, Any]:
    """The surrogate figure along ``param`` for a Bayesian sweep (blocking; seconds at most).

    Returns ``{"param", "figure"}`` or raises ``ValueError`` naming what is missing (not a
    Bayesian sweep, unknown parameter, not enough results yet).
    """
    from sweeps.models import Sweep, Trial
    from sweeps.scheduling import snapshot
    from sweeps.search import build_scheduler, parse_space
    from sweeps.search.samplers import BayesSampler
    from sweeps.search.samplers.base import history_from_snapshot

    sweep = Sweep.objects.get(pk=sweep_id)
    if (sweep.sampler or {}).get("name") != "bayes":
        raise ValueError("the surrogate view is for Bayesian (bayes) sweeps")
    if param not in (sweep.space or {}):
        raise ValueError(f"{param!r} is not a parameter of this sweep: {sorted(sweep.space)}")
    sampler = _sampler(sweep)
    if not isinstance(sampler, BayesSampler):
        raise ValueError("the surrogate view is for Bayesian (bayes) sweeps")
    trials = list(Trial.objects.filter(sweep=sweep))
    # The full-budget rung, as the sweep's scheduler hands it to the sampler.
    top = build_scheduler(sweep.scheduler, parse_space(sweep.space), seed=sweep.seed).top_rung
    history = history_from_snapshot(snapshot(sweep, trials), top)
    expl = sampler.explain(history, param)
    sign = -1.0 if sweep.objective_mode == "max" else 1.0  # the sampler minimises
    data = {
        "param": expl.param,
        "rung": expl.rung,
        "choice": expl.choice,
        "acq_func": expl.acq_func,
        "values": list(expl.values),
        "mean": [sign * m for m in expl.mean],
        "std": list(expl.std),
        "acquisition": list(expl.acquisition),
        "observed": [(x, sign * y) for x, y in expl.observed],
        "log": bool(sweep.space[param].get("log")),
    }
    return {"param": param, "figure": plots.surrogate_figure(data, metric=sweep.objective_metric)}
