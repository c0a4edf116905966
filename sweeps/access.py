"""Who may see and who may steer a sweep: owners and staff steer, shared viewers read."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from sweeps.models import Sweep


def visible_sweeps(user: Any) -> QuerySet[Sweep]:
    if not user.is_authenticated:
        return Sweep.objects.none()
    if user.is_staff:
        return Sweep.objects.all()
    return Sweep.objects.filter(Q(owner=user) | Q(viewers=user)).distinct()


def can_steer(user: Any, sweep: Sweep) -> bool:
    return bool(user.is_authenticated and (user.is_staff or sweep.owner_id == user.pk))
