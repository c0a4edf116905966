"""Celery tasks of the sweep domain. Thin: ids in, a service function does the work."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from celery import shared_task
from celery.signals import task_prerun, worker_ready, worker_shutdown
from django.conf import settings

log = logging.getLogger(__name__)


@shared_task(name="rungs.ping")
def ping() -> dict[str, str]:
    """Health check: a worker is consuming and can reach the database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok", "worker": socket.gethostname()}


@shared_task(name="rungs.advance_sweep")
def advance_sweep_task(sweep_id: int) -> None:
    from sweeps.services import advance_sweep

    advance_sweep(sweep_id)


def _reap_forever(stop: threading.Event) -> None:
    """Recover lost and unsent segments, at once on start (a restarted worker finds the leases
    of the processes it replaces) and then every second or so."""
    from django.db import close_old_connections

    from sweeps.services import reap_lost_segments, resend_queued

    interval = min(1.0, settings.RUNGS_LEASE_SECONDS / 3)
    while True:
        try:
            if reaped := reap_lost_segments():
                log.warning("re-queued or failed %d lost segment(s)", reaped)
            if resent := resend_queued():
                log.warning("re-sent %d queued segment(s)", resent)
        except Exception:  # the database may be restarting: try again next round
            log.exception("reaper round failed")
        finally:
            close_old_connections()
        if stop.wait(interval):
            return


_reaper_stop = threading.Event()


@worker_ready.connect
def start_reaper(**_: object) -> None:
    """Every worker reaps lost segments; row locks make concurrent reapers safe."""
    threading.Thread(
        target=_reap_forever, args=(_reaper_stop,), name="rungs-reaper", daemon=True
    ).start()


@worker_shutdown.connect
def stop_reaper(**_: object) -> None:
    _reaper_stop.set()


@task_prerun.connect
def check_connections(task: Any = None, **_: object) -> None:
    """What Django does before each request: drop a connection that is broken or too old.
    Not for a task run eagerly, inside its caller's transaction."""
    from django.db import close_old_connections

    if task is None or not getattr(task.request, "is_eager", False):
        close_old_connections()
