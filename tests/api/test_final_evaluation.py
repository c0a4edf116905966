"""The lectures' workflow on real (inline) segments: the test set touched once (a sweep's
final evaluation through the API and the socket, refused the second time with the first's
date and user; training never evaluates on it) and the science fair's confidence in a
Hyperband sweep's bracket."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps import services
from sweeps.models import Event, FinalEvaluation
from sweeps.sending import FINAL_EVALUATION
from trainers.evaluation import run_final_evaluation

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = {
    "name": "digits",
    "trainer": "digits-mlp",
    "trainer_args": {"batch_size": 128},
    "space": {"lr": {"type": "float", "low": 0.001, "high": 0.01, "log": True}},
    "scheduler": {"name": "fifo", "max_resource": 1},
    "sampler": {"name": "random"},
    "max_trials": 2,
    "concurrency": 1,
    "seed": 3,
}


@pytest.fixture
def trained(owner: Any, sent_tasks: Any, settings: Any, tmp_path: Any) -> Any:
    """A finished digits sweep, its segments run inline; its final evaluation too."""
    from tests.trainers.test_runner_db import Queue

    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    queue = Queue()
    sent_tasks.run("rungs.run_segment", lambda *args: queue.sent.append(args))
    sent_tasks.run("rungs.advance_sweep", services.advance_sweep)
    sent_tasks.run(FINAL_EVALUATION, run_final_evaluation)
    sweep = services.create_sweep(SPEC, owner)
    queue.run_all()
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    return sweep


def test_once_on_the_test_split_and_refused_the_second_time(
    owner: Any, client_for: Any, trained: Any
) -> None:
    url = reverse("api-sweep-final_evaluation", args=[trained.pk])
    before = client_for(owner).get(reverse("api-sweep", args=[trained.pk])).json()
    assert "final_evaluation" in before["actions"] and before["final_evaluation"] is None
    best = before["best_trial"]["number"]
    response = client_for(owner).post(url, {"trial_number": best}, format="json")
    assert response.status_code == 200, response.json()
    body = client_for(owner).get(reverse("api-sweep", args=[trained.pk])).json()
    final = body["final_evaluation"]
    assert final["status"] == "done" and final["trial"] == best and final["user"] == owner.username
    metrics = final["metrics"]
    assert 0 < metrics["test_loss"] < 3 and 0 <= metrics["test_acc"] <= 1
    assert metrics["test_examples"] > 100 and metrics["test_loss_se"] > 0
    assert "final_evaluation" not in body["actions"], "not offered once used"
    # The audit log: who asked, and the number.
    kinds = list(Event.objects.filter(sweep=trained).values_list("kind", "user__username"))
    assert ("final_evaluation", owner.username) in kinds
    assert ("final_evaluation_done", None) in kinds
    # A second look is refused, naming the first's date and user; nothing changes.
    again = client_for(owner).post(url, {"trial_number": best}, format="json")
    assert again.status_code == 409
    assert f"by {owner.username} (trial {best}); it is looked at once" in again.json()["detail"]
    assert FinalEvaluation.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "trial_number"),
        ({"trial_number": 99}, "trial_number"),
        ({"trial_number": 1, "x": 1}, "x"),
    ],
)
def test_bad_requests_name_the_field(
    owner: Any, client_for: Any, trained: Any, body: dict, field: str
) -> None:
    url = reverse("api-sweep-final_evaluation", args=[trained.pk])
    response = client_for(owner).post(url, body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not FinalEvaluation.objects.exists()


def test_a_trainer_without_a_test_split_offers_none(owner: Any, client_for: Any) -> None:
    sweep = services.create_sweep({**SPEC, "trainer": "synthetic", "trainer_args": {}}, owner)
    body = client_for(owner).get(reverse("api-sweep", args=[sweep.pk])).json()
    assert "final_evaluation" not in body["actions"]


def test_the_second_request_over_the_socket_is_a_409_too(owner: Any, trained: Any) -> None:
    import json

    from dashboard import steering

    best = trained.trials.exclude(checkpoint="").first().number
    message = json.dumps({"action": "final_evaluation", "trial_number": best})
    first = steering.handle(owner, trained.pk, message)
    assert first["ok"], first
    again = steering.handle(owner, trained.pk, message)
    assert not again["ok"] and again["code"] == 409
    assert "it is looked at once" in json.dumps(again["errors"])


def test_training_never_evaluates_on_the_test_split(
    owner: Any, sent_tasks: Any, settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    """Every evaluation a training segment makes is on the validation split."""
    from tests.trainers.test_runner_db import Queue
    from trainers import loop
    from trainers.device import select_device
    from trainers.registry import get_trainer

    seen: list[Any] = []
    real = loop.evaluate

    def spy(model: Any, x: Any, y: Any, device: Any) -> Any:
        seen.append(x)
        return real(model, x, y, device)

    monkeypatch.setattr(loop, "evaluate", spy)
    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    queue = Queue()
    sent_tasks.run("rungs.run_segment", lambda *args: queue.sent.append(args))
    sent_tasks.run("rungs.advance_sweep", services.advance_sweep)
    services.create_sweep(SPEC, owner)
    queue.run_all()
    trainer = get_trainer("digits-mlp")
    args = trainer.clean_args(SPEC["trainer_args"])
    splits = loop.get_splits(trainer(), args, select_device(prefer_cuda=False))
    assert seen, "the segments evaluated"
    assert all(x is splits.x_val for x in seen) and not any(x is splits.x_test for x in seen)


def test_a_hyperband_sweeps_bracket_carries_the_science_fairs_confidence(
    owner: Any, client_for: Any, sent_tasks: Any, settings: Any, tmp_path: Any
) -> None:
    from tests.trainers.test_runner_db import Queue

    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    queue = Queue()
    sent_tasks.run("rungs.run_segment", lambda *args: queue.sent.append(args))
    sent_tasks.run("rungs.advance_sweep", services.advance_sweep)
    spec = {
        "name": "hyperband", "trainer": "synthetic", "trainer_args": {"steps_per_epoch": 5},
        "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3},
        "sampler": {"name": "random"}, "max_trials": 13, "concurrency": 1, "seed": 2,
    }  # fmt: skip
    sweep = services.create_sweep(spec, owner)
    queue.run_all(limit=200)
    body = client_for(owner).get(reverse("api-sweep-bracket", args=[sweep.pk])).json()
    rungs = [r for b in body["brackets"] for r in b["rungs"]]
    cells = [c for r in rungs for c in r["cells"] if c["value"] is not None]
    assert cells and {c["se"] for c in cells} == {0.005}  # the synthetic's validation noise
    assert any(r["cut"] is not None for r in rungs)
    corr = [r["next_corr"] for r in rungs if r["next_corr"]]
    assert corr and all(-1 <= c["rho"] <= 1 and c["n"] >= 3 for c in corr)
