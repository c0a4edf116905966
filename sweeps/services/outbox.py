"""Segments to the broker, with the database as the outbox.

A dispatched segment is a running trial with no worker; its ``heartbeat_at`` is the time it
was sent, or None when the send failed. :func:`resend_queued` (the reaper's round) sends
those again, so a broker outage delays segments instead of losing them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from sweeps import sending
from sweeps.models import Trial
from sweeps.states import TrialStatus

log = logging.getLogger(__name__)


def send_segments(segments: list[tuple[int, int, int]]) -> int:
    """Enqueue ``(trial, rung, attempt)`` segments; return how many the broker took.

    A segment whose send fails (the broker is down) is marked unsent in its row (a queued
    segment with no send time) and :func:`resend_queued` sends it again once the broker is
    back: the database, not the broker, is the outbox.
    """
    sent = 0
    for trial_id, rung, attempt in segments:
        try:
            sending.send_task(
                sending.RUN_SEGMENT, trial_id, rung, attempt, queue=settings.RUNGS_SEGMENT_QUEUE
            )
        except Exception as exc:
            log.warning(
                "could not send segment of trial %s (%s); it will be re-sent", trial_id, exc
            )
            Trial.objects.filter(pk=trial_id, attempt=attempt, worker="").update(heartbeat_at=None)
        else:
            sent += 1
    return sent


def resend_queued() -> int:
    """Send again the segments whose send failed, and those queued for longer than a lease
    (the broker may have lost them in a restart). A duplicate delivery is harmless: the first
    to claim the segment wins and the other finds it taken
    (:func:`~sweeps.services.segments.begin_segment`)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RUNGS_LEASE_SECONDS)
    queued = Trial.objects.filter(status=TrialStatus.RUNNING, worker="").filter(
        Q(heartbeat_at=None) | Q(heartbeat_at__lt=stale)
    )
    segments = list(queued.values_list("pk", "rung", "attempt"))
    for trial_id, _, attempt in segments:  # stamped first, so a failed send clears it again
        Trial.objects.filter(pk=trial_id, attempt=attempt, worker="").update(heartbeat_at=now)
    return send_segments(segments)
