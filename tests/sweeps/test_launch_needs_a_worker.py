"""A launch is refused when workers are live and none can run its trainer; with no live
worker at all it goes ahead, with a warning (``services.launch_warnings``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sweeps import services
from sweeps.models import Event, Sweep
from sweeps.search.space import SpaceError
from tests.factories import make_worker

pytestmark = pytest.mark.django_db

SPEC = {
    "name": "needs a worker", "trainer": "synthetic", "trainer_args": {"steps_per_epoch": 5},
    "scheduler": {"name": "fifo", "max_resource": 2}, "max_trials": 2, "concurrency": 1,
}  # fmt: skip


def test_live_workers_without_the_trainer_refuse_the_launch_and_nothing_is_created(
    user: Any, sent_tasks: list[Any]
) -> None:
    make_worker("cpu0@a:1", ["digits-mlp", "toy"])
    make_worker("cpu1@b:2", ["mnist1d-cnn"], broken={"synthetic": "ImportError: no numpy"})
    make_worker("old@c:3", ["synthetic"], stopped=True, beat_age=60)  # stopped: does not count
    make_worker("lost@d:4", ["synthetic"], beat_age=3600)  # lost: does not count
    with pytest.raises(SpaceError) as refused:
        services.create_sweep(SPEC, user)
    message = refused.value.errors["trainer"]
    assert message.startswith(
        "no live worker can run trainer 'synthetic'; live workers run: digits-mlp, mnist1d-cnn, toy"
    )
    assert "trainers file" in message
    assert "worker cpu1@b:2 cannot load it: ImportError: no numpy" in message
    assert not Sweep.objects.exists() and not Event.objects.exists()
    assert sent_tasks == []


def test_one_live_worker_with_the_trainer_is_enough(user: Any) -> None:
    make_worker("cpu0@a:1", ["digits-mlp"])
    make_worker("cpu1@b:2", ["synthetic"])
    sweep = services.create_sweep(SPEC, user)
    assert sweep.warnings == []


def test_with_no_live_worker_the_sweep_is_created_and_warned(user: Any) -> None:
    make_worker("lost@d:4", ["digits-mlp"], beat_age=3600)
    sweep = services.create_sweep(SPEC, user)
    assert sweep.status == "running"
    assert sweep.warnings == [services.workers.NO_WORKER]
    assert sweep.warnings[0].startswith("no worker is running: ")


def test_a_bad_spec_is_refused_for_itself_before_workers_are_asked(user: Any) -> None:
    make_worker("cpu0@a:1", ["digits-mlp"])
    with pytest.raises(SpaceError) as refused:
        services.create_sweep({**SPEC, "trainer": "nope"}, user)
    assert refused.value.errors["trainer"].startswith("unknown trainer 'nope'")


def spec_file(tmp_path: Path) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return str(path)


def test_launch_prints_the_warning_to_stderr(tmp_path: Path, user: Any, capsys: Any) -> None:
    call_command("launch", spec_file(tmp_path), "--user", user.username)
    out, err = capsys.readouterr()
    assert "created" in out and "no worker is running" not in out
    assert err.startswith("warning: no worker is running: ")


def test_launch_names_the_trainer_when_no_live_worker_can_run_it(tmp_path: Path, user: Any) -> None:
    make_worker("cpu0@a:1", ["digits-mlp"])
    with pytest.raises(CommandError, match="trainer: no live worker can run trainer 'synthetic'"):
        call_command("launch", spec_file(tmp_path), "--user", user.username)
    assert not Sweep.objects.exists()
