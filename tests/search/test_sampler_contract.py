"""Contract every sampler must keep (one suite; each sampler subscribes via the fixture).

Like optuna's ``testing/pytest_samplers.py``: add a sampler to ``FACTORIES`` and it is held
to the same rules — proposals inside the space and typed, inactive parameters omitted,
deterministic for a seed, rebuilt from the history alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeps.search import (
    BayesSampler,
    GridSampler,
    History,
    Observation,
    RandomSampler,
    Sampler,
    SobolSampler,
    Space,
)

from .strategies import FAST, spaces
from .test_encoding import assert_valid

Factory = Callable[[Space, int], Sampler]


def _bayes(estimator: str, acq: str) -> Factory:
    def make(space: Space, seed: int) -> Sampler:
        return BayesSampler(
            space, seed, base_estimator=estimator, acq_func=acq, n_initial_points=4, candidates=200
        )

    return make


FACTORIES: dict[str, Factory] = {
    "grid": lambda space, seed: GridSampler(space, seed),
    "random": lambda space, seed: RandomSampler(space, seed),
    "sobol": lambda space, seed: SobolSampler(space, seed),
    "bayes-GP-EI": _bayes("GP", "EI"),
    "bayes-GP-PI": _bayes("GP", "PI"),
    "bayes-GP-LCB": _bayes("GP", "LCB"),
    "bayes-GP-hedge": _bayes("GP", "gp_hedge"),
    "bayes-RF": _bayes("RF", "EI"),
    "bayes-ET": _bayes("ET", "LCB"),
    "bayes-GBRT": _bayes("GBRT", "EI"),
}


@pytest.fixture(params=sorted(FACTORIES))
def make_sampler(request: pytest.FixtureRequest) -> Factory:
    return FACTORIES[request.param]


_played: dict[tuple[int, int, int], History] = {}


def played(make: Factory, space: Space, seed: int) -> History:
    """``play`` once per sampler kind and seed (the Bayesian ones cost a fit per round)."""
    key = (id(make), id(space.parameters[0]), seed)
    if key not in _played:
        _played[key] = play(make(space, seed))
    return _played[key]


@pytest.fixture
def space(make_sampler: Factory, mixed_space: Space, grid_space: Space) -> Space:
    # The grid needs a finite grid; every other sampler gets the space with every kind.
    return grid_space if make_sampler is FACTORIES["grid"] else mixed_space


def objective(config: dict[str, Any]) -> float:
    return (
        sum(float(v) if isinstance(v, int | float) else len(str(v)) for v in config.values()) % 7.0
    )


def play(sampler: Sampler, rounds: int = 3, batch: int = 3) -> History:
    """A history made of the sampler's own proposals, rungs 0 and 1."""
    history = History()
    for _ in range(rounds):
        proposals = sampler.propose(history, batch)
        obs = list(history.observations)
        for i, p in enumerate(proposals):
            tid = history.n_proposed + i
            obs.append(Observation(p.params, objective(p.params), tid % 2, tid))
        history = History(tuple(obs), (), history.n_proposed + len(proposals))
    return history


def test_proposals_are_inside_the_space_and_typed(make_sampler: Factory, space: Space) -> None:
    sampler = make_sampler(space, 1)
    proposals = sampler.propose(played(make_sampler, space, 1), 3)
    assert proposals
    for p in proposals:
        assert_valid(space, p.params)
        assert p.source


def test_same_seed_and_history_give_the_same_proposals(make_sampler: Factory, space: Space) -> None:
    history = played(make_sampler, space, 1)
    a = make_sampler(space, 7).propose(history, 3)
    b = make_sampler(space, 7).propose(history, 3)
    assert a == b


def test_a_rebuilt_sampler_proposes_what_a_long_lived_one_does(
    make_sampler: Factory, space: Space
) -> None:
    history = played(make_sampler, space, 1)
    used = make_sampler(space, 1)
    used.propose(History(history.observations[:6], (), 6), 2)  # warms whatever it caches
    assert used.propose(history, 2) == make_sampler(space, 1).propose(history, 2)


def test_a_batch_has_the_size_asked_for_and_no_repeats(make_sampler: Factory, space: Space) -> None:
    sampler = make_sampler(space, 1)
    proposals = sampler.propose(played(make_sampler, space, 1), 4)
    assert len(proposals) == 4
    keys = [tuple(sorted(p.params.items(), key=lambda kv: kv[0])) for p in proposals]
    assert len(set(map(repr, keys))) == 4
    assert sampler.propose(History(), 0) == []


def test_different_seeds_explore_differently(make_sampler: Factory, space: Space) -> None:
    a = make_sampler(space, 1).propose(History(), 4)
    b = make_sampler(space, 2).propose(History(), 4)
    assert a != b


def test_negative_batch_size_is_rejected(make_sampler: Factory, space: Space) -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        make_sampler(space, 0).propose(History(), -1)


@pytest.mark.parametrize("name", ["random", "sobol"])
@FAST
@given(space=spaces(), seed=st.integers(0, 2**32), start=st.integers(0, 10_000))
def test_index_samplers_on_any_space(name: str, space: Space, seed: int, start: int) -> None:
    sampler = FACTORIES[name](space, seed)
    history = History(n_proposed=start)
    batch = sampler.propose(history, 3)
    for p in batch:
        assert_valid(space, p.params)
    # The k-th config does not depend on how it was asked for (alone or in a batch).
    assert sampler.propose(History(n_proposed=start + 2), 1)[0] == batch[2]


def test_grid_visits_every_distinct_point_once_then_stops(grid_space: Space) -> None:
    sampler = GridSampler(grid_space, 4)
    everything = sampler.propose(History(), 1000)
    # 3 dropout x 3 layers x (adam + sgd x 2 momentum) = 27 distinct active configs
    assert len(everything) == sampler.capacity() == 27
    assert len({repr(sorted(p.params.items())) for p in everything}) == 27
    assert sampler.exhausted(History(n_proposed=27)) and not sampler.exhausted(
        History(n_proposed=26)
    )
    assert sampler.propose(History(n_proposed=27), 3) == []
