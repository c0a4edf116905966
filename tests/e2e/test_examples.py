"""The README's two examples, launched exactly as it shows, on a real Celery worker: the
training function and the argparse script, each a Hyperband sweep to completion; and a
script trial killed and paused mid-epoch."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sweeps import services
from sweeps.management.commands.launch import load_spec
from sweeps.models import MetricPoint, RungResult, SegmentLog, Sweep, Trial
from tests import workers
from tests.workers import ROOT, Worker, wait_done, wait_for

pytestmark = pytest.mark.slow

TRAINERS_FILE = "examples/trainers.yaml"  # as the README sets it, from the project root


@pytest.fixture
def example_worker(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[Worker]:
    """A worker started with the examples' trainers file, as the README starts one."""
    settings.RUNGS_TRAINERS_FILE = ROOT / TRAINERS_FILE
    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    env = workers.test_database_env()  # imported by name, pytest would collect it
    env.update(
        RUNGS_TRAINERS_FILE=TRAINERS_FILE,
        RUNGS_HEARTBEAT_SECONDS="0.5",
        RUNGS_CHECKPOINT_DIR=str(tmp_path / "ckpt"),
    )
    w = Worker(env, tmp_path)
    w.start()
    wait_for(lambda: _registered(w), 60, "the worker to register", w)
    yield w
    w.kill()


def _registered(worker: Worker) -> bool:
    from sweeps.models import Worker as WorkerRow

    return WorkerRow.objects.filter(pid=worker.proc.pid, stopped_at=None).exists()


def steps_of(trial: Trial) -> list[int]:
    return list(
        MetricPoint.objects.filter(trial=trial, name="train_loss")
        .order_by("step")
        .values_list("step", flat=True)
    )


@pytest.mark.parametrize("example", ["function_trainer", "script_trainer"])
def test_an_example_runs_its_hyperband_spec(
    example_worker: Worker, user: Any, example: str
) -> None:
    spec_file = f"examples/{example}/spec.yaml"
    launched = subprocess.run(
        [sys.executable, "manage.py", "launch", spec_file, "--user", user.username, "--wait"],
        cwd=ROOT, env=example_worker.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stdout + launched.stderr + example_worker.logs()
    spec = load_spec(ROOT / spec_file)
    sweep = Sweep.objects.get(name=spec["name"])
    assert sweep.status == "completed"
    trials = list(sweep.trials.all())
    assert len(trials) == spec["max_trials"]
    for trial in trials:
        names = set(MetricPoint.objects.filter(trial=trial).values_list("name", flat=True))
        assert {"train_loss", "grad_norm", "lr", "val_loss", "val_acc"} <= names, trial.number
        # Promoted trials resumed from their checkpoints: one point per step, none twice.
        assert steps_of(trial) == list(range(1, trial.step + 1)), trial.number
    top = RungResult.objects.filter(sweep=sweep, budget=9.0).select_related("trial")
    assert top and all(r.trial.resource_done == 9.0 for r in top)
    assert all(r.trial.events.filter(kind="segment_started").count() >= 2 for r in top)
    logs = SegmentLog.objects.filter(trial__sweep=sweep)
    if example == "script_trainer":  # its console, per segment, with each epoch's line
        assert logs.count() == sum(t.events.filter(kind="segment_started").count() for t in trials)
        assert all(log.exit_code == 0 and "val_loss" in log.text for log in logs)
        # Readable on the trial's page and through the API, by its owner.
        client = Client()
        client.force_login(user)
        trial = top[0].trial
        page = client.get(f"/sweeps/{sweep.pk}/trials/{trial.number}/").content.decode()
        api = client.get(f"/api/trials/{trial.pk}/logs/").json()
        assert [(s["rung"], s["exit_code"]) for s in api][-1] == (trial.rung, 0)
        [last_epoch] = [
            line for line in api[-1]["text"].splitlines() if line.startswith("epoch 9:")
        ]
        assert last_epoch in page  # the script's own print, as on its console
    else:
        assert not logs.exists()


def _training(sweep: Sweep, pk: int | None = None) -> Trial | None:
    """A trial of ``sweep`` (or trial ``pk``) that has logged steps past its last checkpoint."""
    running = Trial.objects.filter(sweep=sweep, status="running").exclude(worker="")
    for trial in running.filter(pk=pk) if pk else running:
        if trial.step > 0 and MetricPoint.objects.filter(trial=trial, step__gt=trial.step).exists():
            return trial
    return None


def test_a_script_trial_is_killed_and_paused_within_two_seconds(
    example_worker: Worker, user: Any
) -> None:
    spec = load_spec(ROOT / "examples/script_trainer/spec.yaml")
    spec.update(name="script steering", scheduler={"name": "fifo", "max_resource": 400},
                max_trials=2, concurrency=1)  # fmt: skip
    sweep = services.create_sweep(spec, user)
    # Pause mid-epoch: the script checkpoints where SIGTERM finds it and frees its worker.
    paused = wait_for(lambda: _training(sweep), 90, "a trial past its first epoch", example_worker)
    asked = time.monotonic()
    services.pause_trial(paused.pk, user)
    wait_for(lambda: Trial.objects.get(pk=paused.pk).worker == "", 10, "the pause", example_worker)
    assert time.monotonic() - asked < 2.0 + 0.5  # + this test's 0.2 s polling and the DB
    paused.refresh_from_db()
    assert paused.status == "paused" and steps_of(paused) == list(range(1, paused.step + 1))
    # Resumed, it continues from that step; then killed, it stops as fast.
    services.resume_trial(paused.pk, user)
    wait_for(lambda: _training(sweep, paused.pk), 90, "it to train again", example_worker)
    asked = time.monotonic()
    services.kill_trial(paused.pk, user)
    wait_for(lambda: Trial.objects.get(pk=paused.pk).worker == "", 10, "the kill", example_worker)
    assert time.monotonic() - asked < 2.0 + 0.5
    killed = Trial.objects.get(pk=paused.pk)
    assert killed.status == "killed" and steps_of(killed) == list(range(1, killed.step + 1))
    # The other trial trained to the end, so the sweep has a winner.
    assert wait_done(sweep, 60, example_worker).status == "completed"
