"""``keep_ties``: a trial is cut only when it is clearly behind (the science fair)."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps.search import build_sampler, build_scheduler
from sweeps.search.decisions import WAITING, Promote, Stop, SweepSnapshot
from sweeps.search.space import SpaceError, parse_space

from .conftest import trial

SPACE = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})


def make(name: str, **cfg: Any) -> Any:
    config = {"name": name, "min_resource": 1, "max_resource": 9, "eta": 3, **cfg}
    return build_scheduler(config, SPACE, build_sampler({"name": "random"}, SPACE, 0))


def rung0(se: dict[int, float]) -> SweepSnapshot:
    """Nine trials that finished rung 0 with results 0.1, 0.2, ... and the given errors."""
    trials = tuple(
        trial(i, WAITING, 0, {0: i / 10}, errors={0: se[i]} if i in se else {})
        for i in range(1, 10)
    )
    return SweepSnapshot(trials, free_slots=9, max_trials=9)


def promoted(decisions: list[Any]) -> dict[int, bool]:
    return {d.trial_id: d.tie for d in decisions if isinstance(d, Promote)}


@pytest.mark.parametrize("name", ["sha", "asha"])
def test_trials_within_noise_of_the_last_kept_go_on_as_ties(name: str) -> None:
    # 3 go on by the rule; trial 4 (0.4 ± 0.04) overlaps trial 3 (0.3 ± 0.03), trial 5 not.
    errors = {i: 0.03 for i in range(1, 10)} | {4: 0.04}
    decisions = make(name, keep_ties=True).decide(rung0(errors))
    assert promoted(decisions) == {1: False, 2: False, 3: False, 4: True}
    if name == "sha":
        assert [d.trial_id for d in decisions if isinstance(d, Stop)] == [5, 6, 7, 8, 9]


def test_ties_are_bounded_to_half_as_many_again() -> None:
    errors = {i: 0.5 for i in range(1, 10)}  # everyone overlaps everyone
    decisions = make("sha", keep_ties=True).decide(rung0(errors))
    assert promoted(decisions) == {1: False, 2: False, 3: False, 4: True}  # max(1, 3 // 2)


def test_without_the_option_or_without_errors_the_rule_is_plain() -> None:
    errors = {i: 0.5 for i in range(1, 10)}
    assert promoted(make("sha").decide(rung0(errors))) == {1: False, 2: False, 3: False}
    assert promoted(make("sha", keep_ties=True).decide(rung0({}))) == {
        1: False, 2: False, 3: False,
    }  # fmt: skip


def test_the_option_is_checked() -> None:
    with pytest.raises(SpaceError) as exc:
        make("sha", keep_ties="yes")
    assert exc.value.errors == {"scheduler.keep_ties": "must be true or false, got 'yes'"}
    with pytest.raises(SpaceError) as exc:
        make("median", keep_ties=True)
    assert "scheduler.keep_ties" in exc.value.errors
