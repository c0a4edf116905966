"""Run one segment of one trial on this worker: the glue between a trainer and the services.

:func:`run_segment` claims the segment (:func:`sweeps.services.begin_segment`; ``None``
means a stale or duplicate delivery and nothing happens), trains it with
:func:`execute_segment`, and reports the outcome to exactly one service function:

=====================================  ===========================================================
outcome                                reported with
=====================================  ===========================================================
budget reached                         ``finish_segment(value=<objective at the final step>)``
"stop" / "pause" decision              ``interrupt_segment`` (after a checkpoint)
the worker is shutting down            ``interrupt_segment(release=True)`` (after a checkpoint)
NaN / inf train loss or objective      ``fail_segment(diverged=True)``
CUDA out of memory                     ``fail_segment(retry=False)``
segment time limit                     ``fail_segment(reason="time limit ...", retry=False)``
missing/mismatched checkpoint, bad     ``fail_segment(retry=False)``
args, objective never reported
any other exception                    ``fail_segment(reason=<short traceback>, retry=True)``
=====================================  ===========================================================

Metric points are always flushed before the outcome is reported, so when the dashboard
hears that a rung finished, its points are already in the database.

A worker killed mid-segment: checkpoints are taken at the end of every epoch and recorded
with ``services.checkpoint_saved``; the reaper re-queues the trial from the last recorded
checkpoint and deletes the points it logged after that checkpoint's step, which the next
attempt logs again (training is deterministic from a checkpoint, so the curve is the same).
Points still in the killed worker's buffer were never written; they are re-logged the same
way. So a kill costs at most one epoch of training and leaves no gap and no duplicate.

A worker asked to stop (Ctrl-C or SIGTERM to ``manage.py up``, a deploy) sets
:data:`SHUTTING_DOWN`; the running segment then sees "pause" at its next decision, saves a
checkpoint and goes back to the queue, so the next worker resumes it from there instead of
waiting out its lease and repeating the epoch.

The time limit (``settings.SEGMENT_TIME_LIMIT``) is enforced here because workers use the
solo pool (Celery's own time limits need a prefork child to kill): the reporter checks the
deadline at every step, and a SIGALRM a little later interrupts a segment stuck inside one
step (only in the main thread, where Celery's solo pool runs tasks).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from sweeps.enums import Outcome
from trainers.checkpoints import CheckpointError, prune_trial
from trainers.device import Device, cuda_memory_guard, is_out_of_memory, select_device
from trainers.reporting import (
    CONTINUE,
    PAUSE,
    Diverged,
    Reporter,
    ReportError,
    TimeLimitExceeded,
    retry_db,
)
from trainers.session import DONE, ConsoleHook, Session

log = logging.getLogger(__name__)

DIVERGED, FAILED, RETRY = Outcome.DIVERGED, Outcome.FAILED, Outcome.RETRY
REASON_CHARS = 3000
# The SIGALRM backstop fires this long (or 10 % of the limit, if more) after the soft limit.
HARD_LIMIT_GRACE = 10.0
SHUTTING_DOWN = threading.Event()  # set by the worker's warm shutdown (trainers.tasks)


@dataclass(frozen=True)
class SegmentResult:
    """How a segment ended and where it got to."""

    outcome: str  # done | stop | pause | diverged | failed | retry
    step: int
    resource_done: float
    checkpoint: str
    value: float | None = None
    se: float | None = None  # the objective's standard error, if the trainer reported it
    reason: str = ""
    last_decision: str = CONTINUE
    pruned_to: str = ""  # the trial's files older than this one were deleted during the segment


def short_traceback(exc: BaseException, limit: int = REASON_CHARS) -> str:
    """The end of ``exc``'s traceback (where it was raised matters most), at most ``limit``."""
    text = "".join(traceback.format_exception(exc)).strip()
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


