"""The proposal pool: asking never waits for a fit, and a fresh pool equals the sampler."""

from __future__ import annotations

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
