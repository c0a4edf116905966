"""LR range tests through the API: validation, the worker's run (inline), who sees what."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import LRRangeTest
from sweeps.sending import LR_RANGE_TEST
from trainers.lr_range import run_stored_test

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_test_runs_on_a_worker_and_reports_its_curve(
    owner: Any, client_for: Any, sent_tasks: Any
) -> None:
    sent_tasks.run(LR_RANGE_TEST, lambda test_id: run_stored_test(test_id, "test:1"))
    body = {"trainer": "synthetic", "params": {"width": 64, "momentum": 0.5}, "steps": 80}
    response = client_for(owner).post(reverse("api-lr-range-tests"), body, format="json")
    assert response.status_code == 201, response.content
    assert [name for name, _ in sent_tasks] == [LR_RANGE_TEST]
    test = client_for(owner).get(response["Location"]).json()
    assert test["status"] == "done" and test["low"] == 1e-7 and test["high"] == 10.0
    lrs = test["curve"]["lr"]
    assert len(lrs) == len(test["curve"]["loss"]) == len(test["curve"]["smoothed"]) <= 80
    assert lrs == sorted(lrs) and "4x its minimum" in test["stopped"]
    low, high = test["suggested"]["low"], test["suggested"]["high"]
    assert lrs[0] < low < high < lrs[-1] and "steepest fall" in test["rules"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {}}, "trainer"),
        ({"trainer": "nope"}, "trainer"),
        ({"trainer": "synthetic", "low": 0}, "low"),
        ({"trainer": "synthetic", "low": 1.0, "high": 0.1}, "high"),
        ({"trainer": "synthetic", "steps": 5}, "steps"),
        ({"trainer": "synthetic", "params": [1]}, "params"),
        ({"trainer": "synthetic", "trainer_args": {"nope": 1}}, "trainer_args.nope"),
        ({"trainer": "synthetic", "trainer_args": None}, "trainer_args"),
        ({"trainer": "synthetic", "colour": "red"}, "colour"),
    ],
)
def test_bad_requests_name_the_field_and_create_nothing(
    owner: Any, client_for: Any, sent_tasks: Any, body: dict, field: str
) -> None:
    response = client_for(owner).post(reverse("api-lr-range-tests"), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not LRRangeTest.objects.exists() and not sent_tasks


def test_a_trainer_that_hides_its_learning_rate_is_refused(
    owner: Any, client_for: Any, settings: Any
) -> None:
    settings.RUNGS_TRAINERS = {"script": {"command": "python tests/trainers/scripts/lines.py"}}
    body = {"trainer": "script"}
    response = client_for(owner).post(reverse("api-lr-range-tests"), body, format="json")
    assert response.json()["errors"]["trainer"] == (
        "trainer 'script' does not expose its learning rate"
    )


def test_a_failed_run_says_why(owner: Any, client_for: Any, sent_tasks: Any) -> None:
    sent_tasks.run(LR_RANGE_TEST, lambda test_id: run_stored_test(test_id, "test:1"))
    body = {"trainer": "digits-mlp", "params": {"optimizer": "lbfgs"}, "steps": 10}
    response = client_for(owner).post(reverse("api-lr-range-tests"), body, format="json")
    test = client_for(owner).get(response["Location"]).json()
    assert (
        test["status"] == "failed" and "params.optimizer must be 'adam' or 'sgd'" in test["error"]
    )


def test_only_its_owner_reads_a_test(owner: Any, stranger: Any, client_for: Any) -> None:
    response = client_for(owner).post(
        reverse("api-lr-range-tests"), {"trainer": "synthetic"}, format="json"
    )
    assert client_for(stranger).get(response["Location"]).status_code == 404
    assert client_for(stranger).get(reverse("api-lr-range-tests")).json() == []
    assert len(client_for(owner).get(reverse("api-lr-range-tests")).json()) == 1
