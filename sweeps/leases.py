"""The lease: what has not beaten within ``RUNGS_LEASE_SECONDS`` is lost.

Shared by the read side (a worker's state, :mod:`sweeps.queries.workers`) and the services
(a launch asks which workers are live, :mod:`sweeps.services.workers`), so the rule is
written once and neither imports the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from sweeps.models import Worker


def lease_start(now: datetime | None = None) -> datetime:
    """The oldest heartbeat that still counts as live."""
    return (now or timezone.now()) - timedelta(seconds=settings.RUNGS_LEASE_SECONDS)


def live_workers(now: datetime | None = None) -> QuerySet[Worker]:
    """Workers that have not stopped and whose heartbeat is within the lease."""
    return Worker.objects.filter(stopped_at=None, heartbeat_at__gte=lease_start(now))
