"""scikit-optimize is unmaintained upstream: catch a numpy / scikit-learn upgrade that breaks it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from skopt import Optimizer
from skopt.space import Categorical, Integer, Real

from sweeps.search import BayesSampler, History, Observation, parse_space


def test_gp_fit_and_ask_work_with_this_numpy() -> None:
    dims = [Real(1e-4, 1e-1, prior="log-uniform"), Integer(1, 8), Categorical(["a", "b"])]
    opt = Optimizer(
        dims,
        "GP",
        acq_func="EI",
        n_initial_points=3,
        random_state=0,
        acq_optimizer="sampling",  # L-BFGS on the acquisition is covered by the sampler tests
        acq_optimizer_kwargs={"n_points": 300},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            x = opt.ask()
            opt.tell(x, float(np.log10(x[0]) ** 2 + x[1]))
        batch = opt.ask(n_points=2, strategy="cl_min")
    mean, std = opt.models[-1].predict(opt.space.transform([batch[0]]), return_std=True)
    assert len(batch) == 2 and np.isfinite(mean).all() and (std >= 0).all()


@pytest.mark.parametrize("estimator", ["GP", "RF", "ET", "GBRT"])
def test_every_surrogate_fits_proposes_and_explains(estimator: str) -> None:
    # GBRT goes through our repaired subclass: skopt 0.10.2's own one is not a regressor for
    # scikit-learn >= 1.6 and calls np.in1d, gone in numpy 2.4.
    space = parse_space(
        {"x": {"type": "float", "low": 0, "high": 1}, "n": {"type": "int", "low": 1, "high": 5}}
    )
    sampler = BayesSampler(space, 0, base_estimator=estimator, acq_func="EI", n_initial_points=5)
    obs = tuple(
        Observation({"x": i / 8, "n": 1 + i % 5}, (i / 8 - 0.3) ** 2, 0, i) for i in range(8)
    )
    history = History(obs, (), 8)
    (proposal,) = sampler.propose(history, 1)
    assert proposal.source == "bayes"
    explanation = sampler.explain(history, "x", points=7)
    assert len(explanation.values) == len(explanation.mean) == len(explanation.std) == 7
