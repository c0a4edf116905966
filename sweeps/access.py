"""Who may do what with a sweep or a saved search space.

==========  ======================  ===============================================
role        sweep                   saved search space
==========  ======================  ===============================================
viewer      sees it                 sees it, uses it in a sweep spec
editor      sees it and steers it   sees it, uses it, changes it
owner       everything              everything (and deletes it)
staff       everything              everything
==========  ======================  ===============================================

Only the owner and staff change who it is shared with. Everything is read from the
database on each call, so a right taken away holds from the next request (or socket
message) on.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from sweeps.models import SearchSpace, Sweep


def _is_staff(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def visible_sweeps(user: Any) -> QuerySet[Sweep]:
    if not user.is_authenticated:
        return Sweep.objects.none()
    if user.is_staff:
        return Sweep.objects.all()
    # Subqueries, not joins: a join over both shares would repeat a sweep (and `distinct`
    # would not combine with the callers' `select_for_update`).
    shared = Sweep.viewers.through.objects.filter(user=user).values("sweep_id")
    editing = Sweep.editors.through.objects.filter(user=user).values("sweep_id")
    return Sweep.objects.filter(Q(owner=user) | Q(pk__in=shared) | Q(pk__in=editing))


def can_steer(user: Any, sweep: Sweep) -> bool:
    """Owners, editors and staff steer a sweep; viewers only watch."""
    if not user.is_authenticated:
        return False
    if user.is_staff or sweep.owner_id == user.pk:
        return True
    return sweep.editors.filter(pk=user.pk).exists()


def can_share(user: Any, obj: Sweep | SearchSpace) -> bool:
    """Whether ``user`` may change who ``obj`` is shared with: its owner and staff."""
    return _is_staff(user) or bool(user.is_authenticated and obj.owner_id == user.pk)


def visible_spaces(user: Any) -> QuerySet[SearchSpace]:
    """Saved spaces ``user`` may see and use: their own, those shared with them; staff all."""
    if not user.is_authenticated:
        return SearchSpace.objects.none()
    if user.is_staff:
        return SearchSpace.objects.all()
    shared = SearchSpace.viewers.through.objects.filter(user=user).values("searchspace_id")
    editing = SearchSpace.editors.through.objects.filter(user=user).values("searchspace_id")
    return SearchSpace.objects.filter(Q(owner=user) | Q(pk__in=shared) | Q(pk__in=editing))


def can_edit_space(user: Any, space: SearchSpace) -> bool:
    """Owners, editors and staff change a saved space's name, description and parameters."""
    if can_share(user, space):
        return True
    return bool(user.is_authenticated and space.editors.filter(pk=user.pk).exists())


def can_delete_space(user: Any, space: SearchSpace) -> bool:
    return can_share(user, space)
