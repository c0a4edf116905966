"""The search-quality benchmark's Rungs side: objectives' optima, lr_trap's misleading low
budgets, the budget accounting of the simulated runs, and determinism. The peers (Optuna,
DEHB, Syne Tune) are not installed in CI and are not exercised here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.objectives import LR_TRAP, PROBLEMS, Problem, R
from bench.search_peers import Job, run_async
from bench.search_quality import run_rungs, spearman_low_vs_full
from sweeps.search import build_sampler, parse_space
from sweeps.search.samplers.base import History


def sample(problem: Problem, n: int, seed: int = 1) -> list[dict]:
    sampler = build_sampler({"name": "random"}, parse_space(problem.space), seed)
    return [p.params for p in sampler.propose(History(), n)]


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_f_star_is_the_minimum(name: str) -> None:
    problem = PROBLEMS[name]
    assert problem.f(problem.x_star) == pytest.approx(problem.f_star, abs=1e-5)
    values = np.array([problem.f(x) for x in sample(problem, 3000)])
    assert values.min() >= problem.f_star - 1e-9
    # Nor does a small step away from x_star along any float parameter.
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = dict(problem.x_star)
        for k, spec in problem.space.items():
            if spec["type"] == "float":
                span = spec["high"] - spec["low"]
                x[k] = float(np.clip(x[k] + rng.normal() * 0.01 * span, spec["low"], spec["high"]))
        assert problem.f(x) >= problem.f_star - 1e-9


def test_values_are_deterministic_and_noisier_at_low_budgets() -> None:
    for problem in PROBLEMS.values():
        x = sample(problem, 1)[0]
        assert problem.value(x, 3, 7, 5) == problem.value(x, 3, 7, 5)
        low = np.std([problem.value(x, 1, t, 0) for t in range(200)])
        full = np.std([problem.value(x, R, t, 0) for t in range(200)])
        assert low > full


def test_lr_trap_low_budgets_favour_high_learning_rates() -> None:
    assert spearman_low_vs_full(LR_TRAP, 1, n=1000) < 0.3
    best = LR_TRAP.x_star
    high = {**best, "lr": best["lr"] * 30}
    for b in (1, 3, 9):
        assert LR_TRAP.mean(high, b) < LR_TRAP.mean(best, b) - 0.3
    assert LR_TRAP.f(high) > LR_TRAP.f(best) + 0.1
    # The full-budget optimum over the learning rate alone is a moderate one.
    lrs = np.logspace(-5, 0, 101)
    full = [LR_TRAP.f({**best, "lr": lr}) for lr in lrs]
    assert 1e-4 < lrs[int(np.argmin(full))] < 1e-2
    low = [LR_TRAP.mean({**best, "lr": lr}, 3) for lr in lrs]
    assert lrs[int(np.argmin(low))] > 1e-2


def test_a_result_arriving_exactly_at_the_budget_counts() -> None:
    # FIFO: four workers each train one config for R units; all four finish at once, when
    # 4 R units have been spent.
    problem = PROBLEMS["branin"]
    trace = run_rungs(problem, "random", "fifo", 0, 4 * R)
    assert [s for s, _ in trace] == [4 * R] * 4
    assert run_rungs(problem, "random", "fifo", 0, 4 * R - 1) == []


def test_the_peers_loop_counts_results_at_the_budget_too() -> None:
    problem = PROBLEMS["branin"]
    x = {"x1": 1.0, "x2": 2.0}
    started = []

    def ask() -> Job:
        started.append(1)
        return Job(x, len(started), 0.0, float(R))

    trace = run_async(problem, 0, 4 * R, ask, lambda job, value: None)
    assert [s for s, _ in trace] == [4 * R] * 4


def test_run_rungs_is_deterministic() -> None:
    # 30 units: about 30 results at rung 1 of the first bracket, most proposed by the GP.
    problem = PROBLEMS["mixed"]
    first = run_rungs(problem, "bayes", "hyperband", 3, 30)
    assert len(first) >= 25  # (4 workers: the last ones are still training)
    assert first == run_rungs(problem, "bayes", "hyperband", 3, 30)
    assert all(s <= 30 for s, _ in first)
    assert all(math.isfinite(r) and r >= 0 for _, r in first)
