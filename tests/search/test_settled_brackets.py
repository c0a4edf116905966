"""A snapshot that gives finished brackets by their size decides exactly as the full one.

The app leaves settled brackets out of a sha / Hyperband turn (``SweepSnapshot.settled``)
so a turn at 10,000 trials reads only the brackets still running. These tests drive whole
sweeps through the pure engine — kills, failures, pauses, NaN results, manual promotions
and extensions, enqueued configs, a trial finished without its result — and compare the
two snapshots' decisions at every turn.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from sweeps.search import (
    Complete,
    Finish,
    Promote,
    Start,
    Stop,
    SweepSnapshot,
    TrialSnapshot,
    Wait,
    build_sampler,
    build_scheduler,
    parse_space,
)
from sweeps.search.decisions import (
    COMPLETED,
    FAILED,
    FINISHED,
    KILLED,
    PAUSED,
    PENDING,
    RUNNING,
    STOPPED,
    TERMINAL,
    WAITING,
    SettledBracket,
)
from sweeps.search.samplers import History, Proposal, Sampler, history_from_snapshot
from sweeps.search.schedulers import Scheduler

SPEC: dict[str, Any] = {
    "lr": {"type": "float", "low": 0.01, "high": 0.5, "step": 0.01},
    "width": {"type": "int", "low": 8, "high": 64, "step": 8},
}


@dataclass
class _Trial:
    id: int
    params: dict[str, Any]
    status: str
    bracket: int
    rung: int
    manual: bool = False
    results: dict[int, float] = field(default_factory=dict)
    errors: dict[int, float] = field(default_factory=dict)
    manual_promotions: set[int] = field(default_factory=set)

    def finite(self, rung: int) -> bool:
        return rung in self.results and math.isfinite(self.results[rung])

    def frozen(self) -> TrialSnapshot:
        return TrialSnapshot(
            id=self.id, params=self.params, status=self.status, bracket=self.bracket,
            rung=self.rung, results=self.results, errors=self.errors,
            manual_promotions=frozenset(self.manual_promotions), manual=self.manual,
        )  # fmt: skip


def full_snapshot(
    trials: dict[int, _Trial], queued: list[dict[str, Any]], concurrency: int, cap: int
) -> SweepSnapshot:
    busy = sum(t.status in (PENDING, RUNNING) for t in trials.values())
    return SweepSnapshot(
        trials=tuple(t.frozen() for t in trials.values()),
        free_slots=max(0, concurrency - busy),
        max_trials=cap,
        queued_configs=tuple(queued),
    )


def settled_snapshot(full: SweepSnapshot) -> SweepSnapshot:
    """``full`` with every settled bracket given by its size (what the app reads)."""
    by_bracket: dict[int, list[TrialSnapshot]] = {}
    for t in full.trials:
        by_bracket.setdefault(t.bracket, []).append(t)
    settled = {
        b: SettledBracket(len(ts), sum(not t.manual for t in ts))
        for b, ts in by_bracket.items()
        if all(t.status in FINISHED and (t.status in TERMINAL or t.rung in t.results) for t in ts)
    }
    return SweepSnapshot(
        trials=tuple(t for t in full.trials if t.bracket not in settled),
        free_slots=full.free_slots,
        max_trials=full.max_trials,
        queued_configs=full.queued_configs,
        settled=settled,
    )


def _scheduler(config: dict[str, Any], sampler: str = "random") -> Scheduler:
    space = parse_space(SPEC)
    return build_scheduler(config, space, build_sampler({"name": sampler}, space, seed=3), seed=3)


SCHEDULERS = [
    {"name": "sha", "min_resource": 1, "max_resource": 27, "eta": 3},
    {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3, "keep_ties": True},
    {"name": "hyperband", "min_resource": 1, "max_resource": 27, "eta": 3},
    {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3, "keep_ties": True},
]


@pytest.mark.parametrize("sampler", ["random", "grid"])
@pytest.mark.parametrize("config", SCHEDULERS, ids=lambda c: f"{c['name']}-{c['max_resource']}")
@pytest.mark.parametrize("seed", [0, 1])
def test_a_sweep_decides_the_same_with_its_settled_brackets_left_out(
    config: dict[str, Any], sampler: str, seed: int
) -> None:
    scheduler = _scheduler(config, sampler)
    assert scheduler.accepts_settled()
    rng = random.Random(seed)
    trials: dict[int, _Trial] = {}
    queued: list[dict[str, Any]] = []
    concurrency, cap = 6, 160
    seen_settled = seen_wait = seen_stop = 0
    for _turn in range(600):
        full = full_snapshot(trials, queued, concurrency, cap)
        fast = settled_snapshot(full)
        decisions = scheduler.decide(full)
        assert scheduler.decide(fast) == decisions
        assert (fast.n_trials, fast.n_proposed) == (len(full.trials), full.n_proposed)
        seen_settled += bool(fast.settled)
        seen_wait += any(isinstance(d, Wait) for d in decisions)
        seen_stop += any(isinstance(d, Stop) for d in decisions)
        if any(isinstance(d, Finish) for d in decisions):
            break
        for d in decisions:
            if isinstance(d, Stop):
                trials[d.trial_id].status = STOPPED
            elif isinstance(d, Complete):
                trials[d.trial_id].status = COMPLETED
            elif isinstance(d, Promote):
                trials[d.trial_id].status, trials[d.trial_id].rung = PENDING, d.rung
            elif isinstance(d, Start):
                if d.manual:
                    queued.pop(0)
                new = _Trial(len(trials) + 1, dict(d.params), PENDING, d.bracket, d.rung, d.manual)
                trials[new.id] = new
        _events(rng, scheduler, trials, queued, concurrency)
    assert seen_settled > 20 and seen_wait and seen_stop


def _events(
    rng: random.Random,
    scheduler: Scheduler,
    trials: dict[int, _Trial],
    queued: list[dict[str, Any]],
    concurrency: int,
) -> None:
    """Between two turns: segments start and end, users steer."""
    for t in trials.values():
        if t.status == PENDING and rng.random() < 0.8:
            t.status = RUNNING
    running = [t for t in trials.values() if t.status == RUNNING]
    for t in rng.sample(running, k=min(len(running), rng.randint(1, concurrency))):
        roll = rng.random()
        if roll < 0.03:
            t.status = FAILED
            continue
        value = math.nan if roll < 0.08 else rng.random() / (t.rung + 1)
        t.results[t.rung] = value
        if rng.random() < 0.5:
            t.errors[t.rung] = rng.choice([0.01, 0.05, 0.2])
        t.status = WAITING
    active = [t for t in trials.values() if t.status in (PENDING, RUNNING, WAITING, PAUSED)]
    if active and rng.random() < 0.06:
        rng.choice(active).status = KILLED
    pausable = [t for t in trials.values() if t.status in (PENDING, RUNNING, WAITING)]
    if pausable and rng.random() < 0.05:
        rng.choice(pausable).status = PAUSED
    for t in trials.values():
        if t.status == PAUSED and rng.random() < 0.3:
            t.status = WAITING if t.rung in t.results else PENDING
    done = [t for t in trials.values() if t.status in (STOPPED, COMPLETED) and t.finite(t.rung)]
    if done and rng.random() < 0.08:  # a manual promotion, or an extension of a completed one
        t = rng.choice(done)
        promote = scheduler.manual_promotion(t.frozen())
        t.status, t.rung = PENDING, promote.rung
        t.manual_promotions.add(promote.rung)
    if rng.random() < 0.05:
        queued.append({"lr": round(rng.uniform(1e-3, 0.5), 4), "width": 8 * rng.randint(1, 8)})
    starting = [t for t in trials.values() if t.status == RUNNING and t.rung not in t.results]
    if starting and rng.random() < 0.02:
        # Finished without the result of its rung: the rule waits for it, settled or not.
        rng.choice(starting).status = rng.choice([STOPPED, COMPLETED])


def _finished_bracket(bracket: int, n: int, first_id: int) -> list[TrialSnapshot]:
    return [
        TrialSnapshot(id=first_id + i, params={"lr": 0.1, "width": 8}, status=STOPPED,
                      bracket=bracket, rung=0, results={0: 0.5 + i})
        for i in range(n)
    ]  # fmt: skip


def test_a_settled_bracket_short_of_configs_still_offers_its_places() -> None:
    scheduler = _scheduler({"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3})
    # Bracket 0 holds 7 of its 9 configs, all cut: its two places come before a new bracket.
    full = SweepSnapshot(trials=tuple(_finished_bracket(0, 7, 1)), free_slots=3)
    fast = settled_snapshot(full)
    assert fast.settled == {0: SettledBracket(7, 7)} and not fast.trials
    decisions = scheduler.decide(fast)
    assert decisions == scheduler.decide(full)
    assert [(d.bracket, d.rung) for d in decisions if isinstance(d, Start)] == [
        (0, 0), (0, 0), (1, 0)
    ]  # fmt: skip


def test_only_a_bracket_rule_with_an_index_sampler_takes_settled_brackets() -> None:
    settled = SweepSnapshot(settled={0: SettledBracket(9, 9)})
    asha = _scheduler({"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 3})
    median = _scheduler({"name": "median", "min_resource": 1, "max_resource": 9, "eta": 3})
    for scheduler in (asha, median):
        assert not scheduler.accepts_settled()
        with pytest.raises(ValueError, match="needs every trial"):
            scheduler.decide(settled)
    sha = _scheduler({"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3})
    sha.sampler = _ReadingSampler(sha.sampler.space)
    assert not sha.accepts_settled()
    with pytest.raises(ValueError, match="needs every trial"):
        sha.decide(settled)
    with pytest.raises(ValueError, match="needs every trial"):
        history_from_snapshot(settled)


def test_a_settled_bracket_is_given_by_its_size_alone() -> None:
    with pytest.raises(ValueError, match="settled: a settled bracket"):
        SweepSnapshot(trials=tuple(_finished_bracket(0, 2, 1)), settled={0: SettledBracket(3, 3)})
    with pytest.raises(ValueError, match="proposed <= trials"):
        SettledBracket(2, 3)


class _ReadingSampler(Sampler):
    name = "reading"

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        return [Proposal({"lr": 0.1, "width": 8 * (len(history.observations) % 8 + 1)}, "x")] * n


@pytest.mark.parametrize("name", ["random", "sobol", "grid"])
def test_an_index_sampler_proposes_from_its_index_alone(name: str) -> None:
    """What ``reads_history = False`` promises: the rest of the history changes nothing."""
    space = parse_space(SPEC)
    sampler = build_sampler({"name": name}, space, seed=5)
    assert not sampler.reads_history
    done = _finished_bracket(0, 6, 1)
    full = history_from_snapshot(SweepSnapshot(trials=tuple(done)), top_rung=2)
    assert sampler.propose(full, 4) == sampler.propose(History(n_proposed=6, top_rung=2), 4)
