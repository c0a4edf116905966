"""The client's calls for launching from the browser, against a live server: plan, trainers,
spec, zoom, sharing and saved search spaces."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from sweeps.client import ApiError, Client
from sweeps.models import Sweep
from tests.api.factories import spec
from tests.factories import add_result

pytestmark = pytest.mark.django_db(transaction=True)
R27 = {"name": "hyperband", "min_resource": 1, "max_resource": 27, "eta": 3}


@pytest.fixture
def client(live_server: Any, owner: Any) -> Client:
    return Client(live_server.url, Token.objects.create(user=owner).key, timeout=10)


def test_plan_trainers_spec_and_zoom(client: Client) -> None:
    planned = client.plan(spec(scheduler=R27, max_trials=25))
    assert planned["plan"]["full_budget_trials"] == 0
    assert any("max_trials is 25" in w for w in planned["warnings"])
    assert Sweep.objects.count() == 0
    with pytest.raises(ApiError) as caught:
        client.plan(spec(max_trials=0))
    assert caught.value.status == 400 and "max_trials" in caught.value.errors
    assert "toy" in {t["key"] for t in client.trainers()}

    sweep = client.launch(spec(name="coarse", start=False))
    copy = client.spec(sweep["id"])
    assert copy["name"] == "coarse (copy)" and copy["space"] == sweep["space"]
    with pytest.raises(ApiError) as caught:
        client.zoom(sweep["id"])
    assert caught.value.status == 409
    row = Sweep.objects.get(pk=sweep["id"])
    for number, lr in ((1, 0.001), (2, 0.004)):
        trial = row.trials.create(number=number, params={"lr": lr, "layers": 2, "opt": "adam"})
        add_result(trial, 0, 1.0, 0.5 / number)
    zoomed = client.zoom(sweep["id"], k=2, margin=0.25)
    assert zoomed["based_on"] == [2, 1]
    assert zoomed["space"]["lr"]["low"] == 0.0007071
    follow_up = client.launch({**zoomed["spec"], "start": False})
    assert follow_up["name"] == "coarse (zoom)"


def test_sharing_and_saved_spaces(client: Client, viewer: Any, live_server: Any) -> None:
    sweep = client.launch(spec(start=False))
    shared = client.share(sweep["id"], viewers=["carol"])
    assert shared == {"owner": "alice", "viewers": ["carol"], "editors": [], "can_change": True}
    assert client.sharing(sweep["id"]) == shared
    with pytest.raises(ApiError) as caught:
        client.share(sweep["id"], editors=["nobody"])
    assert caught.value.status == 400 and "editors" in caught.value.errors

    saved = client.create_search_space("mlp", {"lr": {"type": "float", "low": 0.01, "high": 0.1}})
    assert [s["name"] for s in client.search_spaces()] == ["mlp"]
    changed = client.update_search_space(saved["id"], description="v2")
    assert changed["description"] == "v2" and client.search_space(saved["id"]) == changed
    client.share_search_space(saved["id"], viewers=["carol"])
    carol = Client(live_server.url, Token.objects.create(user=viewer).key, timeout=10)
    assert [s["id"] for s in carol.search_spaces()] == [saved["id"]]
    with pytest.raises(ApiError) as caught:
        carol.delete_search_space(saved["id"])
    assert caught.value.status == 403
    assert client.delete_search_space(saved["id"]) is None
    assert client.search_spaces() == []
