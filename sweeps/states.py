"""The state machines of sweeps and trials: the one place that says which moves are allowed.

The statuses themselves live in :mod:`sweeps.enums` (Django-free, shared with the search
engine and the trainers) and are re-exported here. Models call :func:`check_transition` whenever a status changes (see ``StatusModel.save``), so
no code path can move a row along an edge that is not listed here.
"""

from __future__ import annotations

from sweeps.enums import SweepStatus, TrialStatus

__all__ = ["TRANSITIONS", "InvalidTransition", "SweepStatus", "TrialStatus", "check_transition"]


class InvalidTransition(ValueError):
    """A status change that the state machine forbids."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        # Plain strings: a status enum's repr would leak into the message the API returns.
        current, target = str(current), str(target)
        self.kind, self.current, self.target = kind, current, target
        allowed = sorted(TRANSITIONS[kind].get(current, ()))
        super().__init__(
            f"a {kind} cannot go from {current!r} to {target!r}; "
            f"allowed from {current!r}: {', '.join(allowed) or 'none (terminal)'}"
        )


_S, _T = SweepStatus, TrialStatus

TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "sweep": {
        _S.DRAFT: frozenset({_S.RUNNING, _S.CANCELLED}),
        _S.RUNNING: frozenset({_S.PAUSED, _S.COMPLETED, _S.CANCELLED, _S.FAILED}),
        _S.PAUSED: frozenset({_S.RUNNING, _S.CANCELLED}),
        # A finished sweep runs again when a trial is extended or its trial budget raised.
        _S.COMPLETED: frozenset({_S.RUNNING}),
        _S.CANCELLED: frozenset(),
        _S.FAILED: frozenset(),
    },
    "trial": {
        _T.PENDING: frozenset({_T.RUNNING, _T.PAUSED, _T.KILLED, _T.FAILED}),
        # running -> pending: the reaper re-queues a segment whose worker vanished.
        _T.RUNNING: frozenset(
            {_T.WAITING, _T.COMPLETED, _T.PAUSED, _T.PENDING, _T.KILLED, _T.FAILED, _T.DIVERGED}
        ),
        _T.WAITING: frozenset({_T.PENDING, _T.STOPPED, _T.COMPLETED, _T.PAUSED, _T.KILLED}),
        # paused -> stopped: a trial paused after its result is cut when its rung fills
        # without it among the best (the halving rule stops losers waiting or paused).
        _T.PAUSED: frozenset({_T.PENDING, _T.WAITING, _T.STOPPED, _T.KILLED}),
        # Cut or finished trials come back only by hand: a manual promotion or an extension.
        _T.STOPPED: frozenset({_T.PENDING}),
        _T.COMPLETED: frozenset({_T.PENDING}),
        _T.KILLED: frozenset(),
        _T.FAILED: frozenset(),
        _T.DIVERGED: frozenset(),
    },
}


def check_transition(kind: str, current: str, target: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is allowed for ``kind``."""
    if current == target:
        return
    if target not in TRANSITIONS[kind]:
        raise InvalidTransition(kind, current, target)
    if target not in TRANSITIONS[kind].get(current, frozenset()):
        raise InvalidTransition(kind, current, target)
