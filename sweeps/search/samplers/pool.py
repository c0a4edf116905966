"""Proposals computed ahead, so asking for the next config costs milliseconds.

skopt's GP refit takes seconds at a few hundred results (≈2 s at 200 on the reference
machine), far too long to hold a free worker. A :class:`BayesSampler` makes proposals from
a *fit* — a surrogate plus its constant-liar sequence of configs — keyed by the
fingerprint of the results it was fitted on. :class:`PooledSampler` makes those fits in a
background thread, and asking for a config never waits for one:

* if the fit for the current results is ready, it serves the first configs of its
  sequence that the sweep has not tried (microseconds; exactly what the wrapped sampler
  would propose on its own);
* if the results changed since the newest fit, it serves that fit's sequence anyway
  (marked ``"bayes-stale"``) and asks the thread to fit the new results — the newest
  request wins, intermediate ones are skipped;
* if the ready part of the sequence is used up, it fills with space-filling configs
  (``"bayes-fallback"``) rather than make a worker wait.

After serving it always asks for ``batch_size`` more configs to be ready. Fits are rebuilt
from the results alone (never pickled), so a restarted process only loses time. The price
of speed is determinism: which fit serves a request depends on which one has finished.
Use the wrapped sampler directly where reproducibility matters more than latency (tests,
benchmarks, replays).
"""

from __future__ import annotations

import logging
import threading
import time

from sweeps.search.samplers.base import History, Pending, Proposal, Sampler
from sweeps.search.samplers.bayes import BayesSampler

__all__ = ["PooledSampler"]

log = logging.getLogger(__name__)


class PooledSampler(Sampler):
    """Serves a :class:`BayesSampler`'s proposals from fits made in a background thread.

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
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._request: tuple[History, int] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
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
        """Up to ``n`` model proposals without fitting; asks the thread for more."""
        fit = self.inner.fit(history, compute=False)
        fresh = fit is not None
        if fit is None:
            fit = self.inner.latest_fit()
        out = self.inner.serve(fit, history, n, compute=False) if fit is not None else []
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

    def _ask_for(self, history: History, ahead: int) -> None:
        with self._lock:
            self._request = (history, ahead)  # the newest request wins
            if self._thread is None or not self._thread.is_alive():
                self._closed = False
                self._thread = threading.Thread(
                    target=self._run, name="rungs-proposal-pool", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    # --- background fitting ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._request is None and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                assert self._request is not None
                history, ahead = self._request
                self._request = None
                self._busy = True
            started = time.perf_counter()
            try:
                made = self.inner.fit(history, compute=False) is None
                fit = self.inner.fit(history)
                if fit is not None:
                    # Compute the sequence far enough that `ahead` untried configs are ready.
                    self.inner.serve(fit, history, ahead, compute=True)
            except Exception:  # pragma: no cover - a bad fit must not kill the pool
                log.exception("proposal pool: fit failed; keeping the previous one")
                made = False
            seconds = time.perf_counter() - started
            with self._lock:
                if made:
                    self.stats["fits"] += 1
                self.stats["fit_seconds"] += seconds
                self._busy = False
                self._changed.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no refit is running or requested; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._busy or self._request is not None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the background thread (a requested refit is dropped)."""
        with self._lock:
            self._closed = True
            self._request = None
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