@contextlib.contextmanager
def hard_time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TimeLimitExceeded from a SIGALRM after ``seconds`` (main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"no step finished within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def execute_segment(
    spec: Any,
    *,
    heartbeat: Callable[[], str],
    write: Callable[[Any], object],
    nudge: Callable[[], object] = lambda: None,
    checkpoint_saved: Callable[[str, int, float], bool] | None = None,
    console: ConsoleHook | None = None,
    time_limit: float | None = None,
    device: Device | None = None,
    reporter_options: dict[str, Any] | None = None,
) -> SegmentResult:
    """Train the segment described by ``spec`` (a :class:`sweeps.services.SegmentSpec`).

    Touches no service function: the callables carry every effect, so tests drive it with
    fakes. Never raises for a training failure; the result says what happened.
    """
    from trainers.registry import get_trainer

    started = time.monotonic()
    limit = float(time_limit if time_limit is not None else settings.SEGMENT_TIME_LIMIT)
    reporter = Reporter(
        write=write,
        heartbeat=heartbeat,
        nudge=nudge,
        deadline=started + limit,
        **(reporter_options or {}),
    )
    session: Session | None = None

    def result(
        outcome: str, reason: str = "", value: float | None = None, se: float | None = None
    ) -> SegmentResult:
        try:
            reporter.flush()
        except Exception as exc:
            if outcome not in (DIVERGED, FAILED, RETRY):
                # Reporting success with points missing would lose them for good; a retry
                # resumes from the last recorded checkpoint and logs them again.
                outcome, value = RETRY, None
                reason = f"could not write metric points: {short_traceback(exc)}"
        s = session
        return SegmentResult(
            outcome=outcome,
            step=s.step if s else spec.step,
            resource_done=s.resource_done if s else spec.start_resource,
            checkpoint=(s.checkpoint_path if s else "") or spec.checkpoint,
            value=value,
            se=se,
            reason=reason,
            last_decision=reporter.last_decision,
            pruned_to=s.pruned_to if s else "",
        )

    try:
        trainer_cls = get_trainer(spec.trainer)
        args = trainer_cls.clean_args(spec.trainer_args)
        dev = device or select_device(
            str(args.get("precision", "auto")), prefer_cuda=trainer_cls.uses_gpu
        )
        session = Session(
            sweep_id=spec.sweep_id,
            trial_id=spec.trial_id,
            params=dict(spec.params),
            args=args,
            seed=spec.seed,
            device=dev,
            reporter=reporter,
            budget=float(spec.budget),
            start_resource=float(spec.start_resource),
            step=int(spec.step),
            attempt=int(spec.attempt),
            resource_unit=spec.resource_unit,
            horizon=float(spec.horizon),
            resume_from=spec.checkpoint,
            on_checkpoint=checkpoint_saved,
            console=console,
        )
        # The alarm is the backstop for a segment stuck inside one step; the reporter's
        # deadline check ends a normal segment first.
        with hard_time_limit(limit + max(HARD_LIMIT_GRACE, 0.1 * limit)), cuda_memory_guard(dev):
            trainer_cls().run(session)
    except Diverged as exc:
        return result(DIVERGED, str(exc))
    except TimeLimitExceeded as exc:
        at = f" at step {session.step}" if session else ""
        detail = f" ({exc})" if str(exc) else ""
        return result(FAILED, f"time limit of {limit:g} s per segment exceeded{at}{detail}")
    except CheckpointError as exc:
        return result(FAILED, f"cannot resume: {exc}")
    except ReportError as exc:  # a script's malformed report, a metric name no column holds
        return result(FAILED, str(exc))
    except ValueError as exc:  # bad params/args reach here as ValueError with the rule
        if getattr(exc, "errors", None):  # SpaceError: the sweep's args no longer validate
            return result(FAILED, f"invalid trainer arguments: {exc}")
        return result(RETRY, short_traceback(exc))
    except Exception as exc:
        if is_out_of_memory(exc):
            return result(FAILED, f"CUDA out of memory: {str(exc)[:500]}")
        log.exception("segment of trial %s failed", spec.trial_id)
        return result(RETRY, short_traceback(exc))

    if session.outcome not in (DONE, Outcome.STOP, Outcome.PAUSE):
        return result(FAILED, f"trainer {spec.trainer!r} returned without an outcome")
    if session.outcome != DONE:
        return result(session.outcome)
    metric = spec.objective_metric
    value = session.eval_metrics.get(metric, reporter.last.get(metric))
    if value is None:
        reported = sorted({*reporter.last, *session.eval_metrics})
        return result(
            FAILED,
            f"objective.metric {metric!r} was never reported by trainer {spec.trainer!r}; "
            f"it reports {reported}",
        )
    if not math.isfinite(value):
        return result(DIVERGED, f"{metric} was {value} at step {session.step}; the trial diverged")
    return result(DONE, value=value, se=session.eval_metrics.get(f"{metric}_se"))


