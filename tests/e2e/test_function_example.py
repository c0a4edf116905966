"""The function-trainer example's Hyperband spec, run as written on a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sweeps import services
from sweeps.management.commands.launch import load_spec
from sweeps.models import MetricPoint, RungResult
from tests import workers
from tests.workers import ROOT, Worker, wait_done

pytestmark = pytest.mark.slow

REGISTERED = "fn-digits-mlp=examples.function_trainer.train:train"


@pytest.fixture
def fn_worker(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[Worker]:
    """A worker that has the example registered, as its README line says."""
    settings.RUNGS_TRAINERS = dict([REGISTERED.split("=", 1)])
    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    env = workers.test_database_env()  # imported by name, pytest would collect it
    env.update(
        RUNGS_TRAINERS=REGISTERED,
        RUNGS_HEARTBEAT_SECONDS="0.5",
        RUNGS_CHECKPOINT_DIR=str(tmp_path / "ckpt"),
    )
    w = Worker(env, tmp_path)
    w.start()
    yield w
    w.kill()


def test_the_function_example_runs_its_hyperband_spec(fn_worker: Worker, user: Any) -> None:
    spec = load_spec(ROOT / "examples" / "function_trainer" / "spec.yaml")
    sweep = wait_done(services.create_sweep(spec, user), 240, fn_worker)
    assert sweep.status == "completed", fn_worker.logs()
    trials = list(sweep.trials.all())
    assert len(trials) == spec["max_trials"]
    for trial in trials:
        names = set(MetricPoint.objects.filter(trial=trial).values_list("name", flat=True))
        assert {"train_loss", "grad_norm", "lr", "val_loss", "val_acc"} <= names, trial.number
        steps = list(
            MetricPoint.objects.filter(trial=trial, name="train_loss")
            .order_by("step")
            .values_list("step", flat=True)
        )
        # Promoted trials resumed from their checkpoints: one point per step, none twice.
        assert steps == list(range(1, trial.step + 1)), trial.number
    top = RungResult.objects.filter(sweep=sweep, budget=9.0).select_related("trial")
    assert top and all(r.trial.resource_done == 9.0 for r in top)
    assert all(r.trial.events.filter(kind="segment_started").count() >= 2 for r in top)
