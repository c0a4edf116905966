"""Steering semantics, one behaviour per test (documented in sweeps/search/schedulers)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sweeps.search import (
    COMPLETED,
    KILLED,
    PAUSED,
    RUNNING,
    STOPPED,
    WAITING,
    Complete,
    Finish,
    Promote,
    Scheduler,
    Start,
    Stop,
    SweepSnapshot,
    Wait,
    build_sampler,
    build_scheduler,
    parse_space,
)
from sweeps.search.simulate import Simulator

from .conftest import trial

SPACE = parse_space({"x": {"type": "float", "low": 0.0, "high": 1.0}})


def make(name: str, **cfg: Any) -> Scheduler:
    config = {"name": name, "min_resource": 1, "max_resource": 9, "eta": 3, **cfg}
    return build_scheduler(config, SPACE, build_sampler({"name": "random"}, SPACE, 0))


def by_x(params: Any, budget: float, tid: int) -> float:
    return float(params["x"])


def rung0_of_sha(workers: int = 9) -> Simulator:
    """SHA eta=3 up to 9: a bracket of 9 configs, all started, none reported yet."""
    sim = Simulator(make("sha"), by_x, workers=workers, max_trials=9)
    sim.decide()
    assert len(sim.trials) == 9
    return sim


def report(sim: Simulator, values: dict[int, float]) -> None:
    """Finish the given trials' current rung with these values."""
    for tid, value in values.items():
        t = sim.trials[tid]
        t.results[t.rung] = value
        t.status = WAITING


def kinds(decisions: list[Any]) -> list[tuple[str, int | None]]:
    return [(type(d).__name__, getattr(d, "trial_id", None)) for d in decisions]


# --- kill -------------------------------------------------------------------------------


def test_a_killed_trial_is_never_promoted_and_its_place_goes_to_the_next_best() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(1, 10)})  # trial 1 is the best
    sim.kill(1)
    decisions = sim.scheduler.decide(sim.snapshot())
    promoted = sorted(d.trial_id for d in decisions if isinstance(d, Promote))
    assert promoted == [2, 3, 4]  # floor(9 / 3) = 3 places, none for the killed trial
    assert sorted(d.trial_id for d in decisions if isinstance(d, Stop)) == [5, 6, 7, 8, 9]


def test_a_synchronous_rung_does_not_wait_for_a_killed_trial() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(2, 10)})
    sim.kill(1)  # killed while still running its rung
    decisions = sim.scheduler.decide(sim.snapshot())
    assert sorted(d.trial_id for d in decisions if isinstance(d, Promote)) == [2, 3, 4]


def test_killing_a_running_trial_frees_its_slot_for_a_new_config() -> None:
    sim = Simulator(make("asha"), by_x, workers=2)
    sim.decide()
    assert sim.snapshot().free_slots == 0
    sim.kill(1)
    decisions = sim.scheduler.decide(sim.snapshot())
    assert [type(d) for d in decisions] == [Start]
    assert sim.trials[1].status == KILLED


# --- manual promotion -------------------------------------------------------------------


def test_a_manual_promotion_skips_the_ranking_and_is_marked_manual() -> None:
    sim = rung0_of_sha()
    report(sim, {1: 0.9})  # the worst so far; the rung is not complete
    decision = sim.promote_by_hand(1)
    assert decision == Promote(1, 1, 3.0, manual=True)
    assert sim.trials[1].manual_promotions == {1}


def test_a_manual_promotion_does_not_take_a_place_from_the_rule() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(1, 10)})
    sim.promote_by_hand(9)  # the worst one, by hand
    decisions = sim.scheduler.decide(sim.snapshot())
    assert sorted(d.trial_id for d in decisions if isinstance(d, Promote)) == [1, 2, 3]
    # 9 trials entered rung 0, so the rule's quota is 3; the manual one is extra.
    assert sorted(d.trial_id for d in decisions if isinstance(d, Stop)) == [4, 5, 6, 7, 8]


