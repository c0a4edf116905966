"""The one door through which the sweep domain hands work to Celery: tasks sent by name.

The workers' tasks live in :mod:`trainers`, above this package (``trainers`` -> ``sweeps``),
so the services name them instead of importing them; whichever worker registered the name
runs the task. One door also gives tests one seam: the root conftest's ``sent_tasks``
fixture records what passes here instead of talking to a broker.
"""

from __future__ import annotations

from typing import Any

from celery import current_app

RUN_SEGMENT = "rungs.run_segment"  # trainers.tasks.run_segment_task
CLEANUP_CHECKPOINTS = "rungs.cleanup_checkpoints"  # trainers.tasks.cleanup_checkpoints_task
ADVANCE_SWEEP = "rungs.advance_sweep"  # sweeps.tasks.advance_sweep_task
LR_RANGE_TEST = "rungs.lr_range_test"  # trainers.tasks.lr_range_test_task
FINAL_EVALUATION = "rungs.final_evaluation"  # trainers.tasks.final_evaluation_task


def send_task(name: str, *args: Any, queue: str | None = None) -> None:
    """Enqueue task ``name`` with ``args``; raises what the broker raises when it is down."""
    app = current_app
    options: dict[str, Any] = {"ignore_result": app.conf.task_ignore_result}
    if queue:
        options["queue"] = queue
    if app.conf.task_always_eager:
        # send_task ignores eager mode (RUNGS_CELERY_EAGER): run the registered task here, as
        # the task object's apply_async did before tasks were sent by name.
        app.loader.import_default_modules()
        app.tasks[name].apply_async(args, **options)
        return
    app.send_task(name, args=args, **options)
