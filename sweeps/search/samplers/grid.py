"""Grid search over every combination of the parameters' grid values."""

from __future__ import annotations

import itertools
from functools import cached_property

import numpy as np

from sweeps.search.encoding import grid_value
from sweeps.search.samplers.base import History, Proposal, Sampler
from sweeps.search.space import FLOAT, Space, Value, check_grid

__all__ = ["GridSampler"]


class GridSampler(Sampler):
    """Visits each distinct point of the grid once, in an order shuffled by the seed.

    Shuffling (as optuna's GridSampler does) means a sweep cut short by ``max_trials`` or
    early stopping still covers the space evenly instead of only its first corner. Configs
    that differ only in inactive conditional parameters are the same point and visited once.
    """

    name = "grid"
    reads_history = False  # the k-th config depends on k alone

    def __init__(self, space: Space, seed: int = 0, grid_cap: int = 100_000) -> None:
        check_grid(space, grid_cap)
        super().__init__(space, seed)

    @cached_property
    def points(self) -> list[dict[str, Value]]:
        axes: list[list[Value]] = []
        for p in self.space.parameters:
            n = p.grid_len()
            assert n is not None  # check_grid guarantees a finite grid
            if p.kind == FLOAT:
                axes.append([grid_value(p, i) for i in range(n)])  # clamped into the bounds
            else:
                values = p.grid_values()
                assert values is not None
                axes.append(values)
        seen: set[tuple[tuple[str, str, Value], ...]] = set()
        unique: list[dict[str, Value]] = []
        for combo in itertools.product(*axes):
            config = self.space.active_config(dict(zip(self.space.names, combo, strict=True)))
            key = tuple((k, type(v).__name__, v) for k, v in config.items())
            if key not in seen:
                seen.add(key)
                unique.append(config)
        order = np.random.default_rng(self.seed % 2**63).permutation(len(unique))
        return [unique[i] for i in order]

    def capacity(self) -> int:
        return len(self.points)

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        start = history.n_proposed
        return [Proposal(dict(c), self.name) for c in self.points[start : start + n]]