def test_a_manually_promoted_best_trial_leaves_its_rule_place_to_the_next() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(1, 10)})
    sim.promote_by_hand(1)  # the best one, before the rule got to it
    decisions = sim.scheduler.decide(sim.snapshot())
    assert sorted(d.trial_id for d in decisions if isinstance(d, Promote)) == [2, 3, 4]


def test_a_stopped_trial_can_be_promoted_by_hand_and_then_competes() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(1, 10)})
    sim.apply(sim.scheduler.decide(sim.snapshot()))
    assert sim.trials[5].status == STOPPED
    sim.promote_by_hand(5)
    assert sim.trials[5].status == RUNNING and sim.trials[5].rung == 1
    report(sim, {1: 0.9, 2: 0.8, 3: 0.7, 5: 0.1})  # rung 1: 4 entered, the manual one wins
    decisions = sim.scheduler.decide(sim.snapshot())
    assert [d.trial_id for d in decisions if isinstance(d, Promote)] == [5]  # floor(4 / 3) = 1


@pytest.mark.parametrize("status", [KILLED, "failed", "diverged", RUNNING, "pending", PAUSED])
def test_only_a_trial_that_finished_its_rung_can_be_promoted_by_hand(status: str) -> None:
    with pytest.raises(ValueError, match=f"trial 1 is {status}"):
        make("asha").manual_promotion(trial(1, status, 0, {0: 0.5}))


def test_a_non_finite_result_is_not_promoted_even_by_hand() -> None:
    with pytest.raises(ValueError, match="NaN / inf results are never promoted"):
        make("asha").manual_promotion(trial(1, WAITING, 0, {0: math.nan}))


# --- budget extension -------------------------------------------------------------------


def test_extending_a_completed_trial_adds_a_rung_above_the_top() -> None:
    sim = Simulator(make("fifo", max_resource=9), by_x, workers=1, max_trials=1)
    sim.run()
    assert sim.trials[1].status == COMPLETED and sim.finished
    decision = sim.promote_by_hand(1)
    assert decision == Promote(1, 1, 27.0, manual=True)  # 9 x eta
    sim.finished = False
    sim.run()
    t = sim.trials[1]
    assert t.status == COMPLETED and set(t.results) == {0, 1} and t.trained == 27.0
    assert isinstance(sim.decisions[-1], Finish)


def test_a_trial_extended_beyond_the_top_completes_rather_than_competes() -> None:
    scheduler = make("asha")
    snapshot = SweepSnapshot(
        (trial(1, WAITING, 3, {0: 0.5, 1: 0.4, 2: 0.3, 3: 0.2}, manual_promotions=frozenset({3})),),
        free_slots=0,
        max_trials=1,
    )
    assert scheduler.decide(snapshot) == [
        Complete(1),
        Finish("every trial is finished and no new trial can start"),
    ]


# --- pause / resume -------------------------------------------------------------------------


def test_a_paused_trial_keeps_its_place_and_the_rung_waits_for_it() -> None:
    sim = rung0_of_sha()
    sim.pause(1)  # paused mid-rung
    report(sim, {tid: tid / 10 for tid in range(2, 10)})
    decisions = sim.scheduler.decide(sim.snapshot())
    assert not any(isinstance(d, Promote | Stop) for d in decisions)
    (wait,) = decisions
    assert isinstance(wait, Wait) and "1 paused" in wait.reason
    sim.resume(1)
    assert sim.trials[1].status == RUNNING and sim.trials[1].rung == 0
    report(sim, {1: 0.05})  # resumed, it finishes its rung and comes out best
    decisions = sim.scheduler.decide(sim.snapshot())
    assert sorted(d.trial_id for d in decisions if isinstance(d, Promote)) == [1, 2, 3]


def test_a_paused_winner_keeps_its_place_until_resumed() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(1, 10)})
    sim.pause(1)  # paused after reporting the best result
    decisions = sim.scheduler.decide(sim.snapshot())
    assert sorted(d.trial_id for d in decisions if isinstance(d, Promote)) == [2, 3]  # not 4
    assert 1 not in [getattr(d, "trial_id", None) for d in decisions]
    sim.apply(decisions)
    sim.resume(1)
    decisions = sim.scheduler.decide(sim.snapshot())
    assert [d.trial_id for d in decisions if isinstance(d, Promote)] == [1]


