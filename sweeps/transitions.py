"""The one door every status change goes through, and the event that records it.

Both :mod:`sweeps.services` (steering, segments) and :mod:`sweeps.scheduling` (the
scheduler's decisions) change statuses; they share these primitives from here, so neither
imports the other (:mod:`sweeps.services` re-exports them, ``services.Conflict`` included).
"""

from __future__ import annotations

from typing import Any

from sweeps.models import Event, Sweep, Trial
from sweeps.states import InvalidTransition

__all__ = ["Conflict", "move_status", "record_event"]


class Conflict(Exception):
    """A steering action that the object's current state does not allow."""


def record_event(
    sweep: Sweep,
    kind: str,
    message: str = "",
    *,
    trial: Trial | None = None,
    user: Any = None,
    **data: Any,
) -> Event:
    return Event.objects.create(
        sweep=sweep,
        trial=trial,
        user=user if getattr(user, "pk", None) else None,
        kind=kind,
        message=message,
        data=data,
    )


def move_status(obj: Sweep | Trial, status: str, **fields: Any) -> None:
    """Move ``obj`` to ``status`` (checked by the state machine) or raise :class:`Conflict`.

    Asking for the status the object already has is a conflict too (pausing a paused sweep):
    the caller's view of the object is out of date, and no event should be recorded.
    """
    if obj.status == status:
        noun = "sweep" if isinstance(obj, Sweep) else f"trial {obj.number}"
        raise Conflict(f"{noun} is already {status}")
    obj.status = status
    for name, value in fields.items():
        setattr(obj, name, value)
    try:
        obj.save(update_fields=["status", *fields])
    except InvalidTransition as exc:
        raise Conflict(str(exc)) from exc
