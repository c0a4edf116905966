"""Peers for ``bench.search_quality``: Optuna TPE + Hyperband, DEHB and Syne Tune's Hyper-Tune.

None of them is a Rungs dependency (``pip install -r requirements-bench.txt``). Every run is
simulated in resource units, like ``sweeps.search.simulate.Simulator`` for Rungs, and is
deterministic given its seed (each peer is seeded; nothing reads the wall clock):

* Optuna (TPESampler + HyperbandPruner, same min/max resource and eta) runs one trial at a
  time (``study.optimize``), reporting at the rungs 1/3/9/27/81; a pruned trial stops there.
  The study is named ``{problem}-{seed}``: the pruner assigns brackets from a hash of the
  study name, and an unnamed study gets a random one.
* DEHB and Hyper-Tune run on :func:`run_async`: ``WORKERS`` simulated workers; a free worker
  asks the peer for a job (DEHB ``ask()``; Syne Tune ``suggest()``), the job trains until its
  next report, the result goes back (DEHB ``tell()``; Syne Tune ``on_trial_result()``), in
  order of simulated time. A job that continues a config already trained to a lower budget
  (DEHB re-evaluating the same config id at a higher fidelity, a Hyper-Tune trial going on to
  its next rung) resumes from that checkpoint and costs only the difference, as in Rungs.

Every result whose cumulative spent budget is <= the run's budget counts, including those
that arrive at the very instant the budget runs out.
"""

from __future__ import annotations

import heapq
import math
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.objectives import Problem, R

ETA = 3
RUNGS = (1, 3, 9, 27, 81)
WORKERS = 4

Trace = list[tuple[float, float]]  # (budget spent, regret)


class Incumbent:
    """Regret of the best result at the highest rung reached so far."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.best: dict[int, tuple[float, float]] = {}  # rung -> (observed value, true f)
        self.trace: Trace = []

    def report(self, spent: float, rung: int, value: float, x: Mapping[str, Any]) -> None:
        if math.isfinite(value) and (rung not in self.best or value < self.best[rung][0]):
            self.best[rung] = (value, self.problem.f(x))
        top = max(self.best, default=None)
        if top is not None:
            self.trace.append((spent, self.best[top][1] - self.problem.f_star))


def rung_of(budget: float) -> int:
    return RUNGS.index(round(budget))


# --- the simulated asynchronous workers -----------------------------------------------------


@dataclass
class Job:
    """``x`` trains from ``start`` to ``stop`` resource units, then reports."""

    x: dict[str, Any]
    trial: int  # id for the objective's noise
    start: float
    stop: float
    handle: Any = None  # the peer's own record of it


def run_async(
    problem: Problem,
    seed: int,
    budget: float,
    ask: Callable[[], Job | None],
    tell: Callable[[Job, float], Job | None],
    workers: int = WORKERS,
    on_clock: Callable[[float], None] | None = None,
) -> Trace:
    """Simulate ``workers`` workers; ``tell`` may return the same trial's next job.

    ``on_clock`` hears the simulated time (resource units of one worker) as it moves.
    """
    inc = Incumbent(problem)
    clock = spent = 0.0
    running: list[tuple[float, int, Job]] = []  # (finish time, start order, job)
    order = 0

    def start(job: Job) -> None:
        nonlocal order
        heapq.heappush(running, (clock + max(job.stop - job.start, 0.0), order, job))
        order += 1

    def fill() -> None:
        while len(running) < workers:
            job = ask()
            if job is None:
                return
            start(job)

    fill()
    while running:
        end = running[0][0]
        after = spent + (end - clock) * len(running)  # every busy worker trains until then
        if after > budget:
            break
        spent, clock = after, end
        if on_clock is not None:
            on_clock(clock)
        _, _, job = heapq.heappop(running)
        value = problem.value(job.x, job.stop, job.trial, seed)
        inc.report(spent, rung_of(job.stop), value, job.x)
        nxt = tell(job, value)
        if nxt is not None:
            start(nxt)
        fill()
    return inc.trace


def _seed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)


# --- Optuna ---------------------------------------------------------------------------------


def _optuna_params(trial: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    x: dict[str, Any] = {}
    for k, v in space.items():
        if v["type"] == "categorical":
            x[k] = trial.suggest_categorical(k, v["choices"])
        elif v["type"] == "int":
            x[k] = trial.suggest_int(k, int(v["low"]), int(v["high"]), log=v.get("log", False))
        else:
            x[k] = trial.suggest_float(k, v["low"], v["high"], log=v.get("log", False))
    return x


def run_optuna(problem: Problem, seed: int, budget: float) -> Trace:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _seed_globals(seed)
    inc = Incumbent(problem)
    spent = 0.0

    def objective(trial: optuna.Trial) -> float:
        nonlocal spent
        x = _optuna_params(trial, problem.space)
        prev = 0.0
        value = math.nan
        for k, b in enumerate(RUNGS):
            if spent + b - prev > budget:  # out of budget before this rung's report
                trial.study.stop()
                raise optuna.TrialPruned()
            spent += b - prev
            prev = b
            value = problem.value(x, b, trial.number + 1, seed)
            inc.report(spent, k, value, x)
            trial.report(value, b)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    def stop(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        if spent >= budget:
            study.stop()

    study = optuna.create_study(
        study_name=f"{problem.name}-{seed}",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=R, reduction_factor=ETA),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=100_000, callbacks=[stop])
    return inc.trace


# --- DEHB -----------------------------------------------------------------------------------


def _configspace(space: Mapping[str, Any], seed: int) -> Any:
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    for k, v in space.items():
        if v["type"] == "categorical":
            cs.add(CS.Categorical(k, list(v["choices"])))
        elif v["type"] == "int":
            cs.add(CS.Integer(k, (int(v["low"]), int(v["high"])), log=v.get("log", False)))
        else:
            cs.add(CS.Float(k, (float(v["low"]), float(v["high"])), log=v.get("log", False)))
    return cs


def run_dehb(problem: Problem, seed: int, budget: float) -> Trace:
    """DEHB's ask/tell on the simulated workers (its own ``run()`` does the same with Dask)."""
    from dehb import DEHB

    _seed_globals(seed)
    out = tempfile.mkdtemp(prefix="dehb-")  # DEHB insists on a log file
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dehb = DEHB(
                cs=_configspace(problem.space, seed),
                dimensions=len(problem.space),
                min_fidelity=1,
                max_fidelity=R,
                eta=ETA,
                n_workers=1,  # no Dask: the parallelism is run_async's
                seed=seed,
                output_path=out,
                log_level="ERROR",
                save_freq=None,
            )
            trained: dict[int, float] = {}  # config id -> resource trained (its checkpoint)

            def ask() -> Job | None:
                info = dehb.ask()
                cid = int(info["config_id"])
                fidelity = float(round(float(info["fidelity"])))
                start = trained.get(cid, 0.0)
                start = start if start < fidelity else 0.0
                trained[cid] = max(trained.get(cid, 0.0), fidelity)
                x = _plain(info["config"], problem.space)
                return Job(x, cid + 1, start, fidelity, info)

            def tell(job: Job, value: float) -> None:
                dehb.tell(job.handle, {"fitness": value, "cost": job.stop - job.start})

            return run_async(problem, seed, budget, ask, tell)
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --- Syne Tune ------------------------------------------------------------------------------


