"""The reporter: how a training loop logs metrics and learns whether to go on.

Every trainer reports through one :class:`Reporter`:

* per optimizer step ``train_loss``, ``grad_norm`` (global L2 norm of the gradients before
  any clipping), ``lr`` and ``samples_per_s``; per evaluation ``val_loss``, ``val_acc`` (and
  ``gpu_mem_mb`` on CUDA) -- or whatever a trainer logs with :meth:`Reporter.log`;
* points are buffered and written in batches, bounded by time (``flush_seconds``) and by
  count (``flush_points``), and always at :meth:`Reporter.flush`. A batch goes at the step
  nearest ``flush_seconds`` after the last write, not at the first step past it: with steps
  every 10 ms and a 20 ms interval the oldest point then waits 10 ms, where a step landing
  a hair early made it wait 20 ms (writes still come once per ``flush_seconds`` on
  average); writes are followed by a
  nudge so live pages read the new points at once (at most one per ``nudge_seconds`` while
  full batches stream in);
* :meth:`Reporter.step` returns the current decision (``continue``, ``stop``, ``pause``).
  The decision comes from the heartbeat, asked at most every ``decision_seconds`` and cached
  in between, so a kill or pause is obeyed at the first step after it is seen while the
  database sees one query per ``decision_seconds`` whatever the step rate;
* a non-finite train loss raises :class:`Diverged` (after the point is buffered, so the
  curve shows where it happened).

The reporter takes its three effects (write, nudge, heartbeat) as callables, so it is tested
without a database; :func:`trainers.runner.run_segment` wires them to
:func:`sweeps.ingest.write_points`, :func:`sweeps.nudges.nudge_sweep` and
:func:`sweeps.services.heartbeat`.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DatabaseError, close_old_connections, connections

from sweeps.enums import SegmentDecision
from sweeps.ingest import metric_name_error

log = logging.getLogger(__name__)

CONTINUE, STOP, PAUSE = SegmentDecision.CONTINUE, SegmentDecision.STOP, SegmentDecision.PAUSE
DECISIONS = tuple(d.value for d in SegmentDecision)  # values: they appear in an error message
STEP_METRICS = ("train_loss", "grad_norm", "lr", "samples_per_s")

Point = tuple[str, int, float | None, float]
WriteFn = Callable[[Sequence[Point]], object]
HeartbeatFn = Callable[[], str]


class ReportError(ValueError):
    """A trainer reported something that cannot be stored (the message says what)."""


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, metric: str, value: float, step: int) -> None:
        self.metric, self.value, self.step = metric, value, step
        super().__init__(f"{metric} was {value} at step {step}; the trial diverged")


class TimeLimitExceeded(Exception):
    """A segment ran longer than ``settings.SEGMENT_TIME_LIMIT``."""


def retry_db(call: Callable[[], Any], what: str, attempts: int = 3) -> Any:
    """Run ``call``; on a dropped database connection reconnect and try again.

    Workers live for days without Django's request cycle, so nothing else notices that
    PostgreSQL closed a connection (a restart, an idle timeout): the next query fails once
    with an OperationalError/InterfaceError, and a fresh connection fixes it.
    """
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except DatabaseError:
            if attempt == attempts:
                raise
            log.warning("%s failed (attempt %d), reconnecting", what, attempt, exc_info=True)
            for conn in connections.all(initialized_only=True):
                if not conn.in_atomic_block:
                    conn.close()
            close_old_connections()
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


class Reporter:
    """Buffers metric points of one trial and caches the steering decision.

    ``write`` persists a batch (all or nothing; retried on a dropped connection), ``nudge``
    tells live pages, ``heartbeat`` renews the lease and returns the decision. ``deadline``
    (a ``clock()`` value) makes :meth:`decision` raise :class:`TimeLimitExceeded` once passed;
    ``decided``: the caller has just heard "continue" (see :meth:`decision`).
    """

    def __init__(
        self,
        *,
        write: WriteFn,
        heartbeat: HeartbeatFn,
        nudge: Callable[[], object] = lambda: None,
        flush_seconds: float = 0.25,
        flush_points: int = 2000,
        decision_seconds: float = 0.2,
        nudge_seconds: float = 0.025,
        deadline: float | None = None,
        decided: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if flush_points < 1:
            raise ValueError(f"flush_points must be >= 1, got {flush_points}")
        self._write, self._heartbeat, self._nudge = write, heartbeat, nudge
        self.flush_seconds, self.flush_points = flush_seconds, flush_points
        self.decision_seconds = decision_seconds
        self.nudge_seconds = nudge_seconds
        self._nudged_at: float | None = None
        self._nudge_owed = False
        self.deadline = deadline
        self._clock, self._wall = clock, wall_clock
        self._buffer: list[Point] = []
        now = clock()
        self._last_flush = now
        self._logged: tuple[int, float] | None = None  # (step, clock) of the latest log
        self._gap = 0.0  # clock time between the latest two steps logged
        self._decision = CONTINUE
        # ``decided``: "continue" was just learned (a segment's claim is its first heartbeat),
        # so the first heartbeat is due one interval from now, not at the first step.
        self._decided_at: float | None = now if decided else None
        # (clock, cumulative samples) of recent steps: throughput over a short window is
        # steadier than step-to-step timing and still follows a slowdown within a second.
        self._window: deque[tuple[float, int]] = deque(maxlen=33)
        self._samples = 0
        self.last: dict[str, float] = {}
        self.last_step: dict[str, int] = {}
        self.written = 0
        self.heartbeats = 0

    # --- logging -----------------------------------------------------------------------------

    def log(self, step: int, **metrics: float | None) -> None:
        """Buffer one point per metric at ``step``; flush if the batch is full or old."""
        at = self._wall()
        now = self._clock()
        if self._logged is not None and step != self._logged[0]:
            self._gap = now - self._logged[1]
        self._logged = (step, now)
        for name in metrics:
            if name not in self.last and (error := metric_name_error(name)):
                raise ReportError(error)
        for name, value in metrics.items():
            v = None if value is None else float(value)
            self._buffer.append((name, step, v, at))
            if v is not None:
                self.last[name] = v
                self.last_step[name] = step
        self._maybe_flush()

    def step(
        self,
        step: int,
        *,
        train_loss: float,
        grad_norm: float | None,
        lr: float,
        samples: int,
        **extra: float | None,
    ) -> str:
        """Report one optimizer step; return the decision to act on before the next step.

        Raises :class:`Diverged` when ``train_loss`` is NaN or infinite (the point is
        buffered first), and :class:`TimeLimitExceeded` past the deadline.
        """
        now = self._clock()
        self._samples += samples
        self._window.append((now, self._samples))
        rate = None  # a loop that counts no samples logs no throughput, not a flat zero
        if self._samples and len(self._window) > 1:
            t0, s0 = self._window[0]
            if now > t0:
                rate = (self._samples - s0) / (now - t0)
        self.log(
            step,
            train_loss=train_loss,
            grad_norm=grad_norm,
            lr=lr,
            samples_per_s=rate,
            **extra,
        )
        if not math.isfinite(train_loss):
            raise Diverged("train_loss", train_loss, step)
        return self.decision()

    # --- steering ----------------------------------------------------------------------------

    def decision(self, *, force: bool = False) -> str:
        """The cached decision, refreshed from the heartbeat when older than the interval."""
        now = self._clock()
        if self.deadline is not None and now > self.deadline:
            raise TimeLimitExceeded()
        if force or self._decided_at is None or now - self._decided_at >= self.decision_seconds:
            decision = retry_db(self._heartbeat, "heartbeat")
            if decision not in DECISIONS:
                raise ValueError(f"heartbeat must return one of {DECISIONS}, got {decision!r}")
            self._decision, self._decided_at = decision, now
            self.heartbeats += 1
        return self._decision

    # --- writing -----------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        if len(self._buffer) >= self.flush_points:
            self._write_batches(full_only=True)  # the rest waits for the next batch
            return
        # Write now if this step is nearer the interval's end than the next one will be
        # (expected one step gap away): batches then average flush_seconds apart, and timer
        # jitter can no longer add a whole step to the oldest point's wait.
        gap = min(self._gap, self.flush_seconds)
        if self._clock() - self._last_flush + gap / 2 >= self.flush_seconds:
            self.flush()

    def flush(self) -> int:
        """Write every buffered point now (in batches of at most ``flush_points``)."""
        return self._write_batches(full_only=False)

    def _write_batches(self, *, full_only: bool) -> int:
        self._last_flush = self._clock()
        written = 0
        while self._buffer and (len(self._buffer) >= self.flush_points or not full_only):
            batch = self._buffer[: self.flush_points]
            retry_db(lambda b=batch: self._write(b), "writing metric points")
            # Drop only what was written: a failed write keeps its points for the next try.
            del self._buffer[: len(batch)]
            written += len(batch)
        if written:
            self.written += written
            self._nudge_owed = True
        now = self._clock()
        # A fast trainer fills a batch every few milliseconds; nudging after each would cost
        # a Redis round trip per batch for no visible gain, so full batches nudge at most
        # every nudge_seconds and every other flush nudges at once.
        if self._nudge_owed and (
            not full_only or self._nudged_at is None or now - self._nudged_at >= self.nudge_seconds
        ):
            self._nudge()
            self._nudged_at, self._nudge_owed = now, False
        return written

    @property
    def last_decision(self) -> str:
        """The decision most recently received from the heartbeat."""
        return self._decision

    @property
    def pending(self) -> int:
        """Points buffered and not yet written."""
        return len(self._buffer)
