"""A toy steering action that exists only in tests: "cut" a waiting trial by hand.

It is declared the way a real one is, in one :class:`~sweeps.actions.Action`, and then
registered for a test only (:func:`sweeps.actions.registered`): REST, the schema, the socket
and the page must all pick it up from that one declaration.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers

from sweeps import services
from sweeps.actions import Action
from sweeps.api.closed import ClosedSerializer
from sweeps.models import Trial
from sweeps.states import TrialStatus


class CutSerializer(ClosedSerializer):
    """Why the trial is cut (optional)."""

    note = serializers.CharField(max_length=40, required=False)


@transaction.atomic
def cut_trial(trial_id: int, user: Any = None, *, note: str = "") -> Trial:
    """Stop a waiting trial now, as if the scheduler had cut it."""
    trial = Trial.objects.select_for_update().select_related("sweep").get(pk=trial_id)
    services.move_status(trial, TrialStatus.STOPPED)
    services.record_event(trial.sweep, "cut", f"trial {trial.number} cut: {note}", trial=trial,
                          user=user)  # fmt: skip
    return trial


CUT = Action(
    "cut",
    "trial",
    cut_trial,
    "Cut",
    "Cut a waiting trial by hand",
    into=TrialStatus.STOPPED,  # only "waiting" has an edge to "stopped"
    body=CutSerializer,
    verb="cut",
)
