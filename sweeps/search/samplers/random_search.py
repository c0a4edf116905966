"""Random search: every parameter drawn independently (log parameters in log space)."""

from __future__ import annotations

import numpy as np

from sweeps.search.encoding import from_unit
from sweeps.search.samplers.base import History, Proposal, Sampler

__all__ = ["RandomSampler"]


class RandomSampler(Sampler):
    """The k-th config of a sweep is drawn from its own stream ``(seed, k)``.

    Tying the stream to the index rather than to a generator that advances keeps the
    sampler stateless: the k-th config is the same whether it was asked for alone or in a
    batch, today or after a restart.
    """

    name = "random"
    reads_history = False  # the k-th config depends on k alone

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        start = history.n_proposed
        return [Proposal(self.config_at(k), self.name) for k in range(start, start + n)]

    def config_at(self, k: int) -> dict[str, bool | int | float | str]:
        rng = np.random.default_rng([self.seed % 2**63, k])
        return from_unit(self.space, [float(x) for x in rng.random(len(self.space.parameters))])
