"""Steering messages from a live page: checked, then handed to :mod:`sweeps.services`.

Every message is checked on its own: the sender must still be allowed to steer the sweep
(:func:`sweeps.access.can_steer`, read fresh from the database each time, so a revoked
owner or viewer is refused at once), and the trial must belong to the sweep. Answers are
``{"type": "reply", "ref", "action", "ok": true, ...}`` or ``{"type": "error", "ref",
"action", "errors": {field: rule}}`` — the same field-to-rule shape as the REST API. A frame
that is not a JSON object within :func:`sweeps.guard.parse_json`'s bounds (``MAX_MESSAGE``
characters, nesting depth, integer range, strings) is answered with an error on ``message``.

Messages (``ref`` is any value the page uses to match the answer)::

    {"action": "kill" | "pause" | "resume" | "promote" | "extend", "trial": <trial id>}
    {"action": "enqueue", "params": {...}}
    {"action": "pause_sweep" | "resume_sweep" | "cancel_sweep"}
    {"action": "update_sweep", "concurrency": <int>, "max_trials": <int>}
    {"action": "surrogate", "param": <name>}        (read-only: viewers may ask)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from sweeps import queries, services
from sweeps.access import can_steer, visible_sweeps
from sweeps.guard import parse_json
from sweeps.models import Trial
from sweeps.search.space import SpaceError

TRIAL_ACTIONS: dict[str, Callable[..., Any]] = {
    "kill": services.kill_trial,
    "pause": services.pause_trial,
    "resume": services.resume_trial,
    "promote": services.promote_trial,
    "extend": services.extend_trial,
}
SWEEP_ACTIONS: dict[str, Callable[..., Any]] = {
    "pause_sweep": services.pause_sweep,
    "resume_sweep": services.resume_sweep,
    "cancel_sweep": services.cancel_sweep,
}
READ_ACTIONS = ("surrogate",)
ACTIONS = (*TRIAL_ACTIONS, "enqueue", *SWEEP_ACTIONS, "update_sweep", *READ_ACTIONS)
MAX_MESSAGE = 64 * 1024


class Refused(Exception):
    """A message that cannot be carried out; ``errors`` maps each field to the rule."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _int(message: dict[str, Any], key: str) -> int:
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused({key: f"must be an integer id, got {value!r}"})
    return value


def handle(user: Any, sweep_id: int, text: str | None) -> dict[str, Any]:
    """Carry out one page message for ``user`` on sweep ``sweep_id`` (blocking)."""
    ref: Any = None
    action: Any = None
    try:
        if text is None:
            raise Refused({"message": "must be a text frame holding a JSON object"})
        # The one input guard bounds size, depth, numbers and strings: a frame nested 10,000
        # deep raised RecursionError here, which closed the socket (1011) instead of answering.
        message = parse_json(text, field="message", max_bytes=MAX_MESSAGE)
        if not isinstance(message, dict):
            raise Refused({"message": "must be a JSON object"})
        ref, action = message.get("ref"), message.get("action")
        if action not in ACTIONS:
            raise Refused({"action": f"must be one of {list(ACTIONS)}, got {action!r}"})
        result = _perform(user, sweep_id, action, message)
        return {"type": "reply", "ref": ref, "action": action, "ok": True, **result}
    except Refused as exc:
        errors = exc.errors
    except SpaceError as exc:
        errors = exc.errors
    except services.Conflict as exc:
        errors = {"status": str(exc)}
    except ValueError as exc:
        errors = {"param" if action == "surrogate" else "message": str(exc)}
    return {"type": "error", "ref": ref, "action": action, "ok": False, "errors": errors}


def _perform(user: Any, sweep_id: int, action: str, message: dict[str, Any]) -> dict[str, Any]:
    sweep = visible_sweeps(user).filter(pk=sweep_id).first() if user.is_authenticated else None
    if sweep is None:
        raise Refused({"sweep": f"no sweep {sweep_id} that you can see"})
    if action == "surrogate":
        from dashboard.analytics import surrogate

        param = message.get("param")
        if not isinstance(param, str):
            raise Refused({"param": f"must be a parameter name, got {param!r}"})
        return surrogate(sweep.pk, param)
    if not can_steer(user, sweep):
        raise Refused({"permission": "only the sweep's owner or staff can steer it"})
    if action in TRIAL_ACTIONS:
        trial_id = _int(message, "trial")
        if not Trial.objects.filter(pk=trial_id, sweep_id=sweep.pk).exists():
            raise Refused({"trial": f"no trial {trial_id} in sweep {sweep.pk}"})
        try:
            trial = TRIAL_ACTIONS[action](trial_id, user)
        except ObjectDoesNotExist:
            raise Refused({"trial": f"no trial {trial_id} in sweep {sweep.pk}"}) from None
        [row] = queries.trial_rows(sweep.pk, ids=[trial.pk])
        return {"trial": row}
    if action == "enqueue":
        params = message.get("params")
        if not isinstance(params, dict):
            raise Refused({"params": "must be an object of parameter values"})
        trial = services.enqueue_trial(sweep.pk, params, user)
        [row] = queries.trial_rows(sweep.pk, ids=[trial.pk])
        return {"trial": row}
    if action == "update_sweep":
        changes: dict[str, Any] = {}
        for key in ("concurrency", "max_trials"):
            if message.get(key) is not None:
                changes[key] = message[key]
        if not changes:
            raise Refused({"concurrency": "give concurrency and/or max_trials"})
        sweep = services.update_sweep(sweep.pk, user, **changes)
        return {"sweep": {"status": sweep.status, "concurrency": sweep.concurrency,
                          "max_trials": sweep.max_trials}}  # fmt: skip
    sweep = SWEEP_ACTIONS[action](sweep.pk, user)
    return {"sweep": {"status": sweep.status}}
