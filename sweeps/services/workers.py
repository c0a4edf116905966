"""Workers as rows: a worker registers when it starts, beats while it lives, and says when it
stops; a launch asks whether any live worker can run the sweep's trainer.

The worker's side calls these from :mod:`trainers.workers`; what a worker is doing now is
read by :func:`sweeps.queries.worker_rows`.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from sweeps.leases import live_workers
from sweeps.models import Worker
from sweeps.search.space import SpaceError

# Stopped and lost workers are forgotten this long after their last heartbeat (keeps the
# list short; a restarted worker has a new pid, so a new row).
FORGET_AFTER = timedelta(days=1)
NO_WORKER = (
    "no worker is running: the sweep waits until one starts "
    "(python manage.py up, or celery -A dashboard worker)"
)


def register_worker(
    name: str,
    *,
    host: str,
    pid: int,
    device: str,
    gpu_name: str = "",
    trainers: list[str],
    broken: dict[str, str] | None = None,
) -> Worker:
    """Record a starting worker (insert, or refresh the row of the same ``name``), live
    from now; rows silent for a day are deleted on the way."""
    now = timezone.now()
    Worker.objects.filter(heartbeat_at__lt=now - FORGET_AFTER).exclude(name=name).delete()
    worker, _ = Worker.objects.update_or_create(
        name=name,
        defaults={
            "host": host,
            "pid": pid,
            "device": device,
            "gpu_name": gpu_name,
            "trainers": sorted(trainers),
            "broken": dict(broken or {}),
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
        },
    )
    return worker


def worker_heartbeat(name: str) -> bool:
    """Renew a live worker's heartbeat (one UPDATE); False if it has no live row (stopped,
    or never registered)."""
    return bool(
        Worker.objects.filter(name=name, stopped_at=None).update(heartbeat_at=timezone.now())
    )


def worker_stopped(name: str) -> None:
    """Record that the worker shut down (it is ``stopped`` from now, not ``lost``)."""
    now = timezone.now()
    Worker.objects.filter(name=name, stopped_at=None).update(stopped_at=now, heartbeat_at=now)


def launch_warnings(trainer: str) -> list[str]:
    """Check that a sweep of ``trainer`` can run now; what the launch should warn about.

    Raises SpaceError naming ``trainer`` when workers are live and none of them can run it
    (a sweep of failed trials otherwise). With no live worker at all the launch goes ahead,
    warned (``[NO_WORKER]``): workers may be starting, and the sweep waits for them.
    """
    live = list(live_workers().values_list("name", "trainers", "broken"))
    if not live:
        return [NO_WORKER]
    if any(trainer in (keys or []) for _, keys, _ in live):
        return []
    runnable = sorted({key for _, keys, _ in live for key in keys or []})
    message = (
        f"no live worker can run trainer {trainer!r}; live workers run: "
        f"{', '.join(runnable) or 'nothing'} "
        "(start a worker with it registered in the trainers file)"
    )
    reasons = [(name, broken[trainer]) for name, _, broken in live if trainer in (broken or {})]
    if reasons:
        name, reason = reasons[0]
        message += f"; worker {name} cannot load it: {reason}"
    raise SpaceError({"trainer": message})
