"""Steering messages from a live page, carried out through :func:`sweeps.actions.perform`,
the same door as the REST API's steering routes.

Every message is checked on its own: the sender must still be allowed to steer the sweep
(:func:`sweeps.access.can_steer`, read fresh from the database each time, so a revoked
owner or viewer is refused at once), the trial must belong to the sweep, and a body is
checked by the action's serializer. Answers are ``{"type": "reply", "ref", "action",
"ok": true, ...}`` or ``{"type": "error", "ref", "action", "code", "errors": {field: rule}}``
— the same field-to-rule shape as the REST API, and ``code`` the status REST answers the
same mistake with (400, 403, 404, 409). A frame
that is not a JSON object within :func:`sweeps.guard.parse_json`'s bounds (``MAX_MESSAGE``
characters, nesting depth, integer range, strings) is answered with an error on ``message``.

Messages (``ref`` is any value the page uses to match the answer): every action in
:data:`sweeps.actions.REGISTRY` by its name, with ``"trial": <trial id>`` for a trial's and
its body's fields beside ``action``; and one read-only question that viewers may ask::

    {"action": "kill", "trial": 12}
    {"action": "update_sweep", "concurrency": 4}
    {"action": "enqueue", "params": {...}}
    {"action": "surrogate", "param": <name>}

A reply carries the trial row (``"trial"``) or the sweep's state (``"sweep"``), each with
the actions allowed on it now.
"""

from __future__ import annotations

from typing import Any

from sweeps import actions, queries, services
from sweeps.access import visible_sweeps
from sweeps.guard import parse_json
from sweeps.search.space import SpaceError

READ_ACTIONS = ("surrogate",)
MAX_MESSAGE = 64 * 1024
# Keys of a message that address it rather than make up the action's body.
ENVELOPE = frozenset({"action", "ref", "trial"})


class Refused(Exception):
    """A message that cannot be carried out; ``errors`` maps each field to the rule and
    ``code`` is the HTTP status the REST API gives for the same mistake."""

    def __init__(self, errors: dict[str, str], code: int = 400) -> None:
        self.errors, self.code = errors, code
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
    code = 400
    try:
        if text is None:
            raise Refused({"message": "must be a text frame holding a JSON object"})
        # The one input guard bounds size, depth, numbers and strings: a frame nested 10,000
        # deep raised RecursionError here, which closed the socket (1011) instead of answering.
        message = parse_json(text, field="message", max_bytes=MAX_MESSAGE)
        if not isinstance(message, dict):
            raise Refused({"message": "must be a JSON object"})
        ref, action = message.get("ref"), message.get("action")
        names = [*actions.REGISTRY, *READ_ACTIONS]
        if action not in names:
            raise Refused({"action": f"must be one of {names}, got {action!r}"})
        result = _perform(user, sweep_id, action, message)
        return {"type": "reply", "ref": ref, "action": action, "ok": True, **result}
    except Refused as exc:
        errors, code = exc.errors, exc.code
    except SpaceError as exc:
        errors = exc.errors
    except services.Conflict as exc:
        errors, code = {"status": str(exc)}, 409
    except ValueError as exc:
        errors = {"param" if action == "surrogate" else "message": str(exc)}
    return {
        "type": "error", "ref": ref, "action": action, "ok": False, "code": code,
        "errors": errors,
    }  # fmt: skip


def _perform(user: Any, sweep_id: int, name: str, message: dict[str, Any]) -> dict[str, Any]:
    sweep = visible_sweeps(user).filter(pk=sweep_id).first() if user.is_authenticated else None
    if sweep is None:
        raise Refused({"sweep": f"no sweep {sweep_id} that you can see"}, 404)
    if name == "surrogate":
        from dashboard.analytics import surrogate

        param = message.get("param")
        if not isinstance(param, str):
            raise Refused({"param": f"must be a parameter name, got {param!r}"})
        return surrogate(sweep.pk, param)
    action = actions.REGISTRY[name]
    pk = _int(message, "trial") if action.target == "trial" else sweep.pk
    body = {k: v for k, v in message.items() if k not in ENVELOPE} if action.body else None
    try:
        obj = actions.perform(user, action, pk, body, sweep_id=sweep.pk)
    except actions.Forbidden as exc:
        raise Refused({"permission": str(exc)}, 403) from None
    except actions.Missing as exc:
        raise Refused({exc.field: str(exc)}, 404) from None
    if action.result == "trial":
        [row] = queries.trial_rows(sweep.pk, ids=[obj.pk])
        return {"trial": row}
    return {"sweep": queries.sweep_state(obj)}
