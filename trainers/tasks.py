"""Celery tasks of the workers. Thin: ids in, a plain function does the work."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import shared_task
from celery.exceptions import Reject
from celery.signals import (
    worker_process_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)


@shared_task(name="rungs.run_segment", bind=True)
def run_segment_task(self: Any, trial_id: int, rung: int, attempt: int) -> None:
    """Train one segment of a trial (see :func:`trainers.runner.run_segment`)."""
    from trainers.runner import SHUTTING_DOWN, run_segment

    if SHUTTING_DOWN.is_set():  # taken during a warm shutdown: back to the queue, unclaimed
        raise Reject("worker shutting down", requeue=True)
    host = self.request.hostname or socket.gethostname()
    run_segment(trial_id, rung, attempt, worker=f"{host}:{os.getpid()}")


@shared_task(name="rungs.lr_range_test", bind=True)
def lr_range_test_task(self: Any, test_id: int) -> None:
    """Run a stored LR range test (see :func:`trainers.lr_range.run_stored_test`)."""
    from trainers.lr_range import run_stored_test

    host = self.request.hostname or socket.gethostname()
    run_stored_test(test_id, worker=f"{host}:{os.getpid()}")


@shared_task(name="rungs.final_evaluation")
def final_evaluation_task(evaluation_id: int) -> None:
    """Evaluate a sweep's chosen checkpoint on the test split (see trainers/evaluation.py)."""
    from trainers.evaluation import run_final_evaluation

    run_final_evaluation(evaluation_id)


@shared_task(name="rungs.cleanup_checkpoints")
def cleanup_checkpoints_task(sweep_id: int) -> list[int]:
    """Apply ``RUNGS_KEEP_CHECKPOINTS`` to a sweep (see :func:`trainers.checkpoints.cleanup_checkpoints`)."""
    from trainers.checkpoints import cleanup_checkpoints

    return cleanup_checkpoints(sweep_id)


@worker_shutting_down.connect
def release_running_segment(**_: object) -> None:
    """A warm shutdown waits for the running task: make that a checkpoint and a release
    within one step, not the rest of the segment (see :mod:`trainers.runner`)."""
    from trainers.runner import SHUTTING_DOWN

    SHUTTING_DOWN.set()


@worker_process_init.connect
def stop_logging_queries(**_: object) -> None:
    """``DEBUG`` (on by default, for the local site's error pages) shows nothing in a worker;
    there it only makes Django keep every query in memory and, on SQLite, quote each one's
    parameters with one more query: 11 % of a worker's samples in bench/overhead.py's
    one-step trials (py-spy)."""
    from django.conf import settings

    settings.DEBUG = False


@worker_ready.connect
def register_worker(sender: Any = None, **_: object) -> None:
    """This worker as a row, named as :func:`run_segment_task` names it in ``Trial.worker``
    (the sender is the consumer; its hostname is the Celery node name)."""
    from trainers.workers import worker_started

    worker_started(getattr(sender, "hostname", None))


@worker_shutdown.connect
def unregister_worker(**_: object) -> None:
    from trainers.workers import worker_stopping

    worker_stopping()
