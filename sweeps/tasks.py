"""Celery tasks of the sweep domain. Thin: ids in, a service function does the work."""

from __future__ import annotations

import socket

from celery import shared_task


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
