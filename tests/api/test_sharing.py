"""GET/PUT /api/sweeps/{id}/sharing/ and /api/search-spaces/{id}/sharing/: only owners and
staff change sharing; viewers see, editors also steer (sweeps) or change (spaces); bad names
are a 400 naming the list; a sweep's change is an audited Event."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Event, SearchSpace, Sweep
from sweeps.search import parse_space
from tests.api.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("dave")


def sweep_url(sweep: Sweep) -> str:
    return reverse("api-sweep-sharing", args=[sweep.pk])


def space_url(saved: SearchSpace) -> str:
    return reverse("api-search-space-sharing", args=[saved.pk])


def shares(obj: Sweep | SearchSpace) -> tuple[list[str], list[str]]:
    return (
        sorted(u.username for u in obj.viewers.all()),
        sorted(u.username for u in obj.editors.all()),
    )


def test_get_says_who_and_whether_you_may_change_it(
    owner: Any, viewer: Any, stranger: Any, staff: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,))
    assert client_for(owner).get(sweep_url(sweep)).json() == {
        "owner": "alice", "viewers": ["carol"], "editors": [], "can_change": True,
    }  # fmt: skip
    assert client_for(viewer).get(sweep_url(sweep)).json()["can_change"] is False
    assert client_for(staff).get(sweep_url(sweep)).json()["can_change"] is True
    assert client_for(stranger).get(sweep_url(sweep)).status_code == 404
    assert client_for(None).get(sweep_url(sweep)).status_code == 401


def test_the_owner_shares_a_sweep_and_the_change_is_audited(
    owner: Any, viewer: Any, stranger: Any, dave: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,))
    body = {"viewers": ["bob", "bob"], "editors": ["dave"]}
    response = client_for(owner).put(sweep_url(sweep), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "owner": "alice", "viewers": ["bob"], "editors": ["dave"], "can_change": True,
    }  # fmt: skip
    assert shares(sweep) == (["bob"], ["dave"])  # carol is no longer a viewer
    event = Event.objects.get(sweep=sweep, kind="shared")
    assert event.user == owner
    assert event.data == {
        "old": {"viewers": ["carol"], "editors": []},
        "new": {"viewers": ["bob"], "editors": ["dave"]},
    }
    assert client_for(viewer).get(reverse("api-sweep", args=[sweep.pk])).status_code == 404
    # The same again changes nothing and records nothing; a GET's answer can be sent back.
    same = client_for(owner).get(sweep_url(sweep)).json()
    assert client_for(owner).put(sweep_url(sweep), same, format="json").status_code == 200
    assert Event.objects.filter(kind="shared").count() == 1


def test_only_owner_and_staff_change_sharing(
    owner: Any, viewer: Any, stranger: Any, staff: Any, dave: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,))
    sweep.editors.add(dave)
    body = {"viewers": [], "editors": []}
    for user in (viewer, dave):
        response = client_for(user).put(sweep_url(sweep), body, format="json")
        assert response.status_code == 403 and "owner or staff" in response.json()["detail"]
    assert client_for(stranger).put(sweep_url(sweep), body, format="json").status_code == 404
    assert shares(sweep) == (["carol"], ["dave"])
    assert client_for(staff).put(sweep_url(sweep), body, format="json").status_code == 200
    assert shares(sweep) == ([], [])
    assert Event.objects.get(kind="shared").user == staff


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"viewers": ["nobody"], "editors": []}, "viewers", "no user named 'nobody'"),
        ({"viewers": [], "editors": ["bob", "ghost"]}, "editors", "no user named 'ghost'"),
        ({"viewers": ["alice"], "editors": []}, "viewers", "owner"),
        ({"viewers": [], "editors": ["alice"]}, "editors", "owner"),
        ({"viewers": ["bob"], "editors": ["bob"]}, "viewers", "once"),
        ({"viewers": []}, "editors", "required"),
        ({"viewers": "bob", "editors": []}, "viewers", "list"),
        ({"viewers": [3], "editors": []}, "viewers", "list"),
        ({"viewers": [], "editors": [], "owner": "bob"}, "owner", "cannot be changed"),
        ({"viewers": [], "editors": [], "admins": []}, "admins", "not a field"),
        ({"viewers": ["x" * 200], "editors": []}, "viewers", "no user named"),
        ({"viewers": ["a\u0000"], "editors": []}, "viewers[0]", "NUL"),
    ],
)
def test_bad_sharing_names_the_field_and_changes_nothing(
    body: Any, field: str, words: str, owner: Any, viewer: Any, stranger: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,))
    response = client_for(owner).put(sweep_url(sweep), body, format="json")
    assert response.status_code == 400, response.content
    assert words in response.json()["errors"][field]
    assert shares(sweep) == (["carol"], []) and not Event.objects.filter(kind="shared").exists()


def test_editors_steer_a_sweep_viewers_may_not(
    owner: Any, viewer: Any, dave: Any, client_for: Any, sent_tasks: list[Any]
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,))
    trial = make_trial(sweep, 1, status="running")
    client_for(owner).put(sweep_url(sweep), {"viewers": ["carol"], "editors": ["dave"]},
                          format="json")  # fmt: skip
    kill = reverse("api-trial-kill", args=[trial.pk])
    refused = client_for(viewer).post(kill)
    assert refused.status_code == 403 and "editors, owner or staff" in refused.json()["detail"]
    trial.refresh_from_db()
    assert trial.status == "running"
    assert client_for(dave).post(kill).status_code == 200
    trial.refresh_from_db()
    assert trial.status == "killed" and trial.events.get(kind="killed").user == dave
    assert client_for(dave).post(reverse("api-sweep-pause", args=[sweep.pk])).status_code == 200
    # An editor steers but does not share.
    grab = client_for(dave).put(sweep_url(sweep), {"viewers": [], "editors": []}, format="json")
    assert grab.status_code == 403
    # The rows an editor reads offer the actions; a viewer's offer none they could not do.
    assert client_for(dave).get(reverse("api-sweep", args=[sweep.pk])).json()["actions"]


def test_editors_and_viewers_see_the_sweep_in_the_list(
    owner: Any, viewer: Any, dave: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner, viewers=(viewer,))
    sweep.editors.add(dave, viewer)  # in both: listed once
    for user in (viewer, dave):
        listed = client_for(user).get(reverse("api-sweeps")).json()["results"]
        assert [s["id"] for s in listed] == [sweep.pk]


# --- saved spaces ---------------------------------------------------------------------------


def test_sharing_a_saved_space(
    owner: Any, viewer: Any, stranger: Any, dave: Any, client_for: Any
) -> None:
    saved = SearchSpace.objects.create(owner=owner, name="mlp")
    saved.replace_parameters(parse_space({"lr": {"type": "float", "low": 0.01, "high": 0.1}}))
    detail = reverse("api-search-space", args=[saved.pk])
    assert client_for(viewer).get(detail).status_code == 404
    response = client_for(owner).put(
        space_url(saved), {"viewers": ["carol"], "editors": ["dave"]}, format="json"
    )
    assert response.json() == {
        "owner": "alice", "viewers": ["carol"], "editors": ["dave"], "can_change": True,
    }  # fmt: skip
    assert client_for(viewer).get(space_url(saved)).json()["can_change"] is False
    assert client_for(viewer).patch(detail, {"name": "x"}, format="json").status_code == 403
    assert client_for(dave).patch(detail, {"name": "x"}, format="json").status_code == 200
    for user in (viewer, dave):
        denied = client_for(user).put(space_url(saved), {"viewers": [], "editors": []},
                                      format="json")  # fmt: skip
        assert denied.status_code == 403
    assert client_for(stranger).get(space_url(saved)).status_code == 404
    bad = client_for(owner).put(space_url(saved), {"viewers": ["alice"], "editors": []},
                                format="json")  # fmt: skip
    assert bad.status_code == 400 and "owner" in bad.json()["errors"]["viewers"]
    assert shares(saved) == (["carol"], ["dave"])
    assert not Event.objects.exists()  # spaces have no event log; nothing else was touched
