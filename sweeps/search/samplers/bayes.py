"""Bayesian optimisation with scikit-optimize's ``Optimizer``.

Surrogates: a Gaussian process (``"GP"``) or tree ensembles (``"RF"``, ``"ET"``,
``"GBRT"``); acquisition functions ``"EI"``, ``"PI"``, ``"LCB"`` or ``"gp_hedge"``.

How a proposal is made, every time from the history alone:

1. **Which results**: the model is fitted on one rung, the highest with at least
   ``n_initial_points`` finite results among those it trusts (:meth:`BayesSampler.fit_choice`):
   a rung the next rung confirms (Spearman rank correlation of their results on the trials
   in both at least ``min_rank_corr``), above any rung the next one contradicts, or the
   full-budget rung. Until a trusted rung has enough results, configs are the random
   sampler's (``source="bayes-initial"``), so a low budget that ranks configs the wrong way
   costs no more than random search. NaN / inf results get the worst finite value seen at
   that rung, so the model learns to avoid them.
2. **A fit** is keyed by the fingerprint of what it is made from: that rung's results, and
   the *new* configs running at that rung (FIFO's other workers, a bracket that starts
   there), which are told to the optimizer as constant lies (``liar``, the mean result by
   default) so proposals keep away from them. Trials promoted into the rung are not lied
   about: they were picked for their good results below, and a lie would push the search
   away from the best region.
3. **GP hyperparameters** (length scales, noise) are the costly part (≈2 s at 200 results
   here). They are fitted on the first ``m`` results of the rung in trial order, where
   ``m`` moves up only when the rung has grown by ``refit_growth`` (10 %), so they are a pure
   function of those ``m`` results and cached by their fingerprint; the GP is then
   conditioned on *all* results with them fixed (a Cholesky: milliseconds).
4. **Proposals** are the fit's constant-liar sequence: the acquisition optimum (polished
   with L-BFGS for the GP), then, after telling the optimizer each previous point scored the
   lie, the next optimum, and so on — skopt's ``ask(n_points, strategy)`` done step by step
   so that the sequence can grow on demand without changing its start. A batch for several
   free workers is its first untried points; a later request with the same results takes
   the next ones. Beyond ``liar_depth`` points (a Hyperband bracket can ask for 81 configs
   before a new result arrives) walking the liar sequence only explores, so each further
   point maximises the acquisition over its own random candidates, half of them near the
   best results (at steps from 0.5 % to 20 % of each range). Within the liar depth too, a
   candidate near the best results replaces the liar optimum when its acquisition is
   higher: late in a sweep the gains are in refining the best basin.
5. **The GP's prior mean is the worst result** (:func:`_pessimistic`), not the average:
   a rung holds survivors, and an optimistic prior sent proposals to unexplored flat
   regions. EI's incumbent is the model's lowest mean at a tried config, not the lowest
   noisy result, which a lucky draw would set out of reach.

Deterministic for a given seed and history. :class:`~sweeps.search.samplers.pool.PooledSampler`
makes the same fits in a separate process. :meth:`BayesSampler.explain` gives the
surrogate's mean and standard deviation and the acquisition along one parameter, for the
dashboard's "why this point" view.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata
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
from sweeps.search.samplers.base import (
    History,
    Observation,
    Pending,
    Proposal,
    Sampler,
    config_key,
    fingerprint,
)
from sweeps.search.samplers.options import (
    ACQ_FUNCS,
    BASE_ESTIMATORS,
    DEFAULT_MIN_RANK_CORR,
    DEFAULT_RANDOM_FRACTION,
    MAX_RANDOM_FRACTION,
)
from sweeps.search.samplers.random_search import RandomSampler
from sweeps.search.space import Space, Value

__all__ = ["ACQ_FUNCS", "BASE_ESTIMATORS", "BayesSampler", "Explanation", "FitChoice"]


@dataclass(frozen=True)
class Explanation:
    """The surrogate along one parameter, the others held at ``at``.

    ``acquisition`` is "higher is more attractive" (EI, PI, or the negated lower confidence
    bound); for ``gp_hedge`` it shows EI. ``observed`` are the (value of the parameter,
    objective) pairs the model was fitted on, for plotting next to the curve.
    """

    param: str
    rung: int
    choice: str  # why that rung, with the rank correlations (FitChoice.reason)
    acq_func: str
    at: dict[str, Value]
    values: tuple[Value, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    acquisition: tuple[float, ...]
    observed: tuple[tuple[Value, float], ...]


def _pessimistic(y: list[float]) -> tuple[float, float]:
    """Shift and scale for GP targets so that the prior mean is the *worst* result.

    A rung's results are the survivors of the halving rule (and, under FIFO, of the
    model's own choices), so they look better than the space at large. With skopt's usual
    normalisation the GP's prior mean is their average, unexplored regions then look as
    good as the best ones, and EI keeps sending proposals far away (measured: after the
    first Hyperband iteration most proposals landed where Hartmann-6 is flat). With the
    worst result as the prior mean the search stays near what worked unless the model is
    genuinely unsure. Returns ``(top, scale)``: the model sees ``(y - top) / scale``.
    """
    top = max(y)
    scale = float(np.std(y))
    return top, scale if scale > 0 else 1.0


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
        low, mid, high = (
            self.regressors_[quantiles.index(q)].predict(X) for q in (0.16, 0.5, 0.84)
        )
        # skopt's definition: half the 68 % interval stands in for one standard deviation.
        return mid, (high - low) / 2.0


# Fewest trials with results at both rungs for their rank correlation to count.
MIN_PAIRS = 6


@dataclass(frozen=True)
class FitChoice:
    """The rung a model is fitted on (None: no model, configs are drawn at random), the
    Spearman correlation and number of trials for each rung and the next, and why, in
    words for the surrogate panel."""

    rung: int | None
    corr: Mapping[int, tuple[float, int]]
    reason: str


def _spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when one side is flat."""
    ra, rb = rankdata(a), rankdata(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _reason(
    rung: int | None, corr: Mapping[int, tuple[float, int]], floor: int, n_initial: int
) -> str:
    said = ", ".join(
        f"corr(rung {r}, rung {r + 1}) = {rho:.2f} over {n} trials"
        for r, (rho, n) in sorted(corr.items())
    )
    said = f" ({said})" if said else ""
    if rung is not None:
        return f"fitted on rung {rung}{said}"
    if floor:
        why = f"rungs below {floor} do not predict the rungs above and no rung from {floor} on has"
    else:
        why = "no rung confirmed by the next one (or the full-budget rung) has"
    return f"no model yet, configs are drawn at random: {why} {n_initial} results{said}"


def _by_trial(items: list[Any]) -> list[Any]:
    """``items`` (observations or pending configs) by trial id, ties by config. Trial ids are
    unique on one rung in a sweep, so the configs are only keyed when they are not."""
    ordered = sorted(items, key=lambda o: o.trial_id)
    if len({o.trial_id for o in ordered}) == len(ordered):
        return ordered
    return sorted(ordered, key=lambda o: (o.trial_id, config_key(o.params)))


@dataclass(frozen=True)
class _Theta:
    kernel: Any
    noise: float


class _Fit:
    """One fitted surrogate and the constant-liar sequence of proposals it yields.

    ``points[0]`` is the acquisition optimum; each next point is asked after telling the
    optimizer that the previous ones scored the lie, so a batch spreads out (skopt's
    constant liar, done step by step so the sequence can be extended on demand without
    changing its beginning).
    """

    def __init__(
        self,
        key: str,
        rung: int,
        opt: Optimizer,
        y_best: float,
        lie: float,
        *,
        depth: int,
        best: list[list[Any]],
        acq_func: str,
        candidates: int,
        seed: int,
        top: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        self.key = key
        self.rung = rung
        self.opt = opt
        self.model = opt.models[-1]  # the surrogate before any lie about its own proposals
        self.y_best = y_best
        self.lie = lie
        self.depth = depth
        self.best = best
        self.acq_func = "EI" if acq_func == "gp_hedge" else acq_func
        self.candidates = candidates
        self.seed = seed
        self.top = top  # objective = top + scale * model output
        self.scale = scale
        self.points: list[list[Any]] = []
        self.lock = threading.Lock()

    def extend(self, upto: int) -> None:
        with self.lock:
            while len(self.points) < upto:
                i = len(self.points)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if i >= self.depth:
                        self.points.append(self._sampled(i))
                        continue
                    # The liar optimum, unless a candidate near the best results beats it.
                    x = self._best_candidate(self.opt.models[-1], i, first=self.opt.ask())
                    self.points.append(x)
                    self.opt.tell(x, self.lie)

    def _candidates(self, rng: np.random.Generator) -> np.ndarray:
        # Half uniform, half around the best results (like TPE sampling near good points):
        # uniform draws alone rarely come near a narrow basin in a few dimensions, so the
        # acquisition's maximum there would go unseen.
        space = self.opt.space
        half = self.candidates // 2
        uniform = space.transform(space.rvs(n_samples=half, random_state=int(rng.integers(2**31))))
        centres = space.transform(self.best)
        # Steps from 0.5 % to 20 % of each range: fine ones refine a noisy optimum, wide ones
        # look around it; the acquisition picks.
        step = np.exp(rng.uniform(np.log(0.005), np.log(0.2), (half, 1)))
        local = centres[rng.integers(len(centres), size=half)] + step * rng.normal(
            0.0, 1.0, (half, centres.shape[1])
        )
        bounds = np.asarray(space.transformed_bounds, dtype=float)
        return np.vstack([uniform, np.clip(local, bounds[:, 0], bounds[:, 1])])

    def _best_candidate(self, model: Any, i: int, first: list[Any] | None = None) -> list[Any]:
        """The candidate (``first`` among them) that maximises the acquisition under ``model``."""
        rng = np.random.default_rng([self.seed, i])
        space = self.opt.space
        X = self._candidates(rng)
        if first is not None:
            X = np.vstack([space.transform([first]), X])
        values = _gaussian_acquisition(X, model, y_opt=self.y_best, acq_func=self.acq_func)
        best = int(np.argmin(values))
        if first is not None and best == 0:
            return first
        point: list[Any] = space.inverse_transform(X[best].reshape(1, -1))[0]
        return point

    def _sampled(self, i: int) -> list[Any]:
        # Beyond the constant-liar batch, each further point maximises the acquisition over
        # its own random candidates. Walking a liar sequence ever deeper only explores.
        return self._best_candidate(self.model, i)

    def ready(self) -> list[list[Any]]:
        with self.lock:
            return list(self.points)


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
        acq_optimizer: str = "auto",
        candidates: int = 1000,
        refit_growth: float = 1.1,
        liar: str = "cl_mean",
        liar_depth: int = 4,
        random_fraction: float = DEFAULT_RANDOM_FRACTION,
        min_rank_corr: float = DEFAULT_MIN_RANK_CORR,
    ) -> None:
        if base_estimator not in BASE_ESTIMATORS:
            raise ValueError(
                f"base_estimator must be one of {list(BASE_ESTIMATORS)}, got {base_estimator!r}"
            )
        if acq_func not in ACQ_FUNCS:
            raise ValueError(f"acq_func must be one of {list(ACQ_FUNCS)}, got {acq_func!r}")
        if (
            isinstance(n_initial_points, bool)
            or not isinstance(n_initial_points, int)
            or n_initial_points < 2
        ):
            raise ValueError(f"n_initial_points must be an integer >= 2, got {n_initial_points!r}")
        if acq_optimizer not in ("auto", "sampling", "lbfgs"):
            raise ValueError(
                f"acq_optimizer must be 'auto', 'sampling' or 'lbfgs', got {acq_optimizer!r}"
            )
        if acq_optimizer == "auto":
            acq_optimizer = "lbfgs" if base_estimator == "GP" else "sampling"
        if acq_optimizer == "lbfgs" and base_estimator != "GP":
            raise ValueError("acq_optimizer 'lbfgs' needs gradients: only with base_estimator 'GP'")
        if candidates < 10:
            raise ValueError(f"candidates must be >= 10, got {candidates}")
        if refit_growth < 1.0:
            raise ValueError(f"refit_growth must be >= 1, got {refit_growth}")
        if liar_depth < 1:
            raise ValueError(f"liar_depth must be >= 1, got {liar_depth}")
        if not 0.0 <= random_fraction <= MAX_RANDOM_FRACTION:
            raise ValueError(
                f"random_fraction must be between 0 and {MAX_RANDOM_FRACTION}, got {random_fraction}"
            )
        if not -1.0 <= min_rank_corr <= 1.0:
            raise ValueError(f"min_rank_corr must be between -1 and 1, got {min_rank_corr}")
        if liar not in ("cl_min", "cl_mean", "cl_max"):
            raise ValueError(f"liar must be 'cl_min', 'cl_mean' or 'cl_max', got {liar!r}")
        super().__init__(space, seed)
        self.base_estimator = base_estimator
        self.acq_func = acq_func
        self.n_initial_points = n_initial_points
        self.acq_optimizer = acq_optimizer
        self.candidates = candidates
        self.refit_growth = refit_growth
        self.liar = liar
        self.liar_depth = liar_depth
        self.random_fraction = random_fraction
        self.min_rank_corr = min_rank_corr
        self.encoder = SkoptEncoder(space)
        self._initial = RandomSampler(space, seed)
        # Caches of pure functions, keyed by fingerprints of their inputs: dropping them
        # changes only speed, never a proposal. The lock guards the dicts, not the fits.
        self._lock = threading.Lock()
        self._thetas: OrderedDict[str, _Theta] = OrderedDict()
        self._fits: OrderedDict[str, _Fit] = OrderedDict()
        # The last fit_choice and the results it was made from (one proposal asks 2-3 times).
        self._choice: tuple[tuple[Observation, ...], int | None, FitChoice] | None = None
        self._settings = [
            base_estimator, acq_func, n_initial_points, acq_optimizer, candidates, refit_growth,
            liar, liar_depth, self.seed, min_rank_corr,
        ]  # fmt: skip

    def __getstate__(self) -> dict[str, Any]:
        # Settings only: the caches rebuild themselves (the proposal pool sends the sampler
        # to its fitting process this way).
        state = self.__dict__.copy()
        for cache in ("_lock", "_thetas", "_fits", "_choice"):
            del state[cache]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._thetas = OrderedDict()
        self._fits = OrderedDict()
        self._choice = None

    # --- which data ---------------------------------------------------------------------

    def fit_choice(self, history: History) -> FitChoice:
        """Which rung the model is fitted on, and the rank correlations that decided it.

        For each rung and the next, the Spearman correlation of their results on the trials
        in both (from ``MIN_PAIRS`` trials) says whether the lower rung ranks trials the way
        the higher one does. A rung is trusted once the next rung confirms it
        (``corr >= min_rank_corr``) and no rung at or above it is contradicted by the rung
        above that (``corr < min_rank_corr``); the full-budget rung always is. The model is
        fitted on the highest trusted rung with ``n_initial_points`` finite results; with
        none, configs are the random sampler's. So a low budget that misleads (a learning
        rate that is best after 3 epochs and worse after 81) steers nothing until the next
        rung confirms it, and stops steering when a higher rung contradicts it.
        """
        cached = self._choice
        if (
            cached is not None
            and cached[0] is history.observations
            and cached[1] == history.top_rung
        ):
            return cached[2]
        choice = self._choose(history)
        self._choice = (history.observations, history.top_rung, choice)
        return choice

    def _choose(self, history: History) -> FitChoice:
        by_rung: dict[int, dict[int, float]] = {}
        for o in history.finite():
            by_rung.setdefault(o.rung, {})[o.trial_id] = o.value
        if not by_rung:
            return FitChoice(None, {}, "no finite results yet")
        top = history.top_rung if history.top_rung is not None else max(by_rung)
        corr: dict[int, tuple[float, int]] = {}
        for r in sorted(by_rung):
            above = by_rung.get(r + 1, {})
            both = sorted(set(by_rung[r]) & set(above))
            if len(both) >= MIN_PAIRS:
                rho = _spearman([by_rung[r][t] for t in both], [above[t] for t in both])
                if rho is not None:
                    corr[r] = (rho, len(both))
        refuted = [r for r, (rho, _) in corr.items() if rho < self.min_rank_corr]
        floor = max(refuted) + 1 if refuted else 0  # no rung at or below a refuted one

        def trusted(r: int) -> bool:
            return r >= floor and (r >= top or r in corr)

        enough = [
            r for r, seen in by_rung.items() if len(seen) >= self.n_initial_points and trusted(r)
        ]
        rung = max(enough) if enough else None
        return FitChoice(rung, corr, _reason(rung, corr, floor, self.n_initial_points))

    def fit_rung(self, history: History) -> int | None:
        """The rung the model is fitted on (:meth:`fit_choice`), None while configs are
        drawn at random."""
        return self.fit_choice(history).rung

    def _observations(self, history: History, rung: int) -> list[Observation]:
        return _by_trial([o for o in history.observations if o.rung == rung])

    def _pending(self, history: History, rung: int) -> list[Pending]:
        # Lie only about new configs being evaluated at the fitted rung (FIFO's running
        # trials, a bracket that starts there): the proposals must keep away from them.
        # A trial promoted into this rung was chosen for its good results below; telling
        # the model it scored the lie would push proposals away from the best region.
        seen = {o.trial_id for o in history.observations}
        pending = [p for p in history.pending if p.rung == rung and p.trial_id not in seen]
        return _by_trial(pending)

    def model_key(self, history: History) -> str | None:
        """Fingerprint of what the model is fitted on (None: no model yet, Sobol phase)."""
        rung = self.fit_rung(history)
        if rung is None:
            return None
        return self._key(history, rung)

    def _key(self, history: History, rung: int) -> str:
        data = [[o.trial_id, o.params, o.value] for o in self._observations(history, rung)]
        pending = [[p.trial_id, p.params] for p in self._pending(history, rung)]
        return fingerprint([self._settings, rung, data, pending])

    # --- proposals ----------------------------------------------------------------------

    def initial(self, history: History, n: int) -> list[Proposal]:
        """Space-filling configs used before a model exists (and as a fallback)."""
        start = history.n_proposed
        return [
            Proposal(self._initial.config_at(k), "bayes-initial") for k in range(start, start + n)
        ]

    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        self._check_n(n)
        if n == 0:
            return []
        if self.fit_rung(history) is None:
            return self.initial(history, n)
        return self.mix(history, n, lambda m: self._from_model(history, m))

    def _from_model(self, history: History, n: int) -> list[Proposal]:
        try:
            fit = self.fit(history)
            assert fit is not None
            return self.serve(fit, history, n, compute=True)
        except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - numerical corner
            # A degenerate fit must not stall the sweep: mix() fills in random configs.
            warnings.warn(f"bayes sampler fell back to Sobol: {exc}", RuntimeWarning, stacklevel=2)
            return []

    def is_random(self, k: int) -> bool:
        """Whether the sweep's k-th proposal is drawn at random (``random_fraction``)."""
        if self.random_fraction <= 0:
            return False
        return bool(
            np.random.default_rng([self.seed % 2**63, k, 0xB0]).random() < self.random_fraction
        )

    def mix(
        self, history: History, n: int, model: Callable[[int], list[Proposal]]
    ) -> list[Proposal]:
        """``n`` proposals: random ones where :meth:`is_random` says so (BOHB keeps a
        fraction of random configs so a misleading model cannot lock the search into one
        basin), the model's (``model(m)``) elsewhere, random ones if it runs short."""
        ks = range(history.n_proposed, history.n_proposed + n)
        random_at = [self.is_random(k) for k in ks]
        wanted = random_at.count(False)
        from_model = iter(model(wanted) if wanted else [])
        out: list[Proposal] = []
        for k, is_random in zip(ks, random_at, strict=True):
            proposal = None if is_random else next(from_model, None)
            if proposal is None:
                source = "bayes-random" if is_random else "bayes-fallback"
                proposal = Proposal(self._initial.config_at(k), source)
            out.append(proposal)
        return out

    def serve(self, fit: _Fit, history: History, n: int, *, compute: bool) -> list[Proposal]:
        """The first ``n`` configs of ``fit``'s sequence that the sweep has not tried yet.

        With ``compute=False`` only the part of the sequence already computed is used (the
        proposal pool's fast path), so fewer than ``n`` may come back.
        """
        tried = {config_key(c) for c in history.tried}
        tried.update(config_key(o.params) for o in history.observations)
        tried.update(config_key(p.params) for p in history.pending)
        out: list[Proposal] = []
        # Skipped points are the ones already started from this fit; the margin only stops
        # a degenerate (tiny, fully stepped) space from searching forever.
        limit = n + len(tried) + 16
        i = 0
        while len(out) < n and i < limit:
            if compute:
                fit.extend(i + 1)
            points = fit.ready()
            if i >= len(points):
                break
            config = self.encoder.decode(points[i])
            key = config_key(config)
            if key not in tried:
                tried.add(key)
                out.append(Proposal(config, self.name))
            i += 1
        return out

    def fit(self, history: History, *, compute: bool = True) -> _Fit | None:
        """The surrogate for ``history`` (fitted now unless cached; None if no model yet,
        or if ``compute`` is False and it is not cached)."""
        rung = self.fit_rung(history)
        if rung is None:
            return None
        key = self._key(history, rung)
        with self._lock:
            cached = self._fits.get(key)
            if cached is not None:
                self._fits.move_to_end(key)
                return cached
        if not compute:
            return None
        fit = self._make_fit(history, rung, key)
        with self._lock:
            self._fits[key] = fit
            while len(self._fits) > 4:
                self._fits.popitem(last=False)
        return fit

    def latest_fit(self) -> _Fit | None:
        """The most recently used fit, whatever results it was made from."""
        with self._lock:
            return next(reversed(self._fits.values()), None)

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
        with self._lock:
            cached = self._thetas.get(key)
            if cached is not None:
                self._thetas.move_to_end(key)
                return cached
        space = SkSpace(normalize_dimensions(self.encoder.dimensions()))
        est = cook_estimator(
            "GP", space=space.dimensions, random_state=self._rng_seed("theta", key)
        )
        # One marginal-likelihood search from skopt's default start: the two random restarts
        # skopt adds tripled the cost of a refit without a gain we could measure.
        est.set_params(n_restarts_optimizer=0)
        top, scale = _pessimistic(y[:m])
        ym = [(v - top) / scale for v in y[:m]]
        est.set_params(normalize_y=False)  # the prior mean is the worst result: see _pessimistic
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(space.transform(X[:m]), ym)
        theta = _Theta(est.kernel_.k1, float(est.noise_ or 0.0))
        with self._lock:
            self._thetas[key] = theta
            while len(self._thetas) > 16:
                self._thetas.popitem(last=False)
        return theta

    def _estimator(self, X: list[list[Any]], y: list[float], rung: int, seed: int) -> Any:
        if self.base_estimator == "GP":
            theta = self._theta(X, y, rung)
            return GaussianProcessRegressor(
                kernel=clone(theta.kernel),
                normalize_y=False,  # y comes shifted and scaled: see _pessimistic
                noise=max(theta.noise, 1e-8),
                optimizer=None,  # hyperparameters come from _theta; conditioning only
            )
        if self.base_estimator == "GBRT":
            # skopt's own GBRT recipe (cook_estimator), with the tags fixed.
            gbrt = GradientBoostingRegressor(n_estimators=30, loss="quantile")
            return _GBRT(base_estimator=gbrt, random_state=seed)
        return cook_estimator(self.base_estimator, random_state=seed)

    def _make_fit(self, history: History, rung: int, key: str) -> _Fit:
        obs = self._observations(history, rung)
        finite = [o.value for o in obs if math.isfinite(o.value)]
        worst = max(finite)
        X = [self.encoder.encode(o.params) for o in obs]
        y = [o.value if math.isfinite(o.value) else worst for o in obs]
        seed = self._rng_seed("fit", key)
        raw_y = y
        top, scale = 0.0, 1.0
        if self.base_estimator == "GP":
            top, scale = _pessimistic(y)
            y = [(v - top) / scale for v in y]
        opt = Optimizer(
            self.encoder.dimensions(),
            base_estimator=self._estimator(X, raw_y, rung, seed),
            n_initial_points=0,
            acq_func=self.acq_func,
            acq_optimizer=self.acq_optimizer,
            acq_optimizer_kwargs={"n_points": self.candidates, "n_restarts_optimizer": 1},
            random_state=seed,
            model_queue_size=1,  # the liar refits would otherwise pile up n x n matrices
        )
        lie = {"cl_min": min(y), "cl_mean": sum(y) / len(y), "cl_max": max(y)}[self.liar]
        # Configs being evaluated at this rung: tell the lie for them as well, so the
        # proposals keep away from what other workers are already trying.
        seen = {tuple(x) for x in X}
        lies = [
            x
            for x in (self.encoder.encode(p.params) for p in self._pending(history, rung))
            if tuple(x) not in seen
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.tell(X + lies, y + [lie] * len(lies))
        # The first proposal (the acquisition optimum, computed by that tell) is polished
        # with L-BFGS when asked; the constant-liar continuation refits once per point, and
        # polishing each of those cost ~10x more than it gained here, so it samples only.
        opt.acq_optimizer = "sampling"
        score = y
        if self.base_estimator == "GP":
            # EI against the model's best mean at a tried config, not the luckiest noisy
            # result: measured against a lucky draw, nothing looks like an improvement.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = [float(m) for m in opt.models[-1].predict(opt.space.transform(X))]
        order = sorted(range(len(y)), key=lambda i: score[i])
        return _Fit(
            key, rung, opt, min(score), lie,
            depth=self.liar_depth,
            best=[X[i] for i in order[: max(3, len(y) // 10)]],
            acq_func=self.acq_func, candidates=self.candidates, seed=seed, top=top, scale=scale,
        )  # fmt: skip

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
        choice = self.fit_choice(history)
        rung = choice.rung
        if rung is None:
            raise ValueError(f"{choice.reason} (n_initial_points = {self.n_initial_points})")
        fit = self.fit(history)
        assert fit is not None
        if at is None:
            fit.extend(1)
            where: dict[str, Any] = self.encoder.decode(fit.ready()[0])
        else:
            where = dict(at)
        if not self.space.is_active(param, where):
            raise ValueError(f"{param!r} is inactive at {where}: its condition does not hold")
        index = self.space.names.index(param)
        base = self.encoder.encode(where)
        opt = fit.opt
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
        model = fit.model
        Xt = opt.space.transform(rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mean, std = model.predict(Xt, return_std=True)
            acq_name = "EI" if self.acq_func == "gp_hedge" else self.acq_func
            acq = -_gaussian_acquisition(Xt, model, y_opt=fit.y_best, acq_func=acq_name)
        # Back to the objective's units (the GP sees (y - top) / scale; see _pessimistic).
        mean = fit.top + fit.scale * np.asarray(mean)
        std = fit.scale * np.asarray(std)
        if acq_name == "EI":
            acq = fit.scale * acq
        elif acq_name == "LCB":
            acq = fit.scale * acq - fit.top
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
            choice=choice.reason,
            acq_func=acq_name,
            at=self.space.active_config(where),
            values=values,
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            acquisition=tuple(float(v) for v in acq),
            observed=observed,
        )
