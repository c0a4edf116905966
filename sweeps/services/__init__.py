"""Every state change of sweeps and trials goes through a function here.

Each function works inside ``transaction.atomic()`` on rows locked with
``select_for_update``, records an :class:`~sweeps.models.Event` (with the user for manual
actions), and only after commit enqueues Celery work and nudges live pages. A steering
action that lost a race against the scheduler (the trial moved on meanwhile) raises
:class:`Conflict`, which the API turns into 409.

One module per job, all of it re-exported here (call ``services.<name>``, so a test that
patches the name here reaches every caller that goes through the package):

- :mod:`~sweeps.services.sweeps`: a sweep's own life (create, start, pause, resume, cancel,
  update);
- :mod:`~sweeps.services.trials`: steering one trial by hand (kill, pause, resume, promote,
  extend, enqueue);
- :mod:`~sweeps.services.segments`: the worker's side of a segment, its retries and the
  reaper of lost ones;
- :mod:`~sweeps.services.outbox`: segments to the broker, re-sent from the database;
- :mod:`~sweeps.services.turns`: the sweep's turn (:func:`advance_sweep`) and its end.
"""

from __future__ import annotations

from sweeps.services.outbox import resend_queued, send_segments
from sweeps.services.segments import (
    HEARTBEAT_WRITE_EVERY,
    SegmentSpec,
    begin_segment,
    checkpoint_saved,
    fail_segment,
    finish_segment,
    forget_checkpoint,
    heartbeat,
    interrupt_segment,
    reap_lost_segments,
)
from sweeps.services.sweeps import (
    cancel_sweep,
    create_sweep,
    pause_sweep,
    resume_sweep,
    start_sweep,
    update_sweep,
)
from sweeps.services.trials import (
    enqueue_trial,
    extend_trial,
    kill_trial,
    pause_trial,
    promote_trial,
    resume_trial,
)
from sweeps.services.turns import advance_sweep
from sweeps.transitions import Conflict, move_status, record_event

__all__ = [
    "HEARTBEAT_WRITE_EVERY",
    "Conflict",
    "SegmentSpec",
    "advance_sweep",
    "begin_segment",
    "cancel_sweep",
    "checkpoint_saved",
    "create_sweep",
    "enqueue_trial",
    "extend_trial",
    "fail_segment",
    "finish_segment",
    "forget_checkpoint",
    "heartbeat",
    "interrupt_segment",
    "kill_trial",
    "move_status",
    "pause_sweep",
    "pause_trial",
    "promote_trial",
    "reap_lost_segments",
    "record_event",
    "resend_queued",
    "resume_sweep",
    "resume_trial",
    "send_segments",
    "start_sweep",
    "update_sweep",
]
