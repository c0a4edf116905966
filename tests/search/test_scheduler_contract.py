"""Contract every scheduler must keep, under any interleaving of results and steering.

One suite for the family (each scheduler subscribes through ``SCHEDULERS``); hypothesis
drives a simulated sweep with random results (NaN and inf included), kills, pauses,
resumes, manual promotions and enqueued configs, and after every step checks:

* ``decide`` is pure: the same snapshot gives the same decisions;
* never more starts + promotions than free slots;
* the rule promotes only waiting trials with a finite result, one rung up, and never more
  than ``floor(n / eta)`` out of a rung of ``n`` (manual promotions not counted);
* a stopped, completed, killed, failed or diverged trial is never started, promoted or
  otherwise touched by the scheduler (only a user's manual promotion revives one);
* budgets follow the ladder, and started configs lie in the space.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeps.search import (
    COMPLETED,
    FINISHED,
    PAUSED,
    RUNNING,
    STOPPED,
    WAITING,
    Complete,
    Promote,
    Scheduler,
    Start,
    Stop,
    build_sampler,
    build_scheduler,
    parse_space,
)
from sweeps.search.simulate import Simulator

from .strategies import FAST
from .test_encoding import assert_valid

SPACE = parse_space(
    {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "k": {"type": "categorical", "choices": ["a", "b"]},
        "n": {"type": "int", "low": 1, "high": 3, "condition": {"parent": "k", "values": ["b"]}},
    }
)
HALVING = {"min_resource": 1, "max_resource": 27, "eta": 3}
SCHEDULERS = {
    "fifo": {"name": "fifo", "max_resource": 27},
    "sha": {"name": "sha", **HALVING},
    "hyperband": {"name": "hyperband", **HALVING},
    "asha": {"name": "asha", **HALVING},
    "median": {"name": "median", **HALVING, "min_trials": 2},
    "sha-eta2": {"name": "sha", "min_resource": 1, "max_resource": 8, "eta": 2},
    "hyperband-eta4": {"name": "hyperband", "min_resource": 1, "max_resource": 16, "eta": 4},
}
RULE_QUOTA = {"sha", "hyperband", "asha", "sha-eta2", "hyperband-eta4"}


@pytest.fixture(scope="module", params=sorted(SCHEDULERS))
def scheduler_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(name: str, seed: int = 0) -> Scheduler:
    return build_scheduler(SCHEDULERS[name], SPACE, build_sampler({"name": "random"}, SPACE, seed))


def objective(seed: int) -> Any:
    def value(params: Any, budget: float, tid: int) -> float:
        u = np.random.default_rng([seed, tid, round(budget * 100)]).random()
        if u < 0.04:
            return math.nan
        if u < 0.06:
            return math.inf
        return float(params["x"]) + u / budget

    return value


def check_decisions(sim: Simulator, scheduler: Scheduler) -> None:
    """Ask once, check the decisions against the snapshot, then apply them."""
    snap = sim.snapshot()
    decisions = scheduler.decide(snap)
    assert scheduler.decide(snap) == decisions, "decide must be pure"
    runs = [d for d in decisions if isinstance(d, Start | Promote)]
    assert len(runs) <= snap.free_slots
    touched = [d.trial_id for d in decisions if isinstance(d, Promote | Stop | Complete)]
    assert len(touched) == len(set(touched)), "one decision per trial"
    for d in decisions:
        if isinstance(d, Start):
            assert d.budget == scheduler.budget(d.rung)
            if not d.manual:
                assert_valid(SPACE, dict(d.params))
        elif isinstance(d, Promote):
            t = snap.trial(d.trial_id)
            assert not d.manual
            assert t.status == WAITING, f"promoted a {t.status} trial"
            assert d.rung == t.rung + 1 and d.budget == scheduler.budget(d.rung)
            assert t.finite(t.rung), "NaN / inf must never be promoted"
        elif isinstance(d, Stop | Complete):
            t = snap.trial(d.trial_id)
            assert t.status in (WAITING, PAUSED), f"{type(d).__name__} for a {t.status} trial"
    sim.apply(decisions)


def check_quota(sim: Simulator, scheduler: Scheduler) -> None:
    """Rule promotions out of a rung never exceed floor(n / eta), n = trials that entered it."""
    by_bracket: dict[int, list[Any]] = {}
    for t in sim.trials.values():
        by_bracket.setdefault(t.bracket, []).append(t)
    for trials in by_bracket.values():
        for j in range(scheduler.top_rung):
            # A trial entered every rung from the one it started at up to where it is now.
            entered = [t for t in trials if min([*t.results, t.rung]) <= j <= t.rung]
            by_rule = [t for t in entered if t.rung > j and (j + 1) not in t.manual_promotions]
            assert len(by_rule) <= len(entered) // scheduler.eta, (j, len(by_rule), len(entered))


OPS = st.lists(st.tuples(st.sampled_from(["advance"] * 6 + ["kill", "pause", "resume", "promote", "enqueue"]),
                         st.integers(0, 10_000)), min_size=20, max_size=60)  # fmt: skip


@settings(FAST, max_examples=30)
@given(ops=OPS, seed=st.integers(0, 1000), workers=st.integers(1, 5))
def test_scheduler_contract_under_random_steering(
    scheduler_name: str, ops: list[tuple[str, int]], seed: int, workers: int
) -> None:
    scheduler = make(scheduler_name, seed)
    sim = Simulator(scheduler, objective(seed), workers=workers, max_trials=40)
    finished: dict[int, str] = {}
    for op, pick in ops:
        check_decisions(sim, scheduler)
        if scheduler_name in RULE_QUOTA:
            check_quota(sim, scheduler)
        # Nothing the scheduler did may have revived or re-cut a finished trial.
        for tid, status in finished.items():
            assert sim.trials[tid].status == status, (
                f"trial {tid} went {status} -> {sim.trials[tid].status}"
            )
        manual_target = None
        trials = sorted(sim.trials.values(), key=lambda t: t.id)
        if op == "advance":
            sim.advance()
        elif op == "enqueue":
            sim.enqueue({"x": (pick % 100) / 100, "k": "a"})
        elif trials:
            t = trials[pick % len(trials)]
            if op == "kill" and t.status not in FINISHED:
                sim.kill(t.id)
            elif op == "pause" and t.status in (RUNNING, WAITING):
                sim.pause(t.id)
            elif op == "resume" and t.status == PAUSED:
                sim.resume(t.id)
            elif op == "promote" and t.status in (WAITING, STOPPED, COMPLETED) and t.finite():
                sim.promote_by_hand(t.id)
                manual_target = t.id
        finished = {t.id: t.status for t in sim.trials.values() if t.status in FINISHED}
        if manual_target is not None:
            finished.pop(manual_target, None)
