"""A worker process keeps its row: registered with what it can run, renewed by a heartbeat,
marked stopped on shutdown, and never taken down by a database that is briefly away."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
import torch
from django.db import OperationalError

from sweeps import queries, services
from sweeps.models import Worker
from trainers import workers

pytestmark = pytest.mark.django_db


def test_the_name_is_what_a_segment_task_writes_into_the_trial() -> None:
    assert workers.worker_name("cpu0@box") == f"cpu0@box:{os.getpid()}"
    assert workers.worker_name(None) == f"{socket.gethostname()}:{os.getpid()}"


def test_the_first_beat_registers_the_trainers_this_process_can_run(toy_trainer: str) -> None:
    presence = workers.Presence("cpu0@box:1")
    presence.beat()
    row = Worker.objects.get(name="cpu0@box:1")
    assert {"toy", "synthetic", "digits-mlp"} <= set(row.trainers)
    assert row.host == socket.gethostname() and row.pid == os.getpid()
    assert (row.device, row.gpu_name) == workers.describe_device()
    assert row.broken == {}


def test_a_trainer_this_process_cannot_load_is_registered_as_broken_with_why(
    settings: Any,
) -> None:
    settings.RUNGS_TRAINERS = {"ghost": "no_such_module.train:train"}
    workers.Presence("cpu0@box:1").beat()
    row = Worker.objects.get()
    assert "ghost" not in row.trainers
    assert row.broken["ghost"].startswith("ModuleNotFoundError: No module named 'no_such_module'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU answer")
def test_without_cuda_the_device_is_the_cpu() -> None:
    assert workers.describe_device() == ("cpu", "")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_with_cuda_the_worker_names_its_gpu() -> None:
    device, gpu_name = workers.describe_device()
    assert device == "cuda:0" and gpu_name == torch.cuda.get_device_name(0) and gpu_name


def test_later_beats_renew_the_heartbeat_and_a_vanished_row_is_made_again() -> None:
    presence = workers.Presence("cpu0@box:1")
    presence.beat()
    first = Worker.objects.get().heartbeat_at
    presence.beat()
    assert Worker.objects.get().heartbeat_at > first
    Worker.objects.all().delete()
    presence.beat()
    assert Worker.objects.filter(name="cpu0@box:1", stopped_at=None).exists()


def test_a_database_that_is_away_costs_a_log_line_and_the_next_beat_registers(
    monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    real = services.register_worker

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "register_worker", down)
    presence = workers.Presence("cpu0@box:1")
    presence.beat()
    assert not presence.registered and not Worker.objects.exists()
    assert "cpu0@box:1 heartbeat failed" in caplog.text
    monkeypatch.setattr(services, "register_worker", real)
    presence.beat()
    assert presence.registered and Worker.objects.filter(name="cpu0@box:1").exists()
    monkeypatch.setattr(services, "worker_heartbeat", down)
    presence.beat()  # a failed renewal is logged too, and the row stays
    assert Worker.objects.filter(name="cpu0@box:1").exists()


def test_shutdown_marks_the_worker_stopped() -> None:
    presence = workers.Presence("cpu0@box:1")
    presence.beat()
    presence.shutdown()
    [row] = queries.worker_rows()
    assert row["state"] == "stopped"
    presence.beat()  # a beat after the stop does not bring it back
    assert queries.worker_rows()[0]["state"] == "stopped"
