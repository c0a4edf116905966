"""POST /api/sweeps/plan/: the dry run of a launch, validated by the launch's own code,
creating nothing; and `manage.py launch --dry-run`, which prints the same plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from sweeps.services.workers import NO_WORKER
from tests.api.factories import counts, spec
from tests.factories import make_worker

pytestmark = pytest.mark.django_db
PLAN = "/api/sweeps/plan/"
R27 = {"name": "hyperband", "min_resource": 1, "max_resource": 27, "eta": 3}


def test_the_route_is_named_and_needs_a_login(client_for: Any) -> None:
    assert reverse("api-sweep-plan") == PLAN
    assert client_for(None).post(PLAN, spec(), format="json").status_code == 401


def test_a_plan_creates_nothing_and_sends_nothing(
    owner: Any, client_for: Any, sent_tasks: list[Any]
) -> None:
    before = counts()
    response = client_for(owner).post(PLAN, spec(), format="json")
    assert response.status_code == 200, response.content
    assert counts() == before and sent_tasks == []
    body = response.json()
    assert set(body) == {"plan", "warnings", "spec"}
    plan = body["plan"]
    # The toy spec: hyperband over 1, 3, 9 epochs, 12 trials -> the brackets s=2 (9 @1,
    # 3 @3, 1 @9) and s=1 (3 @3, 1 @9).
    assert plan["scheduler"] == "hyperband" and plan["unit"] == "epochs"
    assert plan["max_trials"] == 12
    assert [
        [(r["rung"], r["trials"], r["budget"]) for r in b["rungs"]] for b in plan["brackets"]
    ] == [[(0, 9, 1.0), (1, 3, 3.0), (2, 1, 9.0)], [(1, 3, 3.0), (2, 1, 9.0)]]
    assert plan["full_budget_trials"] == 2
    assert plan["total_budget"] == 9 * 1 + 3 * 2 + 1 * 6 + 3 * 3 + 1 * 6
    assert plan["text"]
    assert NO_WORKER in body["warnings"]


def test_too_few_trials_for_the_first_bracket_is_warned(owner: Any, client_for: Any) -> None:
    body = client_for(owner).post(PLAN, spec(scheduler=R27, max_trials=25), format="json").json()
    assert body["plan"]["full_budget_trials"] == 0
    [warning] = [w for w in body["warnings"] if w != NO_WORKER]
    assert "max_trials is 25" in warning and "needs 27 trials" in warning


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_trials": 0},
        {"scheduler": {"name": "hyperband", "eta": 1, "min_resource": 1, "max_resource": 9}},
        {"space": {"lr": {"type": "float", "low": 1, "high": 0}}},
        {"trainer": "nope"},
        {"objective": {"mode": "up"}},
        {"bogus": 1},
        {"search_space": 999999, "space": None},
    ],
)
def test_bad_specs_get_the_launchs_own_errors(
    overrides: dict[str, Any], owner: Any, client_for: Any, sent_tasks: list[Any]
) -> None:
    client = client_for(owner)
    planned = client.post(PLAN, spec(**overrides), format="json")
    launched = client.post(reverse("api-sweeps"), spec(**overrides), format="json")
    assert planned.status_code == launched.status_code == 400
    assert planned.json() == launched.json()
    assert counts()["sweeps"] == 0 and sent_tasks == []


def test_a_body_that_is_not_an_object_is_400(owner: Any, client_for: Any) -> None:
    response = client_for(owner).post(PLAN, [1, 2], format="json")
    assert response.status_code == 400 and "body" in response.json()["errors"]


def test_a_trainer_no_live_worker_runs_is_an_error_on_trainer(owner: Any, client_for: Any) -> None:
    make_worker("cpu0@a:1", ["synthetic"])
    response = client_for(owner).post(PLAN, spec(), format="json")
    assert response.status_code == 400
    assert "no live worker can run trainer 'toy'" in response.json()["errors"]["trainer"]
    make_worker("cpu1@a:2", ["toy"])
    body = client_for(owner).post(PLAN, spec(), format="json").json()
    assert NO_WORKER not in body["warnings"]


def test_the_cleaned_spec_launches_the_same_sweep(owner: Any, client_for: Any) -> None:
    client = client_for(owner)
    short = {"name": "short", "trainer": "toy", "max_trials": 5}
    cleaned = client.post(PLAN, short, format="json").json()["spec"]
    assert cleaned["scheduler"]["name"] == "hyperband"  # the default, filled in
    assert cleaned["trainer_args"]["batch_size"] == 32  # the toy trainer's default
    created = client.post(reverse("api-sweeps"), cleaned, format="json")
    assert created.status_code == 201, created.content
    direct = client.post(reverse("api-sweeps"), short, format="json").json()
    keys = ("trainer", "trainer_args", "space", "sampler", "scheduler", "max_trials", "seed")
    assert {k: created.json()[k] for k in keys} == {k: direct[k] for k in keys}


def test_a_small_grid_caps_the_trials(owner: Any, client_for: Any) -> None:
    grid = {
        "layers": {"type": "int", "low": 1, "high": 4},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
    }
    body = (
        client_for(owner)
        .post(
            PLAN,
            spec(space=grid, sampler={"name": "grid"}, scheduler=R27, max_trials=100),
            format="json",
        )
        .json()
    )
    assert body["plan"]["trials"] == 8 and body["plan"]["max_trials"] == 100
    assert any("the grid has only 8 configurations" in w for w in body["warnings"])


# --- manage.py launch --dry-run ---------------------------------------------------------------


def _spec_file(tmp_path: Path, **overrides: Any) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec(**overrides)))
    return path


def test_launch_dry_run_prints_the_table_and_creates_nothing(
    tmp_path: Path, owner: Any, capsys: Any, sent_tasks: list[Any]
) -> None:
    before = counts()
    call_command(
        "launch", str(_spec_file(tmp_path, scheduler=R27, max_trials=25)), "--dry-run",
        "--user", owner.username,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert counts() == before and sent_tasks == []
    lines = out.splitlines()
    assert lines[0].startswith("Hyperband over rungs of 1, 3, 9, 27 epochs")
    rows = [line.split() for line in lines if line.strip() and line.split()[0].isdigit()]
    assert rows == [["0", "0", "25", "1"], ["0", "1", "8", "3"], ["0", "2", "2", "9"],
                    ["0", "3", "0", "27"]]  # fmt: skip
    assert any(line.startswith("warning: max_trials is 25") for line in lines)
    assert "nothing was created" in out


def test_launch_dry_run_reports_a_bad_spec_by_field(tmp_path: Path, owner: Any) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("launch", str(_spec_file(tmp_path, max_trials=0)), "--dry-run")
    assert "max_trials" in str(caught.value)
    assert counts()["sweeps"] == 0
