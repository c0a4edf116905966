"""Hyperband's brackets and the resource ladder (the lecture notes' table is the test vector)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeps.search import (
    build_sampler,
    build_scheduler,
    hyperband_brackets,
    parse_space,
    resource_ladder,
    rung_budgets,
)
from sweeps.search.simulate import Simulator

from .strategies import FAST

# Copied from seeds/lecture-optimization-and-hpo.txt ("Hyper-band: successive elimination
# with searching over n"): (n_i, r_i) per bracket, R=81, eta=3.
LECTURE_TABLE = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(27, 3), (9, 9), (3, 27), (1, 81)],
    2: [(9, 9), (3, 27), (1, 81)],
    1: [(6, 27), (2, 81)],
    0: [(5, 81)],
}


def test_brackets_reproduce_the_lecture_table_exactly() -> None:
    ladder = resource_ladder(1, 81, 3)
    assert ladder == (1, 3, 9, 27, 81)
    table = {
        b.s: [(n, ladder[b.entry_rung + i]) for i, n in enumerate(b.sizes)]
        for b in hyperband_brackets(4, 3)
    }
    assert table == LECTURE_TABLE
    # "Total number of epochs: 5x81=405" per bracket is the budget B that sizes them.
    assert [b.s for b in hyperband_brackets(4, 3)] == [4, 3, 2, 1, 0]


def test_a_simulated_sweep_runs_the_table() -> None:
    space = parse_space({"x": {"type": "float", "low": 0, "high": 1}})
    scheduler = build_scheduler(
        {"name": "hyperband", "min_resource": 1, "max_resource": 81, "eta": 3},
        space,
        build_sampler({"name": "random"}, space, 0),
    )
    sim = Simulator(
        scheduler, lambda x, budget, tid: x["x"] + 1 / budget, workers=5, max_trials=128
    )
    sim.run()
    assert sim.finished
    reached: Counter[tuple[int, int]] = Counter()
    for t in sim.trials.values():
        for rung in range(scheduler.brackets[t.bracket].entry_rung, t.rung + 1):
            reached[(t.bracket, rung)] += 1
    for b, shape in enumerate(scheduler.brackets):
        got = [
            (reached[(b, shape.entry_rung + i)], scheduler.budget(shape.entry_rung + i))
            for i in range(shape.s + 1)
        ]
        assert got == LECTURE_TABLE[shape.s]
    assert sum(t.status == "completed" for t in sim.trials.values()) == 1 + 1 + 1 + 2 + 5


@FAST
@given(st.integers(0, 6), st.integers(2, 5))
def test_bracket_sizes_shrink_by_eta_at_every_rung(s_max: int, eta: int) -> None:
    brackets = hyperband_brackets(s_max, eta)
    assert [b.s for b in brackets] == list(range(s_max, -1, -1))
    for b in brackets:
        assert b.entry_rung == s_max - b.s and len(b.sizes) == b.s + 1
        assert b.n == ((s_max + 1) // (b.s + 1)) * eta**b.s
        assert all(b.sizes[i + 1] == b.sizes[i] // eta for i in range(b.s))
        assert b.sizes[-1] >= 1  # every bracket sends at least one config to the top


@FAST
@given(st.integers(1, 1000), st.integers(2, 5), st.integers(0, 6))
def test_ladder_tops_at_max_resource_and_grows_by_eta(low: int, eta: int, steps: int) -> None:
    high = low * eta**steps
    ladder = resource_ladder(low, high, eta)
    assert ladder[0] == low and ladder[-1] == high and len(ladder) == steps + 1
    assert all(b == a * eta for a, b in zip(ladder, ladder[1:], strict=False))


def test_ladder_for_ranges_that_are_not_powers_of_eta() -> None:
    assert resource_ladder(1, 100, 3) == (1, 4, 11, 33, 100)
    assert resource_ladder(0.5, 10.0, 2) == pytest.approx((0.625, 1.25, 2.5, 5.0, 10.0))
    assert rung_budgets({"name": "fifo", "max_resource": 30}) == (30.0,)
    assert rung_budgets({"name": "asha", "min_resource": 1, "max_resource": 27, "eta": 3}) == (
        1,
        3,
        9,
        27,
    )


def test_budget_above_the_top_keeps_growing_by_eta() -> None:
    space = parse_space({"x": {"type": "float", "low": 0, "high": 1}})
    scheduler = build_scheduler(
        {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3}, space
    )
    assert [scheduler.budget(r) for r in range(5)] == [1, 3, 9, 27, 81]
    with pytest.raises(ValueError, match="rung must be >= 0"):
        scheduler.budget(-1)
