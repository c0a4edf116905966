"""Bayesian optimisation with scikit-optimize's ``Optimizer``.

Surrogates: a Gaussian process (``"GP"``) or tree ensembles (``"RF"``, ``"ET"``,
``"GBRT"``); acquisition functions ``"EI"``, ``"PI"``, ``"LCB"`` or ``"gp_hedge"``.

How a proposal is made, every time from the history alone:

1. **Which results** (BOHB-style): the model is fitted on the highest rung that has at least
   ``n_initial_points`` finite results; lower rungs are only used until a higher one has
   enough. Until any rung has enough, configs come from a scrambled Sobol sequence
   (``source="bayes-initial"``). NaN / inf results are given the worst finite value seen
   at that rung, so the model learns to avoid them.
2. **GP hyperparameters** (kernel length scales, noise) are fitted on the first ``m``
   results of that rung in trial order, where ``m`` only moves up when the rung has grown by
   ``refit_growth`` (25 %) since: the marginal-likelihood search is what costs seconds
   (≈2 s at 200 results here), and it is a pure function of those ``m`` results, so it is
   cached by their fingerprint without breaking determinism. The GP is then conditioned on
   *all* results of the rung with those hyperparameters fixed (a Cholesky, milliseconds).
3. **Batch proposals** for several free workers use skopt's constant liar
   (``ask(n_points, strategy="cl_min")``), and configs still being evaluated are told to the
   optimizer as lies too, so parallel proposals spread out instead of piling up.

The result is deterministic for a given seed and history. :meth:`BayesSampler.explain`
gives the surrogate's mean and standard deviation and the acquisition along one parameter,
for the dashboard's "why this point" view.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.utils import RegressorTags, Tags
from skopt import Optimizer
from skopt.acquisition import _gaussian_acquisition
from skopt.learning import GaussianProcessRegressor, GradientBoostingQuantileRegressor
from skopt.space import Categorical, Integer
from skopt.space import Space as SkSpace
from skopt.utils import cook_estimator, normalize_dimensions

from sweeps.search.encoding import SkoptEncoder
from sweeps.search.samplers.base import History, Observation, Proposal, Sampler, fingerprint
from sweeps.search.samplers.sobol import SobolSampler
from sweeps.search.space import Space, Value

__all__ = ["ACQ_FUNCS", "BASE_ESTIMATORS", "BayesSampler", "Explanation"]

BASE_ESTIMATORS = ("GP", "RF", "ET", "GBRT")
ACQ_FUNCS = ("EI", "PI", "LCB", "gp_hedge")


@dataclass(frozen=True)
class Explanation:
    """The surrogate along one parameter, the others held at ``at``.

    ``acquisition`` is "higher is more attractive" (EI, PI, or the negated lower confidence
    bound); for ``gp_hedge`` it shows EI. ``observed`` are the (value of the parameter,
    objective) pairs the model was fitted on, for plotting next to the curve.
    """

    param: str
    rung: int
    acq_func: str
    at: dict[str, Value]
    values: tuple[Value, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    acquisition: tuple[float, ...]
    observed: tuple[tuple[Value, float], ...]


class _GBRT(GradientBoostingQuantileRegressor):  # type: ignore[misc]
    """skopt's GBRT surrogate, repaired for this numpy / scikit-learn.

    skopt 0.10.2 breaks twice here: it lists ``BaseEstimator`` before ``RegressorMixin``, so
    scikit-learn >= 1.6 tags report no estimator type and ``Optimizer(..., "GBRT")`` raises
    "has to be a regressor"; and ``predict(return_std=True)`` calls ``np.in1d``, removed in
    numpy 2.4. Same model, tags and std fixed (``test_skopt_smoke.py`` watches both).
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        return tags

    def predict(self, X: Any, return_std: bool = False, return_quantiles: bool = False) -> Any:
        if not return_std or return_quantiles:
            return super().predict(X, return_std=False, return_quantiles=return_quantiles)
        quantiles = list(self.quantiles)
        low, mid, high = (self.regressors_[quantiles.index(q)].predict(X) for q in (0.16, 0.5, 0.84))
        # skopt's definition: half the 68 % interval stands in for one standard deviation.
        return mid, (high - low) / 2.0


@dataclass(frozen=True)
class _Theta:
    kernel: Any
    noise: float


