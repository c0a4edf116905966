"""The admin's JSON fields pass the same input guard as API bodies: a deep list, a NUL or a
number no column holds is a form error on its field, never a 500, and nothing is saved."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sweeps.models import Parameter, SearchSpace
from tests.sweeps.test_admin_search_space import ADD_URL, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"kind": "categorical", "choices": "[" * 10_000 + "]" * 10_000}, "nested deeper"),
        ({"kind": "categorical", "choices": '["a", "b\\u0000"]'}, "NUL"),
        ({"kind": "categorical", "choices": f"[1, {10**400}]"}, "between"),
        ({"kind": "categorical", "choices": "[1, 1e999]"}, "finite"),
        ({"low": "0", "high": "1", "condition_parent": "c",
          "condition_values": "[" * 10_000 + "]" * 10_000}, "nested deeper"),
        ({"kind": "int", "low": "1", "high": "1e300"}, "for an int parameter"),
    ],
)  # fmt: skip
def test_bad_json_in_an_admin_field_is_a_form_error(
    staff_client: Client, row: dict[str, Any], message: str
) -> None:
    response = staff_client.post(ADD_URL, form_data({"name": "c", **row}))
    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert SearchSpace.objects.count() == 0 and Parameter.objects.count() == 0


def test_a_good_categorical_row_still_saves(staff_client: Client) -> None:
    response = staff_client.post(
        ADD_URL, form_data({"name": "c", "kind": "categorical", "choices": '["adam", 1, true]'})
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Parameter.objects.get().choices == ["adam", 1, True]
