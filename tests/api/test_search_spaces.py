"""/api/search-spaces/: saved spaces checked by the sweep spec's own parser, stored as
Parameter rows, visible to their owner, their viewers and editors and staff; a sweep spec
may name only a saved space its launcher can see."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Parameter, SearchSpace, Sweep
from sweeps.search import parse_space
from tests.api.factories import spec

pytestmark = pytest.mark.django_db
LIST = "/api/search-spaces/"
SPACE = {
    "lr": {"type": "float", "low": 0.0001, "high": 0.1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256, "step": 16},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
    "momentum": {
        "type": "float", "low": 0.0, "high": 0.99,
        "condition": {"parent": "opt", "values": ["sgd"]},
    },
}  # fmt: skip


def url(saved: SearchSpace | int) -> str:
    return reverse("api-search-space", args=[saved if isinstance(saved, int) else saved.pk])


def saved_space(owner: Any, name: str = "mlp", **shares: Any) -> SearchSpace:
    saved = SearchSpace.objects.create(owner=owner, name=name)
    saved.replace_parameters(parse_space(SPACE))
    for role, users in shares.items():
        getattr(saved, role).add(*users)
    return saved


def test_create_stores_parameter_rows_and_answers_the_space(owner: Any, client_for: Any) -> None:
    body = {"name": " mlp ", "description": "the MLP", "space": SPACE}
    response = client_for(owner).post(LIST, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    saved = SearchSpace.objects.get()
    assert response["Location"] == url(saved)
    assert (data["name"], data["description"], data["owner"]) == ("mlp", "the MLP", "alice")
    assert data["space"] == parse_space(SPACE).to_spec() == saved.to_spec()
    assert (data["can_edit"], data["can_share"], data["can_delete"]) == (True, True, True)
    rows = {p.name: p for p in Parameter.objects.filter(space=saved)}
    assert [p.name for p in saved.parameters.all()] == ["lr", "width", "opt", "momentum"]
    assert (rows["lr"].kind, rows["lr"].log, rows["width"].step) == ("float", True, 16)
    assert (rows["momentum"].condition_parent, rows["momentum"].condition_values) == (
        "opt", ["sgd"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "space": {"lr": {"type": "float", "low": 1, "high": 0}}}, "space.lr.low"),
        ({"name": "x", "space": {"lr": {"type": "int", "low": 1.5, "high": 4}}}, "space.lr.low"),
        ({"name": "x", "space": {"c": {"type": "categorical", "choices": []}}}, "space.c.choices"),
        ({"name": "x", "space": {"m": {"type": "float", "low": 0, "high": 1,
                                       "condition": {"parent": "nope", "values": [1]}}}},
         "space.m.condition"),
        ({"name": "x", "space": {}}, "space"),
        ({"name": "x", "space": None}, "space"),
        ({"name": "x", "space": {"lr": {"type": "float", "low": 0, "high": 1,
                                        "wat": 1}}}, "space.lr"),
        ({"name": "x", "space": {"c": {"type": "categorical", "choices": ["a\u0000"]}}},
         "space.c.choices[0]"),
        ({"space": SPACE}, "name"),
        ({"name": "x"}, "space"),
        ({"name": "   ", "space": SPACE}, "name"),
        ({"name": "n" * 121, "space": SPACE}, "name"),
        ({"name": 5, "space": SPACE}, "name"),
        ({"name": "a\u0000b", "space": SPACE}, "name"),
        ({"name": "x", "space": SPACE, "description": None}, "description"),
        ({"name": "x", "space": SPACE, "owner": "bob"}, "owner"),
    ],
)  # fmt: skip
def test_bad_bodies_name_the_field_and_save_nothing(
    body: dict[str, Any], field: str, owner: Any, client_for: Any
) -> None:
    response = client_for(owner).post(LIST, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert SearchSpace.objects.count() == 0 and Parameter.objects.count() == 0


def test_a_body_that_is_not_an_object_is_400(owner: Any, client_for: Any) -> None:
    response = client_for(owner).post(LIST, ["mlp"], format="json")
    assert response.status_code == 400 and "body" in response.json()["errors"]


def test_names_are_unique_per_owner(owner: Any, stranger: Any, client_for: Any) -> None:
    body = {"name": "mlp", "space": SPACE}
    assert client_for(owner).post(LIST, body, format="json").status_code == 201
    again = client_for(owner).post(LIST, body, format="json")
    assert again.status_code == 400 and "already has" in again.json()["errors"]["name"]
    assert client_for(stranger).post(LIST, body, format="json").status_code == 201
    assert SearchSpace.objects.count() == 2


def test_the_list_holds_own_and_shared_spaces_and_staff_sees_all(
    owner: Any, stranger: Any, viewer: Any, staff: Any, client_for: Any
) -> None:
    mine = saved_space(owner, "a-mine")
    shared = saved_space(stranger, "b-shared", viewers=[owner])
    editing = saved_space(stranger, "c-editing", editors=[owner])
    saved_space(stranger, "d-private")
    saved_space(viewer, "e-other")
    rows = client_for(owner).get(LIST).json()
    assert [r["name"] for r in rows] == ["a-mine", "b-shared", "c-editing"]
    flags = {r["id"]: (r["can_edit"], r["can_share"], r["can_delete"]) for r in rows}
    assert flags == {
        mine.pk: (True, True, True),
        shared.pk: (False, False, False),
        editing.pk: (True, False, False),
    }
    assert len(client_for(staff).get(LIST).json()) == 5
    assert client_for(None).get(LIST).status_code == 401


def test_read_is_for_those_who_may_see_it(
    owner: Any, stranger: Any, viewer: Any, client_for: Any
) -> None:
    saved = saved_space(owner, viewers=[viewer])
    assert client_for(viewer).get(url(saved)).json()["space"] == saved.to_spec()
    hidden = client_for(stranger).get(url(saved))
    missing = client_for(stranger).get(url(999999))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_owner_and_editors_change_viewers_may_not(
    owner: Any, stranger: Any, viewer: Any, django_user_model: Any, client_for: Any
) -> None:
    editor = django_user_model.objects.create_user("dave")
    saved = saved_space(owner, viewers=[viewer], editors=[editor])
    saved.description = "old"
    saved.save()
    narrow = {"lr": {"type": "float", "low": 0.001, "high": 0.01, "log": True}}
    replaced = client_for(editor).put(url(saved), {"name": "mlp2", "space": narrow}, format="json")
    assert replaced.status_code == 200, replaced.content
    saved.refresh_from_db()
    assert (saved.name, saved.description, saved.to_spec()) == ("mlp2", "", narrow)
    assert saved.owner == owner  # an editor changes it, the owner keeps it
    patched = client_for(owner).patch(url(saved), {"description": "v2"}, format="json")
    assert patched.status_code == 200 and patched.json()["space"] == narrow
    saved.refresh_from_db()
    assert (saved.name, saved.description) == ("mlp2", "v2")
    before = (saved.name, saved.description, saved.to_spec())
    for method, body in (("put", {"name": "v", "space": SPACE}), ("patch", {"name": "v"})):
        denied = getattr(client_for(viewer), method)(url(saved), body, format="json")
        assert denied.status_code == 403
        assert (
            getattr(client_for(stranger), method)(url(saved), body, format="json").status_code
            == 404
        )
    saved.refresh_from_db()
    assert (saved.name, saved.description, saved.to_spec()) == before


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("put", {"name": "x"}, "space"),
        ("put", {"space": SPACE}, "name"),
        ("patch", {}, "body"),
        ("patch", {"space": {"lr": {"type": "float", "low": 2, "high": 1}}}, "space.lr.low"),
        ("patch", {"nope": 1}, "nope"),
    ],
)
def test_bad_changes_name_the_field_and_change_nothing(
    method: str, body: dict[str, Any], field: str, owner: Any, client_for: Any
) -> None:
    saved = saved_space(owner)
    response = getattr(client_for(owner), method)(url(saved), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    saved.refresh_from_db()
    assert saved.name == "mlp" and saved.to_spec() == parse_space(SPACE).to_spec()


def test_renaming_onto_another_of_the_owners_names_is_refused(owner: Any, client_for: Any) -> None:
    saved_space(owner, "a")
    b = saved_space(owner, "b")
    response = client_for(owner).patch(url(b), {"name": "a"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert client_for(owner).patch(url(b), {"name": "b"}, format="json").status_code == 200


def test_delete_is_for_owner_and_staff_and_sweeps_keep_their_copy(
    owner: Any, staff: Any, viewer: Any, django_user_model: Any, client_for: Any
) -> None:
    editor = django_user_model.objects.create_user("dave")
    saved = saved_space(owner, viewers=[viewer], editors=[editor])
    launched = client_for(owner).post(
        reverse("api-sweeps"), spec(space=None, search_space=saved.pk), format="json"
    )
    assert launched.status_code == 201, launched.content
    for user in (viewer, editor):
        assert client_for(user).delete(url(saved)).status_code == 403
    assert client_for(owner).delete(url(saved)).status_code == 204
    assert not SearchSpace.objects.exists() and not Parameter.objects.exists()
    sweep = Sweep.objects.get()
    assert sweep.search_space is None and sweep.space == parse_space(SPACE).to_spec()
    other = saved_space(owner, "other")
    assert client_for(staff).delete(url(other)).status_code == 204


def test_a_sweep_spec_may_name_only_a_saved_space_its_launcher_can_see(
    owner: Any, stranger: Any, viewer: Any, client_for: Any, sent_tasks: list[Any]
) -> None:
    saved = saved_space(owner, viewers=[viewer])
    body = spec(space=None, search_space=saved.pk)
    refused = client_for(stranger).post(reverse("api-sweeps"), body, format="json")
    assert refused.status_code == 400
    assert "that you can see" in refused.json()["errors"]["search_space"]
    planned = client_for(stranger).post(reverse("api-sweep-plan"), body, format="json")
    assert planned.status_code == 400 and "search_space" in planned.json()["errors"]
    assert Sweep.objects.count() == 0 and sent_tasks == []
    used = client_for(viewer).post(reverse("api-sweeps"), body, format="json")
    assert used.status_code == 201 and used.json()["space"] == parse_space(SPACE).to_spec()
    assert used.json()["search_space"] == saved.pk