def _syne_space(space: Mapping[str, Any]) -> dict[str, Any]:
    from syne_tune.config_space import choice, lograndint, loguniform, randint, uniform

    cs: dict[str, Any] = {}
    for k, v in space.items():
        if v["type"] == "categorical":
            cs[k] = choice(list(v["choices"]))
        elif v["type"] == "int":
            make = lograndint if v.get("log") else randint
            cs[k] = make(int(v["low"]), int(v["high"]))
        else:
            make = loguniform if v.get("log") else uniform
            cs[k] = make(float(v["low"]), float(v["high"]))
    return cs


def run_syne_tune(problem: Problem, seed: int, budget: float, method: str = "hypertune") -> Trace:
    """Syne Tune's scheduler (Hyper-Tune by default) driven like its simulator backend."""
    import logging
    from datetime import datetime

    from syne_tune.backend.simulator_backend.time_keeper import SimulatedTimeKeeper
    from syne_tune.backend.trial_status import Trial
    from syne_tune.optimizer.baselines import MOBSTER, HyperTune
    from syne_tune.optimizer.scheduler import SchedulerDecision

    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    _seed_globals(seed)
    keeper = SimulatedTimeKeeper()
    keeper.start_of_time()
    cls = {"hypertune": HyperTune, "mobster": MOBSTER}[method]
    extra = {"brackets": len(RUNGS)} if method == "hypertune" else {}
    scheduler = cls(
        _syne_space(problem.space),
        metric="loss",
        mode="min",
        resource_attr="epoch",
        max_t=R,
        grace_period=1,
        reduction_factor=ETA,
        random_seed=seed,
        **extra,
    )
    scheduler.set_time_keeper(keeper)  # simulated time (the constructor's argument is broken)
    epoch0 = datetime(2020, 1, 1)
    trials: dict[int, Trial] = {}
    paused: dict[int, float] = {}  # trial id -> resource trained
    next_id = [0]

    def next_rung(level: float) -> float:
        return float(next(r for r in RUNGS if r > level))

    def ask() -> Job | None:
        suggestion = scheduler.suggest(next_id[0])
        if suggestion is None:
            return None
        if suggestion.spawn_new_trial_id:
            tid = next_id[0]
            next_id[0] += 1
            trial = Trial(tid, dict(suggestion.config), epoch0)
            trials[tid] = trial
            scheduler.on_trial_add(trial)
            start = 0.0
        else:
            tid = int(suggestion.checkpoint_trial_id)
            start = paused.pop(tid)
            if suggestion.config is not None:
                trials[tid].config = dict(suggestion.config)
        return Job(_plain(trials[tid].config, problem.space), tid + 1, start, next_rung(start), tid)

    def tell(job: Job, value: float) -> Job | None:
        trial = trials[job.handle]
        result = {"loss": value, "epoch": int(job.stop)}
        if job.stop >= R:
            scheduler.on_trial_complete(trial, result)
            return None
        decision = scheduler.on_trial_result(trial, result)
        if decision == SchedulerDecision.CONTINUE:
            return Job(job.x, job.trial, job.stop, next_rung(job.stop), job.handle)
        if decision == SchedulerDecision.PAUSE:
            paused[job.handle] = job.stop
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_async(problem, seed, budget, ask, tell, on_clock=keeper.advance_to)


def _plain(config: Mapping[str, Any], space: Mapping[str, Any]) -> dict[str, Any]:
    """The objective's parameters only, as plain Python values."""
    out: dict[str, Any] = {}
    for k, v in space.items():
        val = config[k]
        out[k] = (
            int(val) if v["type"] == "int" else float(val) if v["type"] == "float" else str(val)
        )
    return out


def versions() -> dict[str, str]:
    """Installed peer versions ('-' where missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("optuna", "dehb", "syne-tune", "ConfigSpace"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out
