"""GET /api/trainers/ lists every registered trainer with its arguments and live workers;
GET /api/sweeps/{id}/spec/ gives the spec that launches an equivalent sweep."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import SearchSpace, Sweep
from sweeps.search import parse_space
from tests.api.factories import counts, make_sweep, spec
from tests.factories import make_worker

pytestmark = pytest.mark.django_db
TRAINERS = "/api/trainers/"


def test_trainers_list_every_registered_trainer(owner: Any, client_for: Any, settings: Any) -> None:
    settings.RUNGS_TRAINERS = {"toy": "tests.fixtures:ToyTrainer", "broken": "tests.nowhere:Nope"}
    make_worker("cpu0@a:1", ["toy", "synthetic"])
    make_worker("cpu1@a:2", ["toy"])
    make_worker("cpu2@a:3", ["toy"], beat_age=3600)  # lost: not counted
    response = client_for(owner).get(TRAINERS)
    assert response.status_code == 200
    rows = {row["key"]: row for row in response.json()}
    assert [row["key"] for row in response.json()] == sorted(rows)
    assert {"toy", "synthetic", "digits-mlp", "broken"} <= set(rows)
    toy = rows["toy"]
    assert toy["workers"] == 2 and rows["synthetic"]["workers"] == 1
    assert rows["digits-mlp"]["workers"] == 0
    assert toy["resource_unit"] == "epochs" and toy["error"] is None
    assert toy["default_space"] == {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}}
    assert toy["args_schema"] == {
        "batch_size": {"type": "int", "default": 32, "low": 1, "high": 4096, "choices": [],
                       "help": ""},
        "val_fraction": {"type": "float", "default": 0.2, "low": 0.05, "high": 0.5,
                         "choices": [], "help": ""},
        "optimizer": {"type": "str", "default": "adam", "low": None, "high": None,
                      "choices": ["adam", "sgd"], "help": ""},
        "augment": {"type": "bool", "default": False, "low": None, "high": None,
                    "choices": [], "help": ""},
    }  # fmt: skip
    synthetic = rows["synthetic"]
    assert "val_loss" in synthetic["metrics"] and synthetic["description"]
    assert synthetic["args_schema"]["steps_per_epoch"]["help"]
    parse_space(synthetic["default_space"])  # a space a spec may use as it is
    # A broken entry is listed with the reason, and hides nothing else.
    assert rows["broken"]["error"].startswith("ModuleNotFoundError")


def test_trainers_need_a_login(client_for: Any) -> None:
    assert client_for(None).get(TRAINERS).status_code == 401


# --- cloning ----------------------------------------------------------------------------------


def spec_url(sweep: Sweep) -> str:
    return reverse("api-sweep-spec", args=[sweep.pk])


SETTINGS = ("trainer", "trainer_args", "objective", "space", "sampler", "scheduler",
            "max_trials", "concurrency", "seed", "resource_unit")  # fmt: skip


def test_the_spec_launches_an_equivalent_sweep(owner: Any, client_for: Any) -> None:
    client = client_for(owner)
    original = client.post(
        reverse("api-sweeps"),
        spec(
            name="original",
            sampler={"name": "bayes", "n_initial_points": 4},
            scheduler={"name": "asha", "min_resource": 2, "max_resource": 18, "eta": 3},
            trainer_args={"optimizer": "sgd"},
            objective={"metric": "val_acc", "mode": "max"},
            seed=11,
        ),
        format="json",
    ).json()
    clone_spec = client.get(spec_url(Sweep.objects.get(pk=original["id"]))).json()
    assert clone_spec["name"] == "original (copy)"
    assert "start" not in clone_spec
    copy = client.post(reverse("api-sweeps"), clone_spec, format="json")
    assert copy.status_code == 201, copy.content
    copy = copy.json()
    assert {k: copy[k] for k in SETTINGS} == {k: original[k] for k in SETTINGS}
    assert copy["id"] != original["id"] and copy["name"] == "original (copy)"


def test_a_sweep_from_a_saved_space_clones_with_the_space_inline_and_its_origin(
    owner: Any, viewer: Any, client_for: Any
) -> None:
    saved = SearchSpace.objects.create(name="mlp", owner=owner)
    saved.replace_parameters(parse_space({"width": {"type": "int", "low": 8, "high": 64}}))
    client = client_for(owner)
    launched = client.post(
        reverse("api-sweeps"), spec(space=None, search_space=saved.pk), format="json"
    ).json()
    sweep = Sweep.objects.get(pk=launched["id"])
    # The saved space changes later; the clone searches what the sweep searched.
    saved.replace_parameters(parse_space({"width": {"type": "int", "low": 1, "high": 2}}))
    clone_spec = client.get(spec_url(sweep)).json()
    assert clone_spec["space"] == {"width": {"type": "int", "low": 8, "high": 64}}
    assert clone_spec["search_space"] == saved.pk
    copy = client.post(reverse("api-sweeps"), clone_spec, format="json").json()
    assert copy["space"] == launched["space"] and copy["search_space"] == saved.pk
    # A viewer of the sweep who may not see the saved space gets a spec they can launch.
    sweep.viewers.add(viewer)
    theirs = client_for(viewer).get(spec_url(sweep)).json()
    assert "search_space" not in theirs
    relaunched = client_for(viewer).post(reverse("api-sweeps"), theirs, format="json")
    assert relaunched.status_code == 201 and relaunched.json()["owner"] == viewer.username


def test_a_long_name_stays_within_the_column(owner: Any, client_for: Any) -> None:
    sweep = make_sweep(owner, name="n" * 200)
    name = client_for(owner).get(spec_url(sweep)).json()["name"]
    assert len(name) == 200 and name.endswith(" (copy)")


def test_the_spec_is_for_those_who_see_the_sweep(
    owner: Any, stranger: Any, client_for: Any
) -> None:
    sweep = make_sweep(owner)
    assert client_for(stranger).get(spec_url(sweep)).status_code == 404
    assert client_for(None).get(spec_url(sweep)).status_code == 401
    before = counts()
    assert client_for(owner).get(spec_url(sweep)).status_code == 200
    assert counts() == before
