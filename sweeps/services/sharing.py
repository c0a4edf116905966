"""Sharing: who may see (viewers) and who may also steer or change (editors) a sweep or a
saved search space, besides its owner and staff (the rules are :mod:`sweeps.access`'s).

The users arrive checked (:mod:`sweeps.api.sharing` resolves the names). A sweep's change is
recorded as an :class:`~sweeps.models.Event` with the user who made it; a saved space has no
event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from sweeps.models import SearchSpace, Sweep
from sweeps.transitions import record_event


@transaction.atomic
def share_sweep(
    sweep_id: int, user: Any, *, viewers: Sequence[Any], editors: Sequence[Any]
) -> Sweep:
    """Make ``viewers`` and ``editors`` (users, not the owner) the sweep's only shares;
    record the change (an Event ``shared`` with ``user``) when there is one."""
    sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
    old = _names(sweep)
    sweep.viewers.set(viewers)
    sweep.editors.set(editors)
    new = _names(sweep)
    if new != old:
        record_event(
            sweep,
            "shared",
            f"viewers: {', '.join(new['viewers']) or 'none'}; "
            f"editors: {', '.join(new['editors']) or 'none'}",
            user=user,
            old=old,
            new=new,
        )
    return sweep


@transaction.atomic
def share_space(space_id: int, *, viewers: Sequence[Any], editors: Sequence[Any]) -> SearchSpace:
    """Make ``viewers`` and ``editors`` the saved space's only shares."""
    saved = SearchSpace.objects.select_for_update().get(pk=space_id)
    saved.viewers.set(viewers)
    saved.editors.set(editors)
    return saved


def _names(obj: Sweep | SearchSpace) -> dict[str, list[str]]:
    return {
        "viewers": sorted(u.get_username() for u in obj.viewers.all()),
        "editors": sorted(u.get_username() for u in obj.editors.all()),
    }


def sharing(obj: Sweep | SearchSpace) -> dict[str, Any]:
    """Who ``obj`` is shared with: ``{"owner", "viewers", "editors"}`` as user names."""
    return {"owner": obj.owner.get_username() if obj.owner else None, **_names(obj)}
