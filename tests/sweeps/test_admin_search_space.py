"""The admin's search-space form applies the same rules as the API, per row and field."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sweeps.models import Parameter, SearchSpace, Sweep

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/sweeps/searchspace/add/"


def form_data(*rows: dict[str, Any], name: str = "mlp") -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "description": "",
        "parameters-TOTAL_FORMS": str(len(rows)),
        "parameters-INITIAL_FORMS": "0",
        "parameters-MIN_NUM_FORMS": "0",
        "parameters-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        base = {"position": i, "kind": "float", "choices": "[]", "condition_values": "[]",
                "condition_parent": "", "low": "", "high": "", "step": ""}  # fmt: skip
        base.update(row)
        for key, value in base.items():
            if key == "log":
                if value:
                    data[f"parameters-{i}-log"] = "on"
            else:
                data[f"parameters-{i}-{key}"] = value
    return data


@pytest.fixture
def admin_client_(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def errors_in(response: Any) -> str:
    return response.content.decode()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"name": "lr", "low": "0", "high": "0.1", "log": True}], "space.lr.low: must be &gt; 0 on a log scale"),
        ([{"name": "lr", "low": "1", "high": "0.1"}], "space.lr.low: must be less than high"),
        ([{"name": "c", "kind": "categorical", "choices": "[]"}], "space.c.choices: must be a non-empty list"),
        ([{"name": "c", "kind": "categorical", "choices": '["a", "a"]'}], "must not repeat a value"),
        ([{"name": "n", "kind": "int", "low": "1.5", "high": "4"}], "space.n.low: must be a whole number"),
        ([{"name": "m", "low": "0", "high": "1", "condition_parent": "opt", "condition_values": '["sgd"]'}],
         "space.m.condition: parent &#x27;opt&#x27; is not a parameter"),
        ([{"name": "x", "low": "0", "high": "1"}, {"name": "x", "low": "0", "high": "2"}], "Please correct the duplicate data for name"),
    ],
)  # fmt: skip
def test_bad_rows_are_rejected_and_nothing_saved(
    admin_client_: Client, rows: list[dict[str, Any]], message: str
) -> None:
    response = admin_client_.post(ADD_URL, form_data(*rows))
    assert response.status_code == 200  # the form is shown again
    assert message in errors_in(response)
    assert SearchSpace.objects.count() == 0 and Parameter.objects.count() == 0


def test_good_space_is_saved_with_owner(admin_client_: Client, staff_user: Any) -> None:
    rows = [
        {"name": "lr", "low": "0.0001", "high": "0.1", "log": True},
        {"name": "layers", "kind": "int", "low": "1", "high": "4"},
        {"name": "opt", "kind": "categorical", "choices": '["adam", "sgd"]'},
        {
            "name": "momentum",
            "low": "0",
            "high": "0.99",
            "condition_parent": "opt",
            "condition_values": '["sgd"]',
        },
    ]
    response = admin_client_.post(ADD_URL, form_data(*rows))
    assert response.status_code == 302, errors_in(response)
    space = SearchSpace.objects.get()
    assert space.owner == staff_user
    assert space.to_spec() == {
        "lr": {"type": "float", "low": 0.0001, "high": 0.1, "log": True},
        "layers": {"type": "int", "low": 1, "high": 4},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {
            "type": "float",
            "low": 0.0,
            "high": 0.99,
            "condition": {"parent": "opt", "values": ["sgd"]},
        },
    }


def test_admin_needs_login() -> None:
    response = Client().get(ADD_URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_sweeps_are_read_only_in_admin(admin_client_: Client, user: Any) -> None:
    sweep = Sweep.objects.create(name="s", owner=user, trainer="toy", space={})
    assert admin_client_.get("/admin/sweeps/sweep/").status_code == 200
    assert admin_client_.get("/admin/sweeps/sweep/add/").status_code == 403
    page = admin_client_.get(f"/admin/sweeps/sweep/{sweep.pk}/change/")
    assert page.status_code == 200 and b'name="status"' not in page.content
