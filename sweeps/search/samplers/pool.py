"""Proposals computed ahead, so asking for the next config costs milliseconds.

skopt's GP refit takes seconds at a few hundred results (≈2 s at 200 on the reference
machine), far too long to hold a free worker. :class:`PooledSampler` keeps a *batch* of
proposals computed by a background thread from the latest results, keyed by the
fingerprint of the results the model was fitted on. Asking for a config:

* takes the first proposals of the newest batch that are not already being evaluated or
  evaluated (microseconds);
* if the results changed since that batch was fitted, serves it anyway (marked
  ``"bayes-stale"``) and asks the thread to refit on the new results — the newest request
  wins, intermediate ones are skipped;
* if the batch is used up, fills with space-filling configs (``"bayes-fallback"``) rather
  than make a worker wait, and asks for a new batch.

The batch is rebuilt from the results alone (never pickled), so a restarted process only
loses time. The price of speed is determinism: which batch serves a request depends on
which fit has finished. Use the wrapped sampler directly where reproducibility matters
more than latency (tests, benchmarks, replays).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweeps.search.samplers.base import History, Proposal, Sampler
from sweeps.search.samplers.bayes import BayesSampler

__all__ = ["PooledSampler"]

log = logging.getLogger(__name__)


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    # Keys are unique strings, so sorting never compares values of different types.
    return tuple(sorted((k, (type(v).__name__, v)) for k, v in params.items()))


@dataclass(frozen=True)
class _Batch:
    key: str
    proposals: tuple[Proposal, ...]
    n_observations: int
    seconds: float


class PooledSampler(Sampler):
    """Serves a :class:`BayesSampler`'s proposals from a batch refreshed in the background."""

    name = "bayes"

    def __init__(self, inner: BayesSampler, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(inner.space, inner.seed)
        self.inner = inner
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._latest: _Batch | None = None
        self._request: tuple[str, History] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.stats = {"fresh": 0, "stale": 0, "fallback": 0, "direct": 0, "fits": 0, "fit_seconds": 0.0}

    # --- serving ------------------------------------------------------------------------

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        key = self.inner.model_key(history)
        if key is None:  # no model yet: the initial design is cheap, no need for the pool
            self.stats["direct"] += n
            return self.inner.propose(history, n)
        busy = {_key(o.params) for o in history.observations} | {_key(p) for p in history.pending}
        out: list[Proposal] = []
        with self._lock:
            batch = self._latest
            fresh = batch is not None and batch.key == key
            unused = [p for p in batch.proposals if _key(p.params) not in busy] if batch else []
            for p in unused[:n]:
                out.append(p if fresh else Proposal(p.params, f"{p.source}-stale"))
            if not fresh or len(unused) - len(out) < max(1, self.batch_size // 2):
                taken = tuple(p.params for p in out)
                self._request = (key, History(history.observations, history.pending + taken, history.n_proposed))
                self._start_locked()
                self._changed.notify_all()
            self.stats["fresh" if fresh else "stale"] += len(out)
        if len(out) < n:
            self.stats["fallback"] += n - len(out)
            more = History(history.observations, history.pending, history.n_proposed + len(out))
            out += [Proposal(p.params, "bayes-fallback") for p in self.inner.initial(more, n - len(out))]
        return out

    def model_key(self, history: History) -> str | None:
        return self.inner.model_key(history)

    def refresh(self, history: History) -> None:
        """Start fitting on ``history`` now (e.g. right after a result is recorded)."""
        key = self.inner.model_key(history)
        if key is None:
            return
        with self._lock:
            if self._latest is not None and self._latest.key == key:
                return
            self._request = (key, history)
            self._start_locked()
            self._changed.notify_all()

    # --- background fitting ---------------------------------------------------------------

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._closed = False
            self._thread = threading.Thread(target=self._run, name="rungs-proposal-pool", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._request is None and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                assert self._request is not None
                key, history = self._request
                self._request = None
                self._busy = True
            started = time.perf_counter()
            try:
                proposals = self.inner.propose(history, self.batch_size)
            except Exception:  # pragma: no cover - a bad fit must not kill the pool
                log.exception("proposal pool: fit failed; keeping the previous batch")
                proposals = None
            seconds = time.perf_counter() - started
            with self._lock:
                if proposals is not None:
                    self._latest = _Batch(key, tuple(proposals), len(history.observations), seconds)
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

    @property
    def latest_key(self) -> str | None:
        """Fingerprint of the results the newest batch was fitted on."""
        with self._lock:
            return None if self._latest is None else self._latest.key

    def close(self) -> None:
        """Stop the background thread (a pending refit is dropped)."""
        with self._lock:
            self._closed = True
            self._request = None
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
