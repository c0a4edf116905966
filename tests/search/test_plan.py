"""The dry run's rung table is what the schedulers run: the lecture's Hyperband table, and
for every scheduler the counts, totals and warnings checked against a simulated sweep."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sweeps.search import SpaceError, build_sampler, build_scheduler, parse_space
from sweeps.search.plan import MAX_LISTED_BRACKETS, plan_sweep
from sweeps.search.simulate import Simulator

from .test_hyperband import LECTURE_TABLE

SPACE = parse_space({"x": {"type": "float", "low": 0, "high": 1}})
R81 = {"name": "hyperband", "min_resource": 1, "max_resource": 81, "eta": 3}
R27 = {"name": "hyperband", "min_resource": 1, "max_resource": 27, "eta": 3}


def table(plan: Any) -> dict[int, list[tuple[int, float]]]:
    return {b.s: [(r.trials, r.budget) for r in b.rungs] for b in plan.brackets}


def test_hyperband_plan_is_the_lecture_table_exactly() -> None:
    plan = plan_sweep(R81, 81 + 27 + 9 + 6 + 5)
    assert table(plan) == LECTURE_TABLE
    assert [b.bracket for b in plan.brackets] == [0, 1, 2, 3, 4]
    assert [b.entry_rung for b in plan.brackets] == [0, 1, 2, 3, 4]
    assert plan.full_budget_trials == 1 + 1 + 1 + 2 + 5
    # The lecture's "Total number of epochs: 5x81=405" per bracket counts trials x budget.
    assert plan.total_budget_without_resume == sum(
        n * r for rows in LECTURE_TABLE.values() for n, r in rows
    )
    assert plan.warnings == ()
    assert plan.exact is True


def test_plan_json_keeps_the_contract_shape() -> None:
    data = plan_sweep(R81, 100, unit="steps").to_json()
    assert data["scheduler"] == "hyperband" and data["unit"] == "steps"
    assert data["max_trials"] == 100 and data["trials"] == 100
    first = data["brackets"][0]
    assert first["bracket"] == 0
    assert first["rungs"][0] == {"rung": 0, "trials": 81, "budget": 1.0}
    assert isinstance(data["total_budget"], float)
    assert isinstance(data["full_budget_trials"], int)
    assert "steps" in data["text"] and "\n" not in data["text"]


def simulate(config: dict[str, Any], max_trials: int, workers: int = 4) -> Simulator:
    scheduler = build_scheduler(config, SPACE, build_sampler({"name": "random"}, SPACE, 3))
    sim = Simulator(
        scheduler,
        lambda p, budget, tid: p["x"] + 1 / budget,
        workers=workers,
        max_trials=max_trials,
    )
    sim.run()
    assert sim.finished
    return sim


CASES = [
    (R81, 128),  # one full cycle
    (R81, 100),  # the second bracket left with 19 of 27
    (R81, 300),  # more than a cycle: brackets repeat
    (R27, 25),  # the first bracket cannot fill
    ({"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3}, 31),
    ({"name": "sha", "min_resource": 2, "max_resource": 16, "eta": 2}, 8),
    ({"name": "hyperband", "min_resource": 1, "max_resource": 16, "eta": 2}, 57),
]


@pytest.mark.parametrize(("config", "max_trials"), CASES)
def test_bracketed_plan_matches_a_simulated_sweep(config: dict[str, Any], max_trials: int) -> None:
    plan = plan_sweep(config, max_trials)
    sim = simulate(config, max_trials)
    reached: Counter[tuple[int, int]] = Counter()
    for t in sim.trials.values():
        for rung in t.results:
            reached[(t.bracket, rung)] += 1
    planned = {(b.bracket, r.rung): r.trials for b in plan.brackets for r in b.rungs}
    assert {key: reached[key] for key in planned} == planned
    assert sum(reached.values()) == sum(planned.values())  # no rung outside the plan
    assert plan.brackets_total == len({t.bracket for t in sim.trials.values()})
    completed = sum(t.status == "completed" for t in sim.trials.values())
    assert completed == plan.full_budget_trials
    assert sim.spent == pytest.approx(plan.total_budget)
    assert len(sim.trials) == plan.trials == max_trials


def test_too_few_trials_for_the_first_bracket_warns_and_none_reach_the_full_budget() -> None:
    plan = plan_sweep(R27, 25)
    [warning] = plan.warnings
    assert "max_trials is 25" in warning and "needs 27 trials" in warning
    assert "no trial would reach the full budget of 27 epochs" in warning
    assert plan.full_budget_trials == 0
    assert [(r.trials, r.budget) for r in plan.brackets[0].rungs] == [
        (25, 1),
        (8, 3),
        (2, 9),
        (0, 27),
    ]
    # What the sweep really does: it ends without one trial trained to 27 epochs.
    sim = simulate(R27, 25)
    assert not any(t.status == "completed" for t in sim.trials.values())
    assert max(t.rung for t in sim.trials.values()) == 2
    assert plan_sweep(R27, 27).warnings == ()


def test_a_partial_last_bracket_that_reaches_nothing_is_named() -> None:
    [warning] = plan_sweep(R81, 100).warnings
    assert "bracket 1 with 19 of its 27 trials" in warning
    assert "max_trials 108 fills it" in warning
    # A partial last bracket that still sends a trial to the top is no waste: no warning.
    assert plan_sweep(R81, 81 + 9 + 9 + 9).warnings == ()


def test_asha_counts_are_not_fixed_but_its_totals_hold_when_every_trial_reports() -> None:
    config = {"name": "asha", "min_resource": 1, "max_resource": 27, "eta": 3}
    plan = plan_sweep(config, 60)
    assert plan.exact is False
    [bracket] = plan.brackets
    assert [(r.rung, r.trials, r.budget) for r in bracket.rungs] == [
        (0, None, 1),
        (1, None, 3),
        (2, None, 9),
        (3, None, 27),
    ]
    sim = simulate(config, 60)
    assert sum(t.status == "completed" for t in sim.trials.values()) == plan.full_budget_trials
    assert sim.spent == pytest.approx(plan.total_budget)
    assert plan.warnings == ()
    [warning] = plan_sweep(config, 26).warnings
    assert "max_trials is 26" in warning and "at least 27 trials" in warning


def test_fifo_trains_every_trial_to_the_full_budget() -> None:
    plan = plan_sweep({"name": "fifo", "max_resource": 10}, 7, unit="steps")
    [bracket] = plan.brackets
    assert [(r.rung, r.trials, r.budget) for r in bracket.rungs] == [(0, 7, 10.0)]
    assert plan.total_budget == 70 and plan.full_budget_trials == 7 and plan.exact
    sim = simulate({"name": "fifo", "max_resource": 10}, 7)
    assert sim.spent == plan.total_budget


def test_median_gives_ceilings() -> None:
    config = {"name": "median", "min_resource": 1, "max_resource": 9, "eta": 3}
    plan = plan_sweep(config, 12)
    assert plan.exact is False and all(r.trials is None for r in plan.brackets[0].rungs)
    assert plan.total_budget == 12 * 9 and plan.full_budget_trials == 12
    sim = simulate(config, 12)
    assert sim.spent <= plan.total_budget
    assert "median" in plan.text.lower()


def test_a_small_grid_caps_the_trials_and_is_named_in_the_warning() -> None:
    plan = plan_sweep(R27, 100, capacity=12)
    assert plan.trials == 12 and plan.max_trials == 100
    [warning] = plan.warnings
    assert "the grid has only 12 configurations" in warning


def test_a_huge_sweep_lists_the_first_brackets_and_counts_them_all() -> None:
    config = {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3}
    plan = plan_sweep(config, 9 * 1000)
    assert plan.brackets_total == 1000 and len(plan.brackets) == MAX_LISTED_BRACKETS
    assert plan.full_budget_trials == 1000
    assert plan.total_budget == 1000 * (9 * 1 + 3 * 2 + 1 * 6)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"name": "nope"}, "scheduler.name"),
        ({"name": "hyperband", "min_resource": 1, "max_resource": 2, "eta": 3}, "scheduler.max_resource"),
        ({"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 1}, "scheduler.eta"),
    ],
)  # fmt: skip
def test_a_bad_scheduler_config_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(SpaceError) as caught:
        plan_sweep(config, 10)
    assert field in caught.value.errors


def test_keep_ties_makes_the_rule_s_counts_the_least() -> None:
    plan = plan_sweep({**R27, "keep_ties": True}, 27)
    assert plan.bound == "at least" and plan.exact is False
    assert table(plan)[3] == [(27, 1), (9, 3), (3, 9), (1, 27)]  # the rule's own counts
    assert "at least 1 reaches" in plan.text and "keep_ties" in plan.text
    [warning] = plan_sweep({**R27, "keep_ties": True}, 25).warnings
    assert "by the rule (only ties might)" in warning
    asha = plan_sweep({"name": "asha", "min_resource": 1, "max_resource": 9, "eta": 3,
                       "keep_ties": True}, 30)  # fmt: skip
    assert asha.bound == "about"