class BayesSampler(Sampler):
    """skopt-driven proposals; see the module docstring for how they are made."""

    name = "bayes"

    def __init__(
        self,
        space: Space,
        seed: int = 0,
        *,
        base_estimator: str = "GP",
        acq_func: str = "gp_hedge",
        n_initial_points: int = 10,
        candidates: int = 2000,
        refit_growth: float = 1.25,
    ) -> None:
        if base_estimator not in BASE_ESTIMATORS:
            raise ValueError(f"base_estimator must be one of {list(BASE_ESTIMATORS)}, got {base_estimator!r}")
        if acq_func not in ACQ_FUNCS:
            raise ValueError(f"acq_func must be one of {list(ACQ_FUNCS)}, got {acq_func!r}")
        if isinstance(n_initial_points, bool) or not isinstance(n_initial_points, int) or n_initial_points < 2:
            raise ValueError(f"n_initial_points must be an integer >= 2, got {n_initial_points!r}")
        if candidates < 10:
            raise ValueError(f"candidates must be >= 10, got {candidates}")
        if refit_growth < 1.0:
            raise ValueError(f"refit_growth must be >= 1, got {refit_growth}")
        super().__init__(space, seed)
        self.base_estimator = base_estimator
        self.acq_func = acq_func
        self.n_initial_points = n_initial_points
        self.candidates = candidates
        self.refit_growth = refit_growth
        self.encoder = SkoptEncoder(space)
        self._initial = SobolSampler(space, seed)
        # Pure-function caches keyed by fingerprints of their inputs: dropping them changes
        # only speed, never a proposal.
        self._thetas: OrderedDict[str, _Theta] = OrderedDict()
        self._settings = [base_estimator, acq_func, n_initial_points, candidates, refit_growth, self.seed]

    # --- which data ---------------------------------------------------------------------

    def fit_rung(self, history: History) -> int | None:
        """The highest rung with at least ``n_initial_points`` finite results, if any."""
        counts = Counter(o.rung for o in history.finite())
        rungs = [r for r, c in counts.items() if c >= self.n_initial_points]
        return max(rungs) if rungs else None

    def _observations(self, history: History, rung: int) -> list[Observation]:
        obs = [o for o in history.observations if o.rung == rung]
        return sorted(obs, key=lambda o: (o.trial_id, fingerprint([o.params])))

    def _data(self, history: History, rung: int) -> tuple[list[list[Any]], list[float]]:
        obs = self._observations(history, rung)
        finite = [o.value for o in obs if math.isfinite(o.value)]
        worst = max(finite)
        X = [self.encoder.encode(o.params) for o in obs]
        y = [o.value if math.isfinite(o.value) else worst for o in obs]
        return X, y

    def model_key(self, history: History) -> str | None:
        """Fingerprint of the results the model would be fitted on (None: no model yet)."""
        rung = self.fit_rung(history)
        if rung is None:
            return None
        obs = self._observations(history, rung)
        return fingerprint([self._settings, rung, *[[o.trial_id, o.params, o.value] for o in obs]])

    # --- proposals ----------------------------------------------------------------------

    def initial(self, history: History, n: int) -> list[Proposal]:
        """Space-filling configs used before a model exists (and as a fallback)."""
        return [Proposal(c, "bayes-initial") for c in self._initial.configs(history.n_proposed, n)]

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        if n == 0:
            return []
        rung = self.fit_rung(history)
        if rung is None:
            return self.initial(history, n)
        try:
            opt = self._optimizer(history, rung, with_pending=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                points = [opt.ask()] if n == 1 else opt.ask(n_points=n, strategy="cl_min")
        except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - numerical corner
            # A degenerate fit must not stall the sweep: fall back to space filling.
            warnings.warn(f"bayes sampler fell back to Sobol: {exc}", RuntimeWarning, stacklevel=2)
            return [Proposal(p.params, "bayes-fallback") for p in self.initial(history, n)]
        return [Proposal(self.encoder.decode(p), self.name) for p in points]

    def _rng_seed(self, *parts: Any) -> int:
        return (int(fingerprint([self.seed, *parts]), 16) ^ self.seed) % 2**31

    def _checkpoint(self, count: int) -> int:
        m = self.n_initial_points
        while True:
            nxt = max(m + 1, math.ceil(m * self.refit_growth))
            if nxt > count:
                return min(m, count)
            m = nxt

    def _theta(self, X: list[list[Any]], y: list[float], rung: int) -> _Theta:
        m = self._checkpoint(len(X))
        key = fingerprint([self._settings, rung, X[:m], y[:m]])
        cached = self._thetas.get(key)
        if cached is not None:
            self._thetas.move_to_end(key)
            return cached
        space = SkSpace(normalize_dimensions(self.encoder.dimensions()))
        est = cook_estimator("GP", space=space.dimensions, random_state=self._rng_seed("theta", key))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(space.transform(X[:m]), y[:m])
        theta = _Theta(est.kernel_.k1, float(est.noise_ or 0.0))
        self._thetas[key] = theta
        while len(self._thetas) > 8:
            self._thetas.popitem(last=False)
        return theta

    def _estimator(self, X: list[list[Any]], y: list[float], rung: int, seed: int) -> Any:
        if self.base_estimator == "GP":
            theta = self._theta(X, y, rung)
            return GaussianProcessRegressor(
                kernel=clone(theta.kernel),
                normalize_y=True,
                noise=max(theta.noise, 1e-8),
                optimizer=None,  # hyperparameters come from _theta; conditioning only
            )
        if self.base_estimator == "GBRT":
            # skopt's own GBRT recipe (cook_estimator), with the tags fixed.
            gbrt = GradientBoostingRegressor(n_estimators=30, loss="quantile")
            return _GBRT(base_estimator=gbrt, random_state=seed)
        return cook_estimator(self.base_estimator, random_state=seed)

    def _optimizer(self, history: History, rung: int, *, with_pending: bool) -> Optimizer:
        X, y = self._data(history, rung)
        seed = self._rng_seed("opt", rung, X, y, [dict(p) for p in history.pending] if with_pending else [])
        est = self._estimator(X, y, rung, seed)
        gp = self.base_estimator == "GP"
        opt = Optimizer(
            self.encoder.dimensions(),
            base_estimator=est,
            n_initial_points=0,
            acq_func=self.acq_func,
            acq_optimizer="lbfgs" if gp else "sampling",
            acq_optimizer_kwargs={"n_points": self.candidates, "n_restarts_optimizer": 3},
            random_state=seed,
        )
        if with_pending and history.pending:
            # Constant liar for configs being evaluated: pretend they scored the best value so
            # far, which pushes the next proposals away from them.
            seen = {tuple(x) for x in X}
            lies = [x for x in (self.encoder.encode(p) for p in history.pending) if tuple(x) not in seen]
            lie = min(y)
            X, y = X + lies, y + [lie] * len(lies)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.tell(X, y)
        return opt

    # --- "why this point" ---------------------------------------------------------------

    def explain(
        self, history: History, param: str, *, at: Mapping[str, Any] | None = None, points: int = 50
    ) -> Explanation:
        """Surrogate mean / std and acquisition along ``param`` (others held at ``at``).

        ``at`` defaults to the config the sampler would propose next from the results alone.
        Raises ``ValueError`` when no rung has ``n_initial_points`` results yet, when
        ``param`` is unknown, or when it is inactive at ``at``.
        """
        if param not in self.space.names:
            raise ValueError(f"{param!r} is not a parameter of the space {self.space.names}")
        if points < 2:
            raise ValueError(f"points must be >= 2, got {points}")
        rung = self.fit_rung(history)
        if rung is None:
            raise ValueError(
                f"no model yet: no rung has {self.n_initial_points} finite results (n_initial_points)"
            )
        opt = self._optimizer(history, rung, with_pending=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            where = dict(at) if at is not None else self.encoder.decode(opt.ask())
        if not self.space.is_active(param, where):
            raise ValueError(f"{param!r} is inactive at {where}: its condition does not hold")
        index = self.space.names.index(param)
        base = self.encoder.encode(where)
        dim = opt.space.dimensions[index]
        if isinstance(dim, Categorical):
            xs: list[Any] = list(dim.categories)
        elif isinstance(dim, Integer) and dim.high - dim.low + 1 <= points:
            xs = list(range(int(dim.low), int(dim.high) + 1))
        else:
            # Evenly spaced in the dimension's own scale (log for a log prior).
            unit = self.encoder.dimensions()[index]
            unit.set_transformer("normalize")
            raw = unit.inverse_transform(np.linspace(0.0, 1.0, points))
            xs = list(dict.fromkeys(np.asarray(raw).tolist()))
        rows = []
        for x in xs:
            row = list(base)
            row[index] = x
            rows.append(row)
        model = opt.models[-1]
        Xt = opt.space.transform(rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean, std = model.predict(Xt, return_std=True)
            acq_name = "EI" if self.acq_func == "gp_hedge" else self.acq_func
            acq = -_gaussian_acquisition(Xt, model, y_opt=float(np.min(opt.yi)), acq_func=acq_name)
        # param is active at `where` and its own value never changes its activity.
        values = tuple(self.encoder.decode(r)[param] for r in rows)
        observed = tuple(
            (o.params[param], float(o.value))
            for o in self._observations(history, rung)
            if param in o.params and math.isfinite(o.value)
        )
        return Explanation(
            param=param,
            rung=rung,
            acq_func=acq_name,
            at=self.space.active_config(where),
            values=values,
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            acquisition=tuple(float(v) for v in acq),
            observed=observed,
        )
