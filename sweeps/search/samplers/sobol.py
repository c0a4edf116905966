"""Quasi-random search on a scrambled Sobol sequence (``scipy.stats.qmc``)."""

from __future__ import annotations

import warnings

from scipy.stats import qmc

from sweeps.search.encoding import from_unit
from sweeps.search.samplers.base import History, Proposal, Sampler

__all__ = ["SobolSampler"]


class SobolSampler(Sampler):
    """The k-th config is the k-th point of a Sobol sequence scrambled with the seed.

    Sobol points cover the cube more evenly than independent draws, so a small sweep
    leaves fewer holes. The engine is rebuilt and fast-forwarded on every call (cheap), so
    nothing is kept between calls.
    """

    name = "sobol"
    reads_history = False  # the k-th config depends on k alone

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        return [Proposal(c, self.name) for c in self.configs(history.n_proposed, n)]

    def configs(self, start: int, n: int) -> list[dict[str, bool | int | float | str]]:
        if n == 0:
            return []
        engine = qmc.Sobol(d=len(self.space.parameters), scramble=True, seed=self.seed % 2**63)
        with warnings.catch_warnings():
            # scipy warns when n is not a power of two: balance is only exact at 2^m points,
            # which a sweep that starts configs one by one cannot guarantee anyway.
            warnings.simplefilter("ignore", UserWarning)
            if start:
                engine.fast_forward(start)
            points = engine.random(n)
        return [from_unit(self.space, [float(x) for x in row]) for row in points]
