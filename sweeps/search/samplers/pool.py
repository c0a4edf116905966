"""Proposals computed ahead, in another process, so asking for a config costs milliseconds.

skopt's GP refit takes seconds at a few hundred results (≈2 s at 200 on the reference
machine), far too long to hold a free worker. A :class:`BayesSampler` makes proposals from
a *fit* — a surrogate plus its constant-liar sequence of configs — keyed by the
fingerprint of the results it was fitted on. :class:`PooledSampler` has those fits made in
a separate fitting process (one per Python process, shared by every sweep in it) and keeps
the sequences they yield; asking for a config never waits for one:

* if the sequence for the current results is ready, it serves its first configs that the
  sweep has not tried (exactly what the wrapped sampler would propose on its own);
* if the results changed since the newest fit, it serves that fit's sequence anyway
  (marked ``"bayes-stale"``) and asks for the new results to be fitted — the newest
  request wins, intermediate ones are skipped;
* if the ready part of the sequence is used up, it fills with random configs
  (``"bayes-fallback"``) rather than make a worker wait.

After serving it always asks for ``batch_size`` more configs to be ready. A process, not a
thread: skopt's fitting is mostly Python code holding the GIL, and in a thread it slowed
the worker's own dispatch path several-fold. The fitting process runs at the lowest priority
and gets only the sampler's settings and the results (never pickled fits), so a restarted
worker, or a crashed fitting process, only loses time. The price of speed is determinism:
which fit serves a request depends on which one has finished. Use the wrapped sampler
directly where reproducibility matters more than latency (tests, benchmarks, replays).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from sweeps.search.samplers.base import History, Observation, Pending, Proposal, Sampler
from sweeps.search.samplers.bayes import BayesSampler

__all__ = ["PooledSampler"]

log = logging.getLogger(__name__)

_KEEP = 4  # sequences kept per pool (the newest serves stale requests)


@dataclass(frozen=True)
class _Sequence:
    """A fit's proposals as computed in the fitting process (encoded skopt points)."""

    key: str
    points: list[list[Any]]

    def ready(self) -> list[list[Any]]:
        return self.points


# --- the fitting process ----------------------------------------------------------------

_executor: ProcessPoolExecutor | None = None
_executor_lock = threading.Lock()


def _submit(*args: Any) -> Future[tuple[_Sequence | None, bool, float]]:
    """Run :func:`_fit` in this process's fitting process (started on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = _start_executor()
        try:
            return _executor.submit(_fit, *args)
        except BrokenProcessPool:
            log.warning("proposal pool: fitting process died; starting a new one")
            _executor = _start_executor()
            return _executor.submit(_fit, *args)


def _start_executor() -> ProcessPoolExecutor:
    # spawn: never fork a process that may hold CUDA, threads or open sockets.
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_fitting_process,
        initargs=(os.getpid(),),
    )


_samplers: OrderedDict[str, BayesSampler] = OrderedDict()  # in the fitting process


def _start_fitting_process(parent: int) -> None:
    """Fits are background work: the lowest priority (training and dispatch come first;
    proposals only get staler), and they never outlive the process that asked (its queue's
    write end is shared with us, so a SIGKILLed parent leaves no EOF to see).

    Linux gives each thread its own priority, and the BLAS library started its threads when
    numpy was imported: they would fit at full priority on every core. So the fits' linear
    algebra runs in this thread alone, and every thread there is gets the lowest priority.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    os.nice(19)
    tasks = f"/proc/{os.getpid()}/task"
    for tid in os.listdir(tasks) if os.path.isdir(tasks) else ():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.setpriority(os.PRIO_PROCESS, int(tid), 19)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="rungs-parent-watch", daemon=True).start()


def _fit(
    token: str, sampler: BayesSampler, history: History, ahead: int
) -> tuple[_Sequence | None, bool, float]:
    """In the fitting process: fit ``history`` (or reuse the cached fit) and compute its
    sequence far enough that ``ahead`` untried configs are ready. Returns the sequence,
    whether a new surrogate was fitted, and the seconds it took."""
    started = time.perf_counter()
    inner = _samplers.setdefault(token, sampler)  # its caches of fits and GP hyperparameters
    _samplers.move_to_end(token)
    while len(_samplers) > 32:
        _samplers.popitem(last=False)
    made = inner.fit(history, compute=False) is None
    fit = inner.fit(history)
    if fit is None:
        return None, False, time.perf_counter() - started
    inner.serve(fit, history, ahead, compute=True)
    return _Sequence(fit.key, fit.ready()), made, time.perf_counter() - started


