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
- :mod:`~sweeps.services.evaluation`: the final evaluation on the test set, once per sweep;
- :mod:`~sweeps.services.lr_range`: LR range tests (created, claimed, finished, failed);
- :mod:`~sweeps.services.outbox`: segments to the broker, re-sent from the database;
- :mod:`~sweeps.services.spaces`: saved search spaces (create, update, delete);
- :mod:`~sweeps.services.sharing`: who a sweep or a saved space is shared with;
- :mod:`~sweeps.services.turns`: the sweep's turn (:func:`advance_sweep`) and its end;
- :mod:`~sweeps.services.workers`: workers as rows (register, heartbeat, stop) and the
  launch's question whether a live worker can run the trainer.
"""

from __future__ import annotations

from sweeps.services.evaluation import (
    claim_final_evaluation,
    finish_final_evaluation,
    offers_final_evaluation,
    request_final_evaluation,
)
from sweeps.services.lr_range import (
    claim_range_test,
    create_range_test,
    fail_range_test,
    finish_range_test,
)
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
from sweeps.services.sharing import share_space, share_sweep, sharing
from sweeps.services.spaces import create_space, delete_space, update_space
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
from sweeps.services.workers import (
    launch_warnings,
    register_worker,
    worker_heartbeat,
    worker_stopped,
)
from sweeps.transitions import Conflict, move_status, record_event

__all__ = [
    "claim_final_evaluation",
    "finish_final_evaluation",
    "offers_final_evaluation",
    "request_final_evaluation",
    "claim_range_test",
    "create_range_test",
    "fail_range_test",
    "finish_range_test",
    "HEARTBEAT_WRITE_EVERY",
    "Conflict",
    "SegmentSpec",
    "advance_sweep",
    "begin_segment",
    "cancel_sweep",
    "checkpoint_saved",
    "create_space",
    "create_sweep",
    "delete_space",
    "enqueue_trial",
    "extend_trial",
    "fail_segment",
    "finish_segment",
    "forget_checkpoint",
    "heartbeat",
    "interrupt_segment",
    "kill_trial",
    "launch_warnings",
    "move_status",
    "pause_sweep",
    "pause_trial",
    "promote_trial",
    "reap_lost_segments",
    "record_event",
    "share_space",
    "share_sweep",
    "sharing",
    "register_worker",
    "resend_queued",
    "resume_sweep",
    "resume_trial",
    "send_segments",
    "start_sweep",
    "update_space",
    "update_sweep",
    "worker_heartbeat",
    "worker_stopped",
]
