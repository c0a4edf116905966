"""The search engine: spaces, samplers and schedulers, in pure Python.

This package imports numpy, scipy and scikit-optimize only — never Django (a test scans
for it) — and is tested without a database. scipy, scikit-learn and scikit-optimize load
when a Sobol or Bayesian sampler is first used, not on import (``tests/test_light_imports.py``). The app talks to it through frozen snapshots
and explicit decisions::

    space = parse_space(sweep.space_spec)                       # SpaceError on a bad space
    sampler_cfg = validate_sampler_config(sweep.sampler, space, grid_cap)  # SpaceError
    scheduler_cfg = validate_scheduler_config(sweep.scheduler)             # SpaceError
    sampler = build_sampler(sampler_cfg, space, seed=sweep.seed)
    scheduler = build_scheduler(scheduler_cfg, space, sampler)

    snapshot = SweepSnapshot(
        trials=(TrialSnapshot(id=7, params={...}, status="waiting", bracket=0, rung=1,
                              results={0: 0.41, 1: 0.37}),  ...),   # lower is better
        free_slots=2, max_trials=200, queued_configs=({...},))
    for decision in scheduler.decide(snapshot):     # pure; the same snapshot, the same answer
        match decision:
            case Start(params, bracket, rung, budget, manual, source): ...   # new trial
            case Promote(trial_id, rung, budget, manual): ...  # resume to the next rung
            case Stop(trial_id, reason): ...                   # cut by the rule
            case Complete(trial_id): ...                       # reached the top rung
            case Wait(reason) | Finish(reason): ...            # nothing to run / sweep over

Modules:

* :mod:`~sweeps.search.space` — parse and validate a space spec (:func:`parse_space`).
* :mod:`~sweeps.search.encoding` — the space as unit-cube coordinates and as
  scikit-optimize dimensions, both ways, typed and in bounds; :func:`validate_config` for a
  user's hand-written config.
* :mod:`~sweeps.search.decisions` — trial statuses, :class:`TrialSnapshot`,
  :class:`SweepSnapshot` and the decision types.
* :mod:`~sweeps.search.samplers` — grid, random, Sobol, Bayesian (skopt), the
  :class:`PooledSampler` that keeps proposals ready, :func:`build_sampler`,
  :func:`validate_sampler_config`; ``BayesSampler.explain`` for "why this point".
* :mod:`~sweeps.search.schedulers` — FIFO, successive halving, Hyperband, ASHA, median
  stopping, :func:`build_scheduler`, :func:`validate_scheduler_config`,
  :func:`rung_budgets` (rung index -> resource); the steering semantics (kill, pause,
  manual promotion, budget extension, enqueued configs) are documented there.

Steering actions are the app's: to promote or extend a trial by hand, apply
``scheduler.manual_promotion(trial)`` (a ``Promote`` with ``manual=True``) and record the
rung in the trial's ``manual_promotions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweeps.search.decisions import (
    ACTIVE,
    COMPLETED,
    DIVERGED,
    FAILED,
    FINISHED,
    KILLED,
    PAUSED,
    PENDING,
    RUNNING,
    STATUSES,
    STOPPED,
    TERMINAL,
    WAITING,
    Complete,
    Decision,
    Finish,
    Promote,
    Start,
    Stop,
    SweepSnapshot,
    TrialSnapshot,
    Wait,
    normalise,
)
from sweeps.search.encoding import SkoptEncoder, validate_config
from sweeps.search.samplers import (
    GridSampler,
    History,
    Observation,
    Proposal,
    RandomSampler,
    Sampler,
    build_sampler,
    history_from_snapshot,
    validate_sampler_config,
)
from sweeps.search.schedulers import (
    AshaScheduler,
    FifoScheduler,
    HyperbandScheduler,
    MedianStoppingScheduler,
    Scheduler,
    SuccessiveHalvingScheduler,
    build_scheduler,
    hyperband_brackets,
    resource_ladder,
    rung_budgets,
    validate_scheduler_config,
)
from sweeps.search.space import Parameter, Space, SpaceError, check_grid, parse_space

if TYPE_CHECKING:
    from sweeps.search.samplers import BayesSampler, Explanation, PooledSampler, SobolSampler

_LAZY = ("BayesSampler", "Explanation", "PooledSampler", "SobolSampler")


def __getattr__(name: str) -> Any:
    # The samplers that need scipy or scikit-optimize load on first use; see samplers/.
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sweeps.search import samplers

    value = getattr(samplers, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ACTIVE",
    "COMPLETED",
    "DIVERGED",
    "FAILED",
    "FINISHED",
    "KILLED",
    "PAUSED",
    "PENDING",
    "RUNNING",
    "STATUSES",
    "STOPPED",
    "TERMINAL",
    "WAITING",
    "AshaScheduler",
    "BayesSampler",
    "Complete",
    "Decision",
    "Explanation",
    "FifoScheduler",
    "Finish",
    "GridSampler",
    "History",
    "HyperbandScheduler",
    "MedianStoppingScheduler",
    "Observation",
    "Parameter",
    "PooledSampler",
    "Promote",
    "Proposal",
    "RandomSampler",
    "Sampler",
    "Scheduler",
    "SkoptEncoder",
    "SobolSampler",
    "Space",
    "SpaceError",
    "Start",
    "Stop",
    "SuccessiveHalvingScheduler",
    "SweepSnapshot",
    "TrialSnapshot",
    "Wait",
    "build_sampler",
    "build_scheduler",
    "check_grid",
    "history_from_snapshot",
    "hyperband_brackets",
    "normalise",
    "parse_space",
    "resource_ladder",
    "rung_budgets",
    "validate_config",
    "validate_sampler_config",
    "validate_scheduler_config",
]
