"""The Bayesian sampler: which results it fits, batches, NaN handling, "why this point"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweeps.search import BayesSampler, History, Observation, Space, parse_space
from sweeps.search.samplers.base import Pending
from sweeps.search.samplers.random_search import RandomSampler

LINE = parse_space(
    {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "y": {"type": "float", "low": 0.0, "high": 1.0},
    }
)


def bowl(params: dict[str, float]) -> float:
    return (params["x"] - 0.7) ** 2 + (params["y"] - 0.2) ** 2


def history(n: int, rung: int = 0, f=bowl, start: int = 0) -> History:
    rng = np.random.default_rng(start)
    obs = []
    for i in range(start, start + n):
        p = {"x": float(rng.random()), "y": float(rng.random())}
        obs.append(Observation(p, f(p), rung, i))
    return History(tuple(obs), (), start + n, tuple(o.params for o in obs))


def sampler(**kw) -> BayesSampler:
    return BayesSampler(
        LINE, 0, **{"acq_func": "EI", "n_initial_points": 5, "candidates": 300, **kw}
    )


def test_space_filling_until_a_rung_has_enough_results_then_the_model() -> None:
    s = sampler()
    assert [p.source for p in s.propose(history(4), 2)] == ["bayes-initial"] * 2
    assert [p.source for p in s.propose(history(5), 2)] == ["bayes"] * 2


def test_it_fits_the_highest_rung_with_enough_finite_results() -> None:
    s = sampler()
    low = history(12, rung=0)
    high = history(5, rung=2, start=100)
    nan = History(tuple(Observation({"x": 0.1, "y": 0.1}, math.nan, 3, 200 + i) for i in range(9)))
    both = History(low.observations + high.observations + nan.observations, (), 26)
    assert s.fit_rung(low) == 0
    assert s.fit_rung(both) == 2  # rung 3 has only NaN, which does not count
    fit = s.fit(both)
    assert fit is not None and fit.rung == 2


def test_the_model_moves_towards_the_optimum() -> None:
    proposal = sampler().propose(history(15), 1)[0].params
    assert math.dist((proposal["x"], proposal["y"]), (0.7, 0.2)) < 0.3


def test_ei_is_measured_against_the_models_best_not_a_lucky_noisy_result() -> None:
    rng = np.random.default_rng(3)
    obs = []
    for i in range(25):
        p = {"x": float(rng.random()), "y": float(rng.random())}
        obs.append(Observation(p, bowl(p) + float(rng.normal(0.0, 0.05)), 0, i))
    fit = sampler().fit(History(tuple(obs), (), 25))
    assert fit is not None
    # The incumbent is the lowest posterior mean at the observed configs (model units)...
    X = fit.opt.space.transform([sampler().encoder.encode(o.params) for o in obs])
    assert fit.y_best == pytest.approx(float(np.min(fit.model.predict(X))))
    # ...which the noise keeps above the luckiest observation.
    assert fit.y_best > (min(o.value for o in obs) - fit.top) / fit.scale


def test_the_acquisition_is_searched_near_the_best_results_at_fine_and_wide_steps() -> None:
    fit = sampler().fit(history(20))
    assert fit is not None
    X = fit._candidates(np.random.default_rng(0))
    centres = fit.opt.space.transform(fit.best)
    near = X[len(X) // 2 :]
    d = np.min(np.linalg.norm(near[:, None, :] - centres[None, :, :], axis=2), axis=1)
    assert np.quantile(d, 0.1) < 0.02 and np.quantile(d, 0.9) > 0.1


def test_a_batch_spreads_out_and_skips_tried_and_pending_configs() -> None:
    s = sampler()
    h = history(12)
    batch = [p.params for p in s.propose(h, 4)]
    assert len({(p["x"], p["y"]) for p in batch}) == 4
    # Once the first two are running, asking again gives the next ones of the same sequence.
    running = h.with_pending(Pending(p, 0, 100 + i) for i, p in enumerate(batch[:2]))
    assert [p.params for p in s.propose(running, 2)][0] not in batch[:2]


def test_new_configs_running_at_the_fitted_rung_are_lied_about() -> None:
    s = sampler()
    h = history(12)
    first = s.propose(h, 1)[0].params
    lied = h.with_pending([Pending(first, 0, 999)])
    assert s.model_key(lied) != s.model_key(h)
    # A promoted trial (it has results below) is not lied about: the key does not change.
    promoted = History(
        h.observations,
        (Pending(h.observations[0].params, 0, h.observations[0].trial_id),),
        12,
        h.tried,
    )
    assert s.model_key(promoted) == s.model_key(h)


def test_nan_and_inf_results_are_treated_as_the_worst_and_do_not_break_the_fit() -> None:
    h = history(10)
    bad = tuple(
        Observation({"x": 0.1 * i, "y": 0.5}, v, 0, 50 + i)
        for i, v in enumerate([math.nan, math.inf])
    )
    proposals = sampler().propose(History(h.observations + bad, (), 12), 2)
    assert [p.source for p in proposals] == ["bayes", "bayes"]


@pytest.mark.parametrize("acq", ["EI", "PI", "LCB", "gp_hedge"])
def test_explain_gives_the_surrogate_and_the_acquisition_along_a_parameter(acq: str) -> None:
    s = sampler(acq_func=acq)
    h = history(12)
    e = s.explain(h, "x", points=11)
    assert e.param == "x" and e.rung == 0 and e.acq_func == ("EI" if acq == "gp_hedge" else acq)
    assert len(e.values) == len(e.mean) == len(e.std) == len(e.acquisition) == 11
    assert e.values[0] == 0.0 and e.values[-1] == 1.0 and all(type(v) is float for v in e.values)
    assert all(sd >= 0 for sd in e.std) and len(e.observed) == 12
    # By default the slice goes through the next proposal.
    assert e.at == s.propose(h, 1)[0].params


def test_explain_refuses_what_it_cannot_show(mixed_space: Space) -> None:
    s = sampler()
    with pytest.raises(ValueError, match="no model yet"):
        s.explain(history(3), "x")
    with pytest.raises(ValueError, match="not a parameter"):
        s.explain(history(12), "z")
    conditional = BayesSampler(mixed_space, 0, n_initial_points=3, candidates=100)
    obs = tuple(
        Observation(
            {
                "lr": 0.01,
                "dropout": 0.1,
                "layers": i % 4 + 1,
                "width": 64,
                "batch": 32,
                "opt": "adam",
            },
            i,
            0,
            i,
        )
        for i in range(4)
    )
    with pytest.raises(ValueError, match="inactive"):
        conditional.explain(History(obs, (), 4), "momentum", at=dict(obs[0].params))


def test_random_fraction_mixes_in_space_filling_configs_deterministically() -> None:
    s = sampler(random_fraction=0.5)
    sources = [p.source for p in s.propose(history(12), 8)]
    assert "bayes-random" in sources and "bayes" in sources
    assert sources == [p.source for p in sampler(random_fraction=0.5).propose(history(12), 8)]


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"base_estimator": "SVR"}, "base_estimator must be one of"),
        ({"acq_func": "UCB"}, "acq_func must be one of"),
        ({"n_initial_points": 1}, "n_initial_points must be an integer >= 2"),
        ({"base_estimator": "RF", "acq_optimizer": "lbfgs"}, "needs gradients"),
        ({"liar": "cl_median"}, "liar must be"),
        ({"random_fraction": 0.6}, "random_fraction must be between 0 and 0.5"),
        ({"min_rank_corr": 1.5}, "min_rank_corr must be between -1 and 1"),
    ],
)
def test_bad_settings_are_refused_with_the_rule(kwargs: dict[str, object], rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        BayesSampler(LINE, 0, **kwargs)  # type: ignore[arg-type]


def test_a_batch_deeper_than_the_liar_depth_stays_distinct_valid_and_deterministic() -> None:
    h = history(12)
    batch = [p.params for p in sampler(liar_depth=2).propose(h, 10)]
    assert len({(p["x"], p["y"]) for p in batch}) == 10
    assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in batch)
    assert batch == [p.params for p in sampler(liar_depth=2).propose(h, 10)]


def test_explain_speaks_the_objectives_units() -> None:
    h = history(15)
    e = sampler().explain(h, "x", at={"x": 0.5, "y": 0.2}, points=21)
    # Along y = 0.2 the bowl is (x - 0.7)^2: the mean follows it, lowest near x = 0.7.
    best_x = e.values[int(np.argmin(e.mean))]
    assert abs(best_x - 0.7) <= 0.2
    assert min(e.mean) < 0.1 < max(e.mean) < 1.0


# --- which rung steers: rank correlations between rungs ------------------------------------


def ladder(values: dict[int, list[float]], top: int) -> History:
    """Trials 0, 1, ... with their results at each rung: ``values[rung][i]`` is trial i's
    (a trial promoted to rung r has results at every rung below it too)."""
    rng = np.random.default_rng(7)
    params = [{"x": float(rng.random()), "y": float(rng.random())} for _ in values[0]]
    obs = tuple(
        Observation(params[i], v, rung, i) for rung, vs in values.items() for i, v in enumerate(vs)
    )
    return History(obs, (), len(params), tuple(params), top)


def test_a_low_rung_the_next_rung_contradicts_does_not_steer() -> None:
    # Rung 0 ranks 30 trials one way; the 12 promoted rank the other way at rung 1.
    low = [float(i) for i in range(30)]
    choice = sampler().fit_choice(ladder({0: low, 1: [-v for v in low[:12]]}, top=2))
    assert choice.rung is None
    assert choice.corr[0] == (-1.0, 12)
    assert "corr(rung 0, rung 1) = -1.00 over 12 trials" in choice.reason
    assert choice.reason.startswith("no model yet, configs are drawn at random")


def test_a_rung_confirmed_by_the_rungs_above_steers() -> None:
    f = [math.sin(i) for i in range(30)]
    history = ladder({0: f, 1: [v + 0.01 for v in f[:12]], 2: f[:6]}, top=2)
    choice = sampler(n_initial_points=7).fit_choice(history)
    assert choice.rung == 1  # rung 2 confirms it; rung 2 itself has 6 < 7 results
    assert choice.reason.startswith("fitted on rung 1")
    assert [p.source for p in sampler(n_initial_points=7).propose(history, 2)] == ["bayes"] * 2


def test_an_unconfirmed_low_rung_waits_for_the_rung_above() -> None:
    # Thirty results at rung 0 of a five-rung ladder and nothing above yet: the low budget
    # may mislead, so configs are the random sampler's own, not the model's.
    history = ladder({0: [math.sin(i) for i in range(30)]}, top=4)
    s = sampler()
    assert s.fit_rung(history) is None
    proposals = s.propose(history, 3)
    assert {p.source for p in proposals} == {"bayes-initial"}
    assert [p.params for p in proposals] == [
        p.params for p in RandomSampler(LINE, 0).propose(history, 3)
    ]
    # Without the scheduler's top rung, the highest rung seen is taken as the full budget.
    assert s.fit_rung(History(history.observations, (), 30, history.tried)) == 0


def test_a_contradicted_rung_leaves_the_model_to_the_rungs_above() -> None:
    f = [math.sin(i) for i in range(30)]
    confirmed = ladder({0: f, 1: f[:12], 2: f[:6]}, top=2)
    contradicted = ladder({0: f, 1: f[:12], 2: [-v for v in f[:6]]}, top=2)
    s = sampler()
    assert s.fit_rung(confirmed) == 2
    assert s.fit_rung(contradicted) == 2  # rung 1 is refuted; rung 2 is the full budget
    assert sampler(n_initial_points=7).fit_rung(contradicted) is None
