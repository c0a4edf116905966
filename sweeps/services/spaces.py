"""Saved search spaces: create, change and delete one.

The values arrive checked (:mod:`sweeps.api.spaces` validates them, the space with
:func:`~sweeps.search.space.parse_space`); who may call what is :mod:`sweeps.access`'s rule,
checked by the views.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from sweeps.models import SearchSpace
from sweeps.search.space import Space, SpaceError


def _check_name_free(owner_id: int | None, name: str, exclude: int | None = None) -> None:
    """SpaceError naming ``name`` when the owner has another space of that name. Callers hold
    the owner's row lock, so two requests cannot both take a name."""
    taken = SearchSpace.objects.filter(owner_id=owner_id, name=name).exclude(pk=exclude)
    if taken.exists():
        raise SpaceError({"name": f"the owner already has a search space named {name!r}"})


def _lock_owner(owner_id: int | None) -> None:
    if owner_id is not None:
        get_user_model().objects.select_for_update().filter(pk=owner_id).first()


@transaction.atomic
def create_space(user: Any, *, name: str, space: Space, description: str = "") -> SearchSpace:
    """A saved space owned by ``user``; SpaceError naming ``name`` if they have that name."""
    _lock_owner(user.pk)
    _check_name_free(user.pk, name)
    saved = SearchSpace.objects.create(owner=user, name=name, description=description)
    saved.replace_parameters(space)
    return saved


@transaction.atomic
def update_space(
    space_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    space: Space | None = None,
) -> SearchSpace:
    """Change what is given of a saved space (SpaceError naming ``name`` if its owner has
    another of that name). Sweeps made from it keep their copy."""
    owner_id = SearchSpace.objects.filter(pk=space_id).values_list("owner_id", flat=True).get()
    _lock_owner(owner_id)
    saved = SearchSpace.objects.select_for_update().get(pk=space_id)
    if name is not None:
        _check_name_free(saved.owner_id, name, exclude=saved.pk)
        saved.name = name
    if description is not None:
        saved.description = description
    saved.save()  # updated_at moves even when only the parameters change
    if space is not None:
        saved.replace_parameters(space)
    return saved


def delete_space(space_id: int) -> None:
    """Delete a saved space; sweeps made from it keep their copy and lose the reference."""
    SearchSpace.objects.filter(pk=space_id).delete()
