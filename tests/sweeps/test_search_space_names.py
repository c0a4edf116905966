"""A saved space's name is a label: the API keeps one owner's names apart, while the admin
(which sets the owner only when it saves) may repeat one without failing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sweeps import services
from sweeps.models import SearchSpace
from sweeps.search import SpaceError, parse_space
from tests.sweeps.test_admin_search_space import ADD_URL, form_data

pytestmark = pytest.mark.django_db
SPACE = parse_space({"lr": {"type": "float", "low": 0.001, "high": 0.1}})


def test_the_admin_may_repeat_a_name(staff_user: Any) -> None:
    client = Client()
    client.force_login(staff_user)
    rows = [{"name": "lr", "low": "0.0001", "high": "0.1", "log": True}]
    for _ in range(2):
        assert client.post(ADD_URL, form_data(*rows)).status_code == 302
    assert SearchSpace.objects.filter(name="mlp", owner=staff_user).count() == 2


def test_the_services_keep_one_owners_names_apart(user: Any, other_user: Any) -> None:
    services.create_space(user, name="mlp", space=SPACE)
    with pytest.raises(SpaceError) as caught:
        services.create_space(user, name="mlp", space=SPACE)
    assert "name" in caught.value.errors
    other = services.create_space(other_user, name="mlp", space=SPACE)
    mine = services.create_space(user, name="cnn", space=SPACE)
    with pytest.raises(SpaceError):
        services.update_space(mine.pk, name="mlp")
    services.update_space(mine.pk, name="cnn", description="same name, new text")
    services.update_space(other.pk, name="cnn")  # another owner's names do not count
    assert sorted(SearchSpace.objects.values_list("name", flat=True)) == ["cnn", "cnn", "mlp"]
