"""The proposal pool: asking never waits for a fit, and a fresh pool equals the sampler."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
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


def test_asking_never_waits_for_a_fit(pool: PooledSampler, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real = pool.inner._make_fit

    def slow_fit(*args: Any) -> Any:
        release.wait(timeout=30)  # a fit that takes as long as the test wants
        return real(*args)

    monkeypatch.setattr(pool.inner, "_make_fit", slow_fit)
    started = time.perf_counter()
    proposals = pool.propose(history(12), 2)
    assert time.perf_counter() - started < 5  # the fit is still blocked
    assert [p.source for p in proposals] == ["bayes-fallback"] * 2
    release.set()
    assert pool.wait(timeout=60)
    assert [p.source for p in pool.propose(history(12), 1)] == ["bayes"]


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


def test_close_stops_the_background_thread(pool: PooledSampler) -> None:
    pool.refresh(history(12))
    assert pool.wait(timeout=60)
    thread = pool._thread
    pool.close()
    assert thread is not None and not thread.is_alive()