def _portable(history: History) -> History:
    """``history`` with plain dicts: snapshots hold read-only mappings, which do not pickle."""
    return History(
        tuple(
            Observation(dict(o.params), o.value, o.rung, o.trial_id) for o in history.observations
        ),
        tuple(Pending(dict(p.params), p.rung, p.trial_id) for p in history.pending),
        history.n_proposed,
        tuple(dict(c) for c in history.tried),
        history.top_rung,
    )


# --- the pool, in the process that asks -------------------------------------------------


class PooledSampler(Sampler):
    """Serves a :class:`BayesSampler`'s proposals from fits made in a fitting process.

    When the fit for the current results is ready (and far enough along its sequence),
    the proposals are exactly those the wrapped sampler would make on its own.
    """

    name = "bayes"

    def __init__(self, inner: BayesSampler, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(inner.space, inner.seed)
        self.inner = inner
        self.batch_size = batch_size
        self._token = uuid.uuid4().hex  # names this sampler's caches in the fitting process
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._sequences: OrderedDict[str, _Sequence] = OrderedDict()
        self._request: tuple[History, int] | None = None  # waiting for the one in flight
        self._in_flight = False
        self.stats: dict[str, float] = {
            "fresh": 0, "stale": 0, "fallback": 0, "direct": 0, "fits": 0, "fit_seconds": 0.0
        }  # fmt: skip

    # --- serving ------------------------------------------------------------------------

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        if n == 0:
            return []
        if self.inner.fit_rung(history) is None:
            # No model yet: the initial design is cheap, no need for the pool.
            self.stats["direct"] += n
            return self.inner.propose(history, n)
        return self.inner.mix(history, n, lambda m: self._ready(history, m))

    def _ready(self, history: History, n: int) -> list[Proposal]:
        """Up to ``n`` model proposals without fitting; asks for more to be fitted."""
        key = self.inner.model_key(history)
        with self._lock:
            sequence = self._sequences.get(key) if key is not None else None
            fresh = sequence is not None
            if sequence is None and self._sequences:
                sequence = next(reversed(self._sequences.values()))
        out = self.inner.serve(sequence, history, n, compute=False) if sequence else []
        if not fresh:
            out = [Proposal(p.params, f"{p.source}-stale") for p in out]
        self.stats["fresh" if fresh else "stale"] += len(out)
        self.stats["fallback"] += n - len(out)
        # Keep a batch ready beyond what was just taken, for the next free worker.
        self._ask_for(history.with_pending(Pending(p.params) for p in out), n + self.batch_size)
        return out

    def model_key(self, history: History) -> str | None:
        return self.inner.model_key(history)

    def refresh(self, history: History) -> None:
        """Start fitting on ``history`` now (e.g. right after a result is recorded)."""
        if self.inner.fit_rung(history) is not None:
            self._ask_for(history, self.batch_size)

    # --- background fitting ---------------------------------------------------------------

    def _ask_for(self, history: History, ahead: int) -> None:
        with self._lock:
            if self._in_flight:
                self._request = (history, ahead)  # the newest request wins
                return
            self._in_flight = True
        self._send(history, ahead)

    def _send(self, history: History, ahead: int) -> None:
        try:
            future = _submit(self._token, self.inner, _portable(history), ahead)
        except Exception as exc:  # the process is exiting, or cannot start another process
            log.warning("proposal pool: no fit (%s); serving what is ready", exc)
            self._done(None)
            return
        future.add_done_callback(self._done)

    def _done(self, future: Future[tuple[_Sequence | None, bool, float]] | None) -> None:
        """A fit came back (on the executor's thread): keep its sequence, send the next."""
        result = None
        if future is not None:
            try:
                result = future.result()
            except Exception:  # a bad fit must not kill the pool: keep the previous one
                log.exception("proposal pool: fit failed; keeping the previous one")
        with self._lock:
            if result is not None:
                sequence, made, seconds = result
                if sequence is not None:
                    self._sequences[sequence.key] = sequence
                    self._sequences.move_to_end(sequence.key)
                    while len(self._sequences) > _KEEP:
                        self._sequences.popitem(last=False)
                self.stats["fits"] += made
                self.stats["fit_seconds"] += seconds
            request, self._request = self._request, None
            self._in_flight = request is not None
            self._changed.notify_all()
        if request is not None:
            self._send(*request)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no fit is running or requested; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def close(self) -> None:
        """Drop a requested fit (the one in flight finishes; its result is kept)."""
        with self._lock:
            self._request = None
