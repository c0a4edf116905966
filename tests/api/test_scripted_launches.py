"""The "Scripted launches" examples of the docs run exactly as written.

The section is read from README.md (``## Scripted launches``). Its ``bash`` blocks run in bash and its ``python`` blocks
in a fresh Python, with ``RUNGS_URL`` / ``RUNGS_TOKEN`` pointing at a live test server
(``console`` blocks are the reader's one-time set-up and are not run). The fast tests stand
in for the worker by finishing the sweep in the database; the slow one runs a real
Celery worker.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from sweeps.models import MetricPoint, Sweep, Trial

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Scripted launches"

pytestmark = pytest.mark.django_db(transaction=True)


def section() -> str:
    """The section's text, from its heading to the next heading of the same level."""
    text = (ROOT / "README.md").read_text()
    start = text.index(HEADING) + len(HEADING)
    following = re.search(r"^## ", text[start:], flags=re.M)
    return text[start : start + following.start()] if following else text[start:]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", section(), flags=re.M | re.S)


def run_example(lang: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    (code,) = blocks(lang)
    command = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable]
    result = subprocess.run(
        command,
        input=code if lang == "python" else None,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{lang} example failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def example_env(live_server: Any, owner: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNGS_")}
    env.update(
        RUNGS_URL=live_server.url,
        RUNGS_TOKEN=Token.objects.create(user=owner).key,
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture
def stand_in_worker() -> Iterator[None]:
    """Finishes every new sweep like a worker would: one completed trial with a curve."""
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                for sweep in Sweep.objects.filter(status="running"):
                    trial = Trial.objects.create(
                        sweep=sweep, number=1, params={"lr": 0.01, "momentum": 0.5},
                        status="completed", best_value=0.25, rung=2, budget=9,
                    )  # fmt: skip
                    MetricPoint.objects.bulk_create(
                        MetricPoint(
                            sweep=sweep,
                            trial=trial,
                            name="val_loss",
                            step=s,
                            value=1.0 / s,
                            time=time.time(),
                        )  # fmt: skip
                        for s in range(1, 10)
                    )
                    Sweep.objects.filter(pk=sweep.pk).update(status="completed")
                time.sleep(0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)


def test_the_section_has_a_curl_and_a_python_example() -> None:
    (bash,) = blocks("bash")
    (python,) = blocks("python")
    assert "curl" in bash and "/api/sweeps/" in bash
    assert "from sweeps.client import Client" in python and "client.launch(" in python


def test_the_curl_example_launches_and_exports(
    example_env: dict[str, str], owner: Any, tmp_path: Path, sent_tasks: list[Any]
) -> None:
    result = run_example("bash", example_env, tmp_path)
    sweep = Sweep.objects.get(name="lr search")
    assert sweep.owner == owner and sweep.trainer == "synthetic"
    assert sweep.status == "running" and sweep.max_trials == 9
    assert f'"id":{sweep.pk}' in result.stdout.replace(" ", "")
    frame = pd.read_csv(tmp_path / f"sweep-{sweep.pk}.csv")
    assert "trial_id" in frame.columns
    assert ("rungs.advance_sweep", (sweep.pk,)) in sent_tasks


def test_the_python_example_launches_waits_and_reads_the_winner(
    example_env: dict[str, str], tmp_path: Path, stand_in_worker: None
) -> None:
    result = run_example("python", example_env, tmp_path)
    sweep = Sweep.objects.get(name="lr search (python)")
    assert sweep.status == "completed"
    assert "completed" in result.stdout and "best value: 0.25" in result.stdout
    assert "best params: {'lr': 0.01, 'momentum': 0.5}" in result.stdout
    frame = pd.read_parquet(io.BytesIO((tmp_path / "sweep.parquet").read_bytes()))
    assert frame["number"].tolist() == [1]


@pytest.fixture
def real_worker(tmp_path: Path, settings: Any) -> Iterator[Any]:
    from tests.workers import Worker, test_database_env

    env = test_database_env()
    env.update(RUNGS_CHECKPOINT_DIR=str(tmp_path / "ckpt"), RUNGS_HEARTBEAT_SECONDS="0.5")
    settings.RUNGS_CHECKPOINT_DIR = tmp_path / "ckpt"
    worker = Worker(env, tmp_path)
    worker.start()
    yield worker
    worker.kill()


@pytest.mark.slow
def test_both_examples_on_a_real_worker(
    real_worker: Any, example_env: dict[str, str], tmp_path: Path
) -> None:
    run_example("bash", example_env, tmp_path)
    result = run_example("python", example_env, tmp_path)
    sweep = Sweep.objects.get(name="lr search (python)")
    assert sweep.status == "completed", real_worker.logs()
    assert sweep.trials.count() == 9
    assert f"best value: {sweep.trials.order_by('best_value')[0].best_value}" in result.stdout
    assert pd.read_parquet(tmp_path / "sweep.parquet")["number"].tolist() == list(range(1, 10))