def run_segment(trial_id: int, rung: int, attempt: int, worker: str) -> None:
    """Claim, train and report one segment (the body of the ``rungs.run_segment`` task)."""
    from sweeps import services
    from sweeps.ingest import append_console, write_points
    from sweeps.nudges import nudge_sweep

    spec = services.begin_segment(trial_id, rung, attempt, worker)
    if spec is None:
        log.info("segment trial=%s rung=%s attempt=%s is stale; skipped", trial_id, rung, attempt)
        return

    def recorded(path: str, step: int, resource_done: float) -> bool:
        return bool(
            retry_db(
                lambda: services.checkpoint_saved(
                    spec.trial_id,
                    spec.attempt,
                    resource_done=resource_done,
                    step=step,
                    checkpoint=path,
                ),
                "recording a checkpoint",
            )
        )

    options = {
        "flush_seconds": settings.RUNGS_METRIC_FLUSH_SECONDS,
        "decision_seconds": settings.RUNGS_DECISION_SECONDS,
        # The claim just found the trial running and renewed its lease: it is the first
        # heartbeat (a short segment then asks none at all), unless this worker is stopping.
        "decided": spec.decision == CONTINUE and not SHUTTING_DOWN.is_set(),
    }
    result = execute_segment(
        spec,
        reporter_options=options,
        heartbeat=lambda: (
            PAUSE if SHUTTING_DOWN.is_set() else services.heartbeat(spec.trial_id, spec.attempt)
        ),
        write=lambda points: write_points(
            spec.sweep_id, spec.trial_id, points, attempt=spec.attempt
        ),
        nudge=lambda: nudge_sweep(spec.sweep_id),
        checkpoint_saved=recorded,
        console=lambda text, code: retry_db(
            lambda: append_console(trial_id, rung, attempt, text, code), "keeping console output"
        ),
    )
    log.info(
        "trial %s rung %s attempt %s: %s at step %s %s",
        trial_id, rung, attempt, result.outcome, result.step, result.reason[:200],
    )  # fmt: skip
    progress = {
        "resource_done": result.resource_done,
        "step": result.step,
        "checkpoint": result.checkpoint,
    }
    # A report lost to a dropped connection would leave the segment to its lease, and a
    # retry; each service records a segment once, so asking again is safe.
    if result.outcome == DONE:
        retry_db(
            lambda: services.finish_segment(
                spec.trial_id,
                spec.attempt,
                spec.rung,
                value=result.value,
                se=result.se,
                **progress,
            ),  # fmt: skip
            "reporting a finished segment",
        )
        if result.last_decision == CONTINUE and result.checkpoint not in ("", result.pruned_to):
            # The database now names this file; the trial's older files can go (unless that
            # was done when its record landed, as for a trainer's own last checkpoint).
            prune_trial(spec.sweep_id, spec.trial_id, keep=result.checkpoint)
    elif result.outcome in (Outcome.STOP, Outcome.PAUSE):
        retry_db(
            lambda: services.interrupt_segment(
                spec.trial_id, spec.attempt, release=SHUTTING_DOWN.is_set(), **progress
            ),
            "reporting an interrupted segment",
        )
    else:
        retry_db(
            lambda: services.fail_segment(
                spec.trial_id,
                spec.attempt,
                reason=result.reason,
                diverged=result.outcome == DIVERGED,
                retry=result.outcome == RETRY,
            ),
            "reporting a failed segment",
        )
