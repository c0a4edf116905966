"""Every status change goes along an allowed edge; every other one is refused on save."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps.models import Sweep, Trial
from sweeps.states import TRANSITIONS, InvalidTransition, SweepStatus, TrialStatus, check_transition

SWEEP_STATES = [s for s, _ in SweepStatus.CHOICES]
TRIAL_STATES = [s for s, _ in TrialStatus.CHOICES]


def pairs(kind: str, states: list[str], allowed: bool) -> list[tuple[str, str]]:
    return [
        (a, b) for a in states for b in states if a != b and (b in TRANSITIONS[kind][a]) == allowed
    ]


def test_every_state_has_an_entry() -> None:
    assert set(TRANSITIONS["sweep"]) == set(SWEEP_STATES)
    assert set(TRANSITIONS["trial"]) == set(TRIAL_STATES)


@pytest.mark.parametrize(("current", "target"), pairs("trial", TRIAL_STATES, allowed=False))
def test_forbidden_trial_transitions_raise(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition, match=f"from '{current}' to '{target}'"):
        check_transition("trial", current, target)


@pytest.mark.parametrize(("current", "target"), pairs("sweep", SWEEP_STATES, allowed=False))
def test_forbidden_sweep_transitions_raise(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition, match=f"from '{current}' to '{target}'"):
        check_transition("sweep", current, target)


def test_terminal_states_allow_nothing() -> None:
    for state in TrialStatus.TERMINAL:
        assert TRANSITIONS["trial"][state] == frozenset()
    for state in SweepStatus.TERMINAL:
        assert TRANSITIONS["sweep"][state] == frozenset()


def test_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        check_transition("trial", TrialStatus.PENDING, "exploded")


@pytest.fixture
def sweep(user: Any) -> Sweep:
    return Sweep.objects.create(name="s", owner=user, trainer="toy", space={})


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), pairs("trial", TRIAL_STATES, allowed=False))
def test_model_save_enforces_trial_machine(sweep: Sweep, current: str, target: str) -> None:
    Trial.objects.create(sweep=sweep, number=1, params={}, status=current)
    trial = Trial.objects.get()
    trial.status = target
    with pytest.raises(InvalidTransition):
        trial.save()
    assert Trial.objects.get().status == current


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), pairs("trial", TRIAL_STATES, allowed=True))
def test_model_save_allows_trial_edges(sweep: Sweep, current: str, target: str) -> None:
    Trial.objects.create(sweep=sweep, number=1, params={}, status=current)
    trial = Trial.objects.get()
    trial.status = target
    trial.save()
    assert Trial.objects.get().status == target


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), pairs("sweep", SWEEP_STATES, allowed=False))
def test_model_save_enforces_sweep_machine(user: Any, current: str, target: str) -> None:
    Sweep.objects.create(name="s", owner=user, trainer="toy", space={}, status=current)
    sweep = Sweep.objects.get()
    sweep.status = target
    with pytest.raises(InvalidTransition):
        sweep.save()
    assert Sweep.objects.get().status == current


@pytest.mark.django_db
def test_a_saved_object_is_checked_from_its_new_status(sweep: Sweep) -> None:
    trial = Trial.objects.create(sweep=sweep, number=1, params={})
    trial.status = TrialStatus.RUNNING
    trial.save()
    trial.status = TrialStatus.PENDING  # running -> pending (re-queue) is allowed
    trial.save()
    trial.status = TrialStatus.WAITING  # pending -> waiting is not
    with pytest.raises(InvalidTransition):
        trial.save()
