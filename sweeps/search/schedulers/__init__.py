"""Schedulers: who gets how much budget.

=========  ==================================================================================
name       rule
=========  ==================================================================================
fifo       every trial trains to ``max_resource``; no early stopping
sha        synchronous successive halving: brackets of ``eta**s_max`` configs, best 1/eta go up
hyperband  brackets cycling through the Hyperband table (the lecture notes' R=81, eta=3 one)
asha       asynchronous successive halving: promote as soon as a trial is in its rung's top
median     median stopping: stop a trial worse than its peers' median at the same rung
=========  ==================================================================================

Rungs are budgets on a geometric ladder (:func:`rung_budgets`): rung ``k`` trains to
``max_resource * eta**(k - s_max)``, so with min 1, max 81, eta 3 the rungs are 1, 3, 9, 27, 81
(epochs, steps, ... — the sweep's resource unit). FIFO has a single rung at ``max_resource``.

``"keep_ties": true`` (sha, hyperband, asha) is the lecture's science fair: a project is
cut only when it is clearly behind. When a rung is decided, trials ranked just below the
promoted ones whose interval (result ± 1.96 standard errors, where the trainer reports
``<metric>_se``) overlaps the last promoted one's go on too, at most half as many again
(:meth:`Scheduler.ties`); they are recorded as promoted "as a tie".

**The interface.** ``scheduler.decide(SweepSnapshot) -> list[Decision]``, pure: the same
snapshot always gives the same decisions, nothing is remembered between calls. Decisions are
``Stop`` / ``Complete`` for trials that reported, then at most ``free_slots`` of ``Start``
(a new config at a rung, its params from the sampler) and ``Promote`` (resume a trial up to
the next rung's budget), then one ``Wait`` (slots stay free, with the reason) or ``Finish``
(nothing is active and nothing can start) when nothing was started or promoted. sha and
Hyperband with a sampler that reads only its index (random, sobol, grid) also take a
snapshot that gives finished brackets by their size (``SweepSnapshot.settled``): the app
then reads only the brackets still running (:meth:`Scheduler.accepts_settled`).

**Steering semantics** (each is tested in ``tests/search/test_steering.py``):

* *Kill.* A killed trial is terminal: never promoted, never restarted. It frees its worker
  slot at once, a synchronous rung does not wait for it, and its place in the ranking goes
  to the next best (it still counts in the rung's size ``n``, so bracket sizes keep the
  table's shape). Failed and diverged trials are treated the same way.
* *Manual promotion.* :meth:`Scheduler.manual_promotion` sends a waiting, stopped or
  completed trial to the next rung even if it is not in the top 1/eta; the ``Promote`` is
  marked ``manual`` and the app records the rung in the trial's ``manual_promotions``. The
  rule's quota ``floor(n / eta)`` counts only its own promotions, so the trials the rule
  promotes keep all their places. At the new rung the trial competes normally.
* *Budget extension.* The same call on a completed trial adds a rung above the top (budget
  ``max_resource * eta``); when it reports there it completes again.
* *Pause / resume.* A paused trial keeps its place: a synchronous rung waits for its
  result, and a paused trial in the top of a rung keeps that place (it is promoted once
  resumed) instead of giving it to the next one. Resuming is the app's move (back to
  pending at the same rung); the schedulers never start a paused trial.
* *Enqueued config.* Configs a user enqueues (``SweepSnapshot.queued_configs``) are started
  before anything else, in order, in the next place a new config would take (``manual=True``),
  even when ``max_trials`` is reached.
* *NaN / inf.* A non-finite result is never promoted: the trial is stopped.
* *Never resurrected.* ``decide`` never starts or promotes a stopped, completed, killed,
  failed or diverged trial; only a user's manual promotion does.

Inside Hyperband and ASHA the configs come from the sweep's sampler; the Bayesian sampler
fits on the highest rung that has enough results (BOHB-style).

Config (the sweep's JSON), validated by :func:`validate_scheduler_config`::

    {"name": "hyperband", "min_resource": 1, "max_resource": 81, "eta": 3}
    {"name": "median", "min_resource": 1, "max_resource": 81, "eta": 3, "min_trials": 3}
    {"name": "fifo", "max_resource": 81}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweeps.search.samplers import RandomSampler, Sampler
from sweeps.search.schedulers.asha import AshaScheduler
from sweeps.search.schedulers.base import Scheduler, resource_ladder
from sweeps.search.schedulers.fifo import FifoScheduler
from sweeps.search.schedulers.halving import (
    BracketShape,
    HyperbandScheduler,
    SuccessiveHalvingScheduler,
    bracket_cycle,
    hyperband_brackets,
)
from sweeps.search.schedulers.median import MedianStoppingScheduler
from sweeps.search.space import Space, SpaceError, is_finite_number, shown_value

__all__ = [
    "SCHEDULERS",
    "AshaScheduler",
    "BracketShape",
    "FifoScheduler",
    "HyperbandScheduler",
    "MedianStoppingScheduler",
    "Scheduler",
    "SuccessiveHalvingScheduler",
    "bracket_cycle",
    "build_scheduler",
    "hyperband_brackets",
    "resource_ladder",
    "rung_budgets",
    "validate_scheduler_config",
]

SCHEDULERS = ("fifo", "sha", "hyperband", "asha", "median")
_KEYS = {
    "fifo": {"name", "min_resource", "max_resource", "eta"},
    "sha": {"name", "min_resource", "max_resource", "eta", "keep_ties"},
    "hyperband": {"name", "min_resource", "max_resource", "eta", "keep_ties"},
    "asha": {"name", "min_resource", "max_resource", "eta", "keep_ties"},
    "median": {"name", "min_resource", "max_resource", "eta", "min_trials"},
}


def _positive(config: Mapping[str, Any], key: str, errors: dict[str, str]) -> float | None:
    value = config.get(key)
    if value is None:
        errors[f"scheduler.{key}"] = "is required"
        return None
    if not is_finite_number(value) or value <= 0:
        errors[f"scheduler.{key}"] = f"must be a positive finite number, got {shown_value(value)}"
        return None
    return float(value)


def validate_scheduler_config(config: Any) -> dict[str, Any]:
    """Check a scheduler config; return it with defaults filled in.

    Rules: ``name`` one of :data:`SCHEDULERS`; ``max_resource`` > 0; ``eta`` an integer
    >= 2 (default 3); except for fifo, ``min_resource`` > 0 and ``max_resource >=
    min_resource * eta`` (room for at least one halving); median's ``min_trials`` an
    integer >= 1 (default 3). Raises :class:`SpaceError` mapping ``scheduler.<field>`` to
    the rule broken.
    """
    if not isinstance(config, Mapping):
        raise SpaceError({"scheduler": "must be an object with a 'name'"})
    name = config.get("name")
    if name not in SCHEDULERS:
        raise SpaceError({"scheduler.name": f"must be one of {list(SCHEDULERS)}, got {name!r}"})
    errors: dict[str, str] = {}
    for key in sorted(set(config) - _KEYS[name]):
        errors[f"scheduler.{key}"] = (
            f"is not a setting of the {name} scheduler; allowed: {sorted(_KEYS[name])}"
        )
    eta = config.get("eta", 3)
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        errors["scheduler.eta"] = f"must be an integer >= 2, got {eta!r}"
    high = _positive(config, "max_resource", errors)
    out: dict[str, Any] = {"name": name, "max_resource": high, "eta": eta}
    if name == "fifo":
        if "min_resource" in config:
            low = _positive(config, "min_resource", errors)
            if low is not None and high is not None and low > high:
                errors["scheduler.min_resource"] = f"must be <= max_resource ({low!r} > {high!r})"
            out["min_resource"] = low
        else:
            out["min_resource"] = high
    else:
        low = _positive(config, "min_resource", errors)
        out["min_resource"] = low
        if (
            low is not None
            and high is not None
            and "scheduler.eta" not in errors
            and high < low * eta
        ):
            errors["scheduler.max_resource"] = (
                f"must be >= min_resource * eta to allow one halving ({high!r} < {low!r} * {eta})"
            )
    if "keep_ties" in config and "keep_ties" in _KEYS[name]:
        keep = config["keep_ties"]
        if not isinstance(keep, bool):
            errors["scheduler.keep_ties"] = f"must be true or false, got {shown_value(keep)}"
        out["keep_ties"] = keep
    if name == "median":
        n = config.get("min_trials", 3)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            errors["scheduler.min_trials"] = f"must be an integer >= 1, got {n!r}"
        out["min_trials"] = n
    if errors:
        raise SpaceError(errors)
    return out


def rung_budgets(config: Mapping[str, Any]) -> tuple[float, ...]:
    """Rung index -> resource, for a scheduler config (``rung_budgets(cfg)[k]``)."""
    cfg = validate_scheduler_config(config)
    if cfg["name"] == "fifo":
        return (cfg["max_resource"],)
    return resource_ladder(cfg["min_resource"], cfg["max_resource"], cfg["eta"])


def build_scheduler(
    config: Mapping[str, Any], space: Space, sampler: Sampler | None = None, *, seed: int = 0
) -> Scheduler:
    """The scheduler a config names, drawing new configs from ``sampler``.

    Without a sampler, configs come from a :class:`RandomSampler` seeded with ``seed``.
    """
    cfg = validate_scheduler_config(config)
    ladder = rung_budgets(cfg)
    sampler = sampler if sampler is not None else RandomSampler(space, seed)
    name = cfg["name"]
    if name == "fifo":
        return FifoScheduler(ladder, cfg["eta"], sampler)
    bracketed = {
        "sha": SuccessiveHalvingScheduler,
        "hyperband": HyperbandScheduler,
        "asha": AshaScheduler,
    }
    if name in bracketed:
        scheduler = bracketed[name](ladder, cfg["eta"], sampler)
        scheduler.keep_ties = bool(cfg.get("keep_ties", False))
        return scheduler
    return MedianStoppingScheduler(ladder, cfg["eta"], sampler, min_trials=cfg["min_trials"])
