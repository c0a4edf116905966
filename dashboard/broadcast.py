"""The one module that pushes to live pages. It sends nudges, never data.

Channel layers drop messages silently when full, so a nudge only says "sweep N has news";
the consumers read the news from the database past their cursor.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def sweep_group(sweep_id: int) -> str:
    return f"sweep-{sweep_id}"


def nudge_sweep(sweep_id: int) -> None:
    """Tell every page watching ``sweep_id`` to read what is new. Never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(sweep_group(sweep_id), {"type": "sweep.nudge"})
    except Exception:  # a nudge is an optimisation: pages also poll, so losing one is fine
        log.warning("could not nudge sweep %s", sweep_id, exc_info=True)
