"""The proposal pool: asking never waits for a fit, and a fresh pool equals the sampler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sweeps.search import BayesSampler, History, PooledSampler

from .test_bayes import LINE, history


@pytest.fixture
def pool() -> Iterator[PooledSampler]:
    p = PooledSampler(
        BayesSampler(LINE, 0, acq_func="EI", n_initial_points=5, candidates=300), batch_size=4
    )
    yield p
    p.close()


def test_before_any_model_configs_come_straight_from_the_initial_design(
    pool: PooledSampler,
) -> None:
    assert [p.source for p in pool.propose(history(3), 2)] == ["bayes-initial"] * 2
    assert pool.stats["direct"] == 2


def test_a_fresh_pool_proposes_exactly_what_the_sampler_does(pool: PooledSampler) -> None:
    h = history(12)
    pool.refresh(h)
    assert pool.wait(timeout=60)
    served = pool.propose(h, 3)
    reference = BayesSampler(LINE, 0, acq_func="EI", n_initial_points=5, candidates=300).propose(
        h, 3
    )
    assert served == reference
    assert pool.stats["fresh"] == 3


class _HeldSampler(BayesSampler):
    """Fits only once ``gate`` exists: a fit as slow as the test wants, across processes."""

    gate: Path

    def _make_fit(self, *args: Any) -> Any:
        while not self.gate.exists():
            time.sleep(0.01)
        return super()._make_fit(*args)


def test_asking_never_waits_for_a_fit(tmp_path: Path) -> None:
    inner = _HeldSampler(LINE, 0, acq_func="EI", n_initial_points=5, candidates=300)
    inner.gate = tmp_path / "go"
    pool = PooledSampler(inner, batch_size=4)
    started = time.perf_counter()
    proposals = pool.propose(history(12), 2)
    assert time.perf_counter() - started < 5  # the fit is held back
    assert [p.source for p in proposals] == ["bayes-fallback"] * 2
    assert not pool.wait(timeout=0.5)
    inner.gate.touch()
    assert pool.wait(timeout=60)
    assert [p.source for p in pool.propose(history(12), 1)] == ["bayes"]


def test_fits_run_in_another_process(pool: PooledSampler) -> None:
    # In a thread they held the GIL for seconds and slowed the caller's dispatch path.
    pool.refresh(history(12))
    assert pool.wait(timeout=60)
    assert pool.stats["fits"] == 1
    assert pool.inner.latest_fit() is None  # nothing was fitted here


def test_a_request_made_during_a_fit_is_fitted_next_and_older_ones_are_skipped(
    pool: PooledSampler,
) -> None:
    pool.refresh(history(12))
    pool.refresh(history(13))
    pool.refresh(history(14))
    assert pool.wait(timeout=60)
    assert pool.stats["fits"] == 2  # 12, then the newest: 14
    assert [p.source for p in pool.propose(history(14), 1)] == ["bayes"]


def test_new_results_are_served_from_the_previous_fit_until_the_new_one_is_ready(
    pool: PooledSampler,
) -> None:
    h = history(12)
    pool.refresh(h)
    assert pool.wait(timeout=60)
    newer = History(history(13).observations, (), 13, history(13).tried)
    assert [p.source for p in pool.propose(newer, 2)] == ["bayes-stale"] * 2
    assert pool.wait(timeout=60)
    assert [p.source for p in pool.propose(newer, 1)] == ["bayes"]
    assert pool.stats["fits"] >= 2


def test_close_drops_a_requested_fit(pool: PooledSampler) -> None:
    pool.refresh(history(12))
    pool.refresh(history(13))
    pool.close()
    assert pool.wait(timeout=60)
    assert pool.stats["fits"] == 1


_ASKER = """
import os, signal, sys
from sweeps.search import BayesSampler, PooledSampler
from sweeps.search.samplers import pool
from tests.search.test_bayes import LINE, history

if __name__ == "__main__":
    p = PooledSampler(BayesSampler(LINE, 0, acq_func="EI", n_initial_points=5, candidates=300))
    p.refresh(history(12))
    assert p.wait(timeout=60)
    print(*pool._executor._processes, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_fitting_process_does_not_outlive_a_killed_asker(tmp_path: Path) -> None:
    script = tmp_path / "asker.py"
    script.write_text(_ASKER)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    (child,) = map(int, done.stdout.split())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited and waits for its (new) parent to reap it.
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def test_a_dead_fitting_process_is_replaced(pool: PooledSampler) -> None:
    from sweeps.search.samplers import pool as pool_module

    pool.refresh(history(12))
    assert pool.wait(timeout=60)
    assert pool_module._executor is not None
    for pid in list(pool_module._executor._processes):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    sources: list[str] = []
    while sources != ["bayes"] and time.monotonic() < deadline:
        pool.refresh(history(13))
        assert pool.wait(timeout=60)
        sources = [p.source for p in pool.propose(history(13), 1)]
    assert sources == ["bayes"]