def test_asha_does_not_promote_a_paused_trial_nor_give_its_place_away() -> None:
    snapshot = SweepSnapshot(
        tuple(trial(i, WAITING, 0, {0: i / 10}) for i in range(2, 4))
        + (trial(1, PAUSED, 0, {0: 0.01}),),
        free_slots=2,
        max_trials=3,
    )
    decisions = make("asha").decide(snapshot)
    assert not any(isinstance(d, Promote) for d in decisions)  # top 1 of 3 is the paused one


# --- enqueued configs -----------------------------------------------------------------------


def test_an_enqueued_config_is_started_next_even_before_promotions() -> None:
    sim = rung0_of_sha(workers=9)
    report(sim, {tid: tid / 10 for tid in range(1, 10)})
    sim.enqueue({"x": 0.5})
    snapshot = sim.snapshot()
    decisions = sim.scheduler.decide(
        SweepSnapshot(snapshot.trials, 1, snapshot.max_trials, snapshot.queued_configs)
    )
    starts = [d for d in decisions if isinstance(d, Start)]
    assert starts == [Start({"x": 0.5}, 1, 0, 1.0, manual=True, source="manual")]
    assert not any(
        isinstance(d, Promote) for d in decisions
    )  # one slot, and it went to the user's config


def test_enqueued_configs_start_in_order_even_past_max_trials() -> None:
    sim = Simulator(make("asha"), by_x, workers=3, max_trials=1)
    sim.decide()
    sim.enqueue({"x": 0.25})
    sim.enqueue({"x": 0.75})
    decisions = sim.decide()
    assert [(d.params, d.manual) for d in decisions if isinstance(d, Start)] == [
        ({"x": 0.25}, True),
        ({"x": 0.75}, True),
    ]
    assert len(sim.trials) == 3 and sim.queued == []


# --- NaN / inf, waiting and finishing ------------------------------------------------------------


@pytest.mark.parametrize("name", ["sha", "hyperband", "asha", "median"])
def test_non_finite_results_are_stopped_never_promoted(name: str) -> None:
    trials = tuple(
        trial(i, WAITING, 0, {0: v}) for i, v in enumerate([math.nan, math.inf, -math.inf], 1)
    )
    decisions = make(name).decide(SweepSnapshot(trials, free_slots=3, max_trials=3))
    assert [d.trial_id for d in decisions if isinstance(d, Stop)] == [1, 2, 3]
    assert not any(isinstance(d, Promote) for d in decisions)


def test_starts_and_promotions_never_exceed_free_slots() -> None:
    sim = rung0_of_sha()
    report(sim, {tid: tid / 10 for tid in range(1, 10)})
    snapshot = sim.snapshot()
    decisions = sim.scheduler.decide(SweepSnapshot(snapshot.trials, 2, snapshot.max_trials))
    assert kinds(decisions).count(("Promote", 1)) == 1
    assert sum(isinstance(d, Promote | Start) for d in decisions) == 2


def test_wait_says_why_and_finish_ends_the_sweep() -> None:
    scheduler = make("fifo", max_resource=9)
    running = SweepSnapshot((trial(1, RUNNING),), free_slots=1, max_trials=1)
    assert scheduler.decide(running) == [Wait("waiting for results (1 running, 0 paused)")]
    done = SweepSnapshot((trial(1, WAITING, 0, {0: 0.3}),), free_slots=2, max_trials=1)
    assert scheduler.decide(done) == [
        Complete(1),
        Finish("every trial is finished and no new trial can start"),
    ]


def test_asha_stops_the_unpromoted_when_no_more_configs_can_start() -> None:
    sim = Simulator(make("asha"), by_x, workers=2, max_trials=9)
    sim.run()
    assert sim.finished
    statuses = {t.status for t in sim.trials.values()}
    assert statuses <= {STOPPED, COMPLETED}
    assert sum(t.status == COMPLETED for t in sim.trials.values()) >= 1
