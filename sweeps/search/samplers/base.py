"""The sampler interface: a history of results in, configs out.

A sampler holds only its settings (space, seed, options). Everything it knows about the
sweep comes in a :class:`History` built from the database on every call, so a sampler can
be thrown away and rebuilt at any time and proposes the same configs for the same history.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeps.search.decisions import PENDING, RUNNING, SweepSnapshot
from sweeps.search.space import Space, Value

__all__ = [
    "History",
    "Observation",
    "Pending",
    "Proposal",
    "Sampler",
    "config_key",
    "fingerprint",
    "history_from_snapshot",
]


@dataclass(frozen=True)
class Observation:
    """One reported result: ``value`` (lower is better, may be NaN / inf) at ``rung``."""

    params: Mapping[str, Any]
    value: float
    rung: int = 0
    trial_id: int = 0


@dataclass(frozen=True)
class Pending:
    """A config being evaluated now (no result yet) at ``rung``."""

    params: Mapping[str, Any]
    rung: int = 0
    trial_id: int = 0


@dataclass(frozen=True)
class History:
    """What a sampler may know about a sweep.

    ``pending``: configs being evaluated now, so parallel proposals keep away from them.
    ``tried``: every config the sweep already has (any status, killed ones too), so a
    sampler never proposes one again. ``n_proposed``: how many configs this sampler has
    already proposed in the sweep; index-based samplers continue their sequence from it.
    ``top_rung``: the scheduler's full-budget rung (None: unknown, the highest rung seen),
    so a sampler can tell results that are final from ones that only predict them.
    """

    observations: tuple[Observation, ...] = ()
    pending: tuple[Pending, ...] = ()
    n_proposed: int = 0
    tried: tuple[Mapping[str, Any], ...] = ()
    top_rung: int | None = None

    def finite(self, rung: int | None = None) -> list[Observation]:
        return [
            o
            for o in self.observations
            if math.isfinite(o.value) and (rung is None or o.rung == rung)
        ]

    def with_pending(self, more: Iterable[Pending]) -> History:
        """This history with more configs under evaluation (started in the same decision)."""
        extra = tuple(more)
        return History(
            self.observations,
            self.pending + extra,
            self.n_proposed,
            self.tried + tuple(p.params for p in extra),
            self.top_rung,
        )


@dataclass(frozen=True)
class Proposal:
    """A config and where it came from (``source``), e.g. ``"sobol"`` or ``"bayes"``."""

    params: dict[str, Value]
    source: str


def history_from_snapshot(snapshot: SweepSnapshot, top_rung: int | None = None) -> History:
    """The sampler's view of a sweep: every reported result, the in-flight configs
    (``top_rung``: the scheduler's, see :class:`History`)."""
    if snapshot.settled:
        raise ValueError(
            "this snapshot leaves its settled brackets' trials out: a sampler's history "
            "needs every trial"
        )
    observations = tuple(
        Observation(t.params, value, rung, t.id)
        for t in snapshot.trials
        for rung, value in sorted(t.results.items())
    )
    pending = tuple(
        Pending(t.params, t.rung, t.id)
        for t in snapshot.trials
        if t.status in (PENDING, RUNNING) and not t.has_current_result
    )
    n_proposed = sum(1 for t in snapshot.trials if not t.manual)
    tried = tuple(t.params for t in snapshot.trials)
    return History(observations, pending, n_proposed, tried, top_rung)


def _plain(value: Any) -> Any:
    # JSON's fallback for what it cannot write itself: frozen mappings (the snapshot's
    # params and results) become dicts, whose keys it sorts; anything else its str().
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return str(value)


def config_key(params: Mapping[str, Any]) -> tuple[tuple[str, str, Any], ...]:
    """A hashable identity for a config (``1`` and ``True`` stay different)."""
    # Keys are unique strings, so sorting never compares values of different types.
    return tuple(sorted((k, type(v).__name__, v) for k, v in params.items()))


def fingerprint(items: Iterable[Any]) -> str:
    """A short stable digest of JSON-able data (observations, configs, settings)."""
    # Floats are written exactly (repr), NaN / inf included; this runs for every result on
    # each decision, so the work stays in the json module's C code.
    blob = json.dumps(list(items), sort_keys=True, default=_plain)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


class Sampler(ABC):
    """Proposes configs. Subclasses implement :meth:`propose`.

    Contract (checked by ``tests/search/test_sampler_contract.py`` for every sampler):
    proposals lie inside the space with the right types, inactive conditional parameters
    are omitted, and the same (settings, seed, history, n) always gives the same proposals.
    """

    name: str = "sampler"
    # False for a sampler whose proposals follow from ``History.n_proposed`` alone (its
    # index in a fixed sequence): the scheduler then never builds the rest of the history,
    # and a snapshot may leave settled brackets out (see ``SweepSnapshot.settled``).
    reads_history: bool = True

    def __init__(self, space: Space, seed: int = 0) -> None:
        self.space = space
        self.seed = int(seed)

    @abstractmethod
    def propose(self, history: History, n: int = 1) -> list[Proposal]:
        """Up to ``n`` new configs; fewer only when the sampler is exhausted (grid)."""

    def capacity(self) -> int | None:
        """How many configs the sampler can ever propose (None = unbounded)."""
        return None

    def exhausted(self, history: History) -> bool:
        """Whether no further config can be proposed."""
        cap = self.capacity()
        return cap is not None and history.n_proposed >= cap

    @staticmethod
    def _check_n(n: int) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")


def unit_rows(rows: Sequence[Sequence[float]]) -> list[list[float]]:
    """Plain float lists from a numpy array (keeps numpy types out of configs)."""
    return [[float(x) for x in row] for row in rows]
