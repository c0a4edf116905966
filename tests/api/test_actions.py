"""The action registry: allowed-from statuses come from TRANSITIONS, rows offer what the
services allow, and REST and the socket give the same error codes for the same mistake."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from dashboard import steering
from sweeps import actions
from sweeps.actions import RowContext, row_actions
from sweeps.models import Event, Sweep, Trial
from sweeps.states import TRANSITIONS, SweepStatus, TrialStatus
from tests.api.factories import make_sweep, make_trial
from tests.toy_action import CUT

pytestmark = pytest.mark.django_db


@pytest.fixture
def toy_action() -> Iterator[actions.Action]:
    """The toy "cut" action, registered for this test only."""
    with actions.registered(CUT) as action:
        yield action


# --- the table --------------------------------------------------------------------------------


def test_allowed_from_is_every_status_with_an_edge_into_the_target_status() -> None:
    for action in actions.REGISTRY.values():
        edges = TRANSITIONS[action.target]
        if action.into is None:
            assert action.allowed_from == {s for s, out in edges.items() if out}, action.name
        else:
            into = {s for s, out in edges.items() if action.into in out}
            assert action.allowed_from <= into, action.name
            if action.only is None:
                assert action.allowed_from == into, action.name
    by = actions.REGISTRY
    assert by["kill"].allowed_from == TrialStatus.ACTIVE
    assert by["pause"].allowed_from == {"pending", "running", "waiting"}
    assert by["cancel_sweep"].allowed_from == {"draft", "running", "paused"}
    assert by["update_sweep"].allowed_from == {"draft", "running", "paused", "completed"}


def test_an_action_cannot_be_allowed_from_a_status_without_the_edge() -> None:
    with pytest.raises(ValueError, match="must be within the statuses with an edge to 'paused'"):
        actions.Action("bad", "trial", print, "Bad", "", into=TrialStatus.PAUSED,
                       only=frozenset({TrialStatus.COMPLETED}))  # fmt: skip


def test_registering_a_name_twice_is_refused_and_the_toy_goes_away() -> None:
    with (
        actions.registered(CUT),
        pytest.raises(ValueError, match="already registered"),
        actions.registered(CUT),
    ):
        pass
    assert "cut" not in actions.REGISTRY


LIVE = RowContext(SweepStatus.RUNNING, 2)


def _trial(**fields: Any) -> dict[str, Any]:
    return {"status": "running", "rung": 0, "resource_done": 0, "has_checkpoint": False, **fields}


def test_a_finished_sweep_offers_no_pause_resume_or_cancel() -> None:
    assert row_actions("sweep", {"status": "completed"}) == ["update_sweep", "enqueue"]
    assert row_actions("sweep", {"status": "cancelled"}) == []
    assert row_actions("sweep", {"status": "running"}) == [
        "pause_sweep", "cancel_sweep", "update_sweep", "enqueue"
    ]  # fmt: skip
    assert row_actions("sweep", {"status": "paused"})[:2] == ["resume_sweep", "cancel_sweep"]


def test_a_trial_whose_checkpoint_is_gone_offers_no_promote_or_extend() -> None:
    gone = {"resource_done": 3.0, "has_checkpoint": False}
    assert row_actions("trial", _trial(status="stopped", **gone), LIVE) == []
    assert row_actions("trial", _trial(status="completed", rung=2, **gone), LIVE) == []
    kept = {"resource_done": 3.0, "has_checkpoint": True}
    assert row_actions("trial", _trial(status="stopped", **kept), LIVE) == ["promote"]
    assert row_actions("trial", _trial(status="completed", rung=2, **kept), LIVE) == ["extend"]
    # A trial that never trained needs no checkpoint.
    assert row_actions("trial", _trial(status="waiting"), LIVE) == ["kill", "pause", "promote"]


def test_promote_stops_at_the_top_rung_and_nothing_steers_a_cancelled_sweeps_trials() -> None:
    top = _trial(status="waiting", rung=2, has_checkpoint=True, resource_done=9)
    assert row_actions("trial", top, LIVE) == ["kill", "pause"]
    cancelled = RowContext(SweepStatus.CANCELLED, 2)
    assert row_actions("trial", _trial(), cancelled) == []


def test_rows_and_api_objects_carry_their_actions(
    owner: Any, client_for: Callable[[Any], APIClient]
) -> None:
    sweep = make_sweep(owner, status="completed")
    t = make_trial(sweep, 1, status="completed", rung=2, resource_done=9, checkpoint="")
    api = client_for(owner)
    assert api.get(f"/api/sweeps/{sweep.pk}/").json()["actions"] == ["update_sweep", "enqueue"]
    assert api.get(f"/api/trials/{t.pk}/").json()["actions"] == []
    Trial.objects.filter(pk=t.pk).update(checkpoint="/ckpt/1")
    trials = api.get(f"/api/sweeps/{sweep.pk}/trials/").json()["results"]
    assert trials[0]["actions"] == ["extend"]
    from sweeps import queries

    assert queries.trial_rows(sweep)[0]["actions"] == ["extend"]
    assert queries.sweep_summary(sweep)["actions"] == ["update_sweep", "enqueue"]


# --- one new action, registered alone ----------------------------------------------------------


def test_a_registered_action_is_served_by_rest_documented_and_accepted_by_the_socket(
    owner: Any, client_for: Callable[[Any], APIClient], toy_action: actions.Action
) -> None:
    sweep = make_sweep(owner)
    waiting = make_trial(sweep, 1, status="waiting")
    running = make_trial(sweep, 2, status="running")
    api = client_for(owner)

    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/trials/{id}/cut/"]["post"]
    assert operation["summary"] == "Cut a waiting trial by hand"
    assert "Cut" in json.dumps(operation["requestBody"])
    assert schema["components"]["schemas"]["Cut"]["properties"]["note"]["maxLength"] == 40

    assert api.get(f"/api/trials/{waiting.pk}/").json()["actions"][-1] == "cut"
    assert "cut" not in api.get(f"/api/trials/{running.pk}/").json()["actions"]
    response = api.post(f"/api/trials/{waiting.pk}/cut/", {"note": "enough"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "stopped"
    assert Event.objects.filter(kind="cut", message="trial 1 cut: enough").exists()
    bad = api.post(f"/api/trials/{running.pk}/cut/", {"note": "x" * 41}, format="json")
    assert bad.status_code == 400 and "note" in bad.json()["errors"]

    reply = steering.handle(owner, sweep.pk, json.dumps({"action": "cut", "trial": running.pk}))
    assert reply["code"] == 409 and "status" in reply["errors"]
    Trial.objects.filter(pk=running.pk).update(status="waiting")
    reply = steering.handle(owner, sweep.pk, json.dumps({"action": "cut", "trial": running.pk}))
    assert reply["ok"] and reply["trial"]["status"] == "stopped"
    assert reply["trial"]["actions"] == ["promote"]


def test_an_action_not_registered_is_not_served(
    owner: Any, client_for: Callable[[Any], APIClient]
) -> None:
    sweep = make_sweep(owner)
    trial = make_trial(sweep, 1, status="waiting")
    api = client_for(owner)
    assert api.post(f"/api/trials/{trial.pk}/cut/").status_code == 404
    assert "/api/trials/{id}/cut/" not in api.get("/api/schema/?format=json").json()["paths"]
    reply = steering.handle(owner, sweep.pk, json.dumps({"action": "cut", "trial": trial.pk}))
    assert reply["code"] == 400 and "action" in reply["errors"]


# --- the same errors on both protocols ---------------------------------------------------------

REST: dict[str, tuple[str, str]] = {
    "pause_sweep": ("post", "/api/sweeps/{sweep}/pause/"),
    "resume_sweep": ("post", "/api/sweeps/{sweep}/resume/"),
    "cancel_sweep": ("post", "/api/sweeps/{sweep}/cancel/"),
    "update_sweep": ("patch", "/api/sweeps/{sweep}/"),
    "enqueue": ("post", "/api/sweeps/{sweep}/trials/"),
    "kill": ("post", "/api/trials/{trial}/kill/"),
    "pause": ("post", "/api/trials/{trial}/pause/"),
    "resume": ("post", "/api/trials/{trial}/resume/"),
    "promote": ("post", "/api/trials/{trial}/promote/"),
    "extend": ("post", "/api/trials/{trial}/extend/"),
    "final_evaluation": ("post", "/api/sweeps/{sweep}/final_evaluation/"),
}
GOOD_BODY = {
    "update_sweep": {"concurrency": 3},
    "enqueue": {"params": {"lr": 0.01}},
    "final_evaluation": {"trial_number": 1},
}
BAD_BODY = {
    "update_sweep": ({"concurrency": 0}, "concurrency"),
    "enqueue": ({}, "params"),
    "final_evaluation": ({}, "trial_number"),
}


def test_every_registered_action_has_its_rest_route_listed_here() -> None:
    assert set(REST) == set(actions.REGISTRY)


def _both(
    api: APIClient, user: Any, name: str, sweep: Sweep, trial_id: int, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    method, path = REST[name]
    url = path.format(sweep=sweep.pk, trial=trial_id)
    response = getattr(api, method)(url, body, format="json")
    message = {"action": name, "trial": trial_id, **body}
    reply = steering.handle(user, sweep.pk, json.dumps(message))
    assert not reply["ok"], reply
    return response.status_code, reply


@pytest.mark.parametrize("name", sorted(REST))
def test_rest_and_socket_give_the_same_error_codes(
    name: str, owner: Any, viewer: Any, client_for: Callable[[Any], APIClient]
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,), status="cancelled")
    trial = make_trial(sweep, 1, status="completed", rung=2, resource_done=9, checkpoint="c")
    body = GOOD_BODY.get(name, {})
    is_trial = actions.REGISTRY[name].target == "trial"

    # 409: a cancelled sweep allows nothing.
    code, reply = _both(client_for(owner), owner, name, sweep, trial.pk, body)
    assert code == reply["code"] == 409 and "status" in reply["errors"]
    # 403: a viewer may look, not steer.
    code, reply = _both(client_for(viewer), viewer, name, sweep, trial.pk, body)
    assert code == reply["code"] == 403 and "permission" in reply["errors"]
    # 404: a trial that is not there (trial actions), or a sweep a stranger cannot see.
    if is_trial:
        code, reply = _both(client_for(owner), owner, name, sweep, trial.pk + 99, body)
        assert code == reply["code"] == 404 and "trial" in reply["errors"]
    stranger = type(owner).objects.create_user("dave", password="dave-password")
    code, reply = _both(client_for(stranger), stranger, name, sweep, trial.pk, body)
    assert code == reply["code"] == 404
    # 400 with the field: a bad body.
    if name in BAD_BODY:
        Sweep.objects.filter(pk=sweep.pk).update(status="running")
        bad, field = BAD_BODY[name]
        code, reply = _both(client_for(owner), owner, name, sweep, trial.pk, bad)
        assert code == reply["code"] == 400 and field in reply["errors"]
