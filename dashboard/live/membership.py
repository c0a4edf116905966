"""The one page whose channel stands in a sweep's group for the sweep's tailer.

That page's consumer gets the sweep's nudges and wakes the tailer; the others get none
(with every page in the group, each nudge cost the process a channel-layer message per
open page). When the member page goes, another takes its place (a nudge sent in between
is caught by the tailer's fallback poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Protocol

from channels.layers import get_channel_layer

from sweeps.nudges import sweep_group

log = logging.getLogger(__name__)


class Page(Protocol):
    """An open page: its channel-layer name, if it can receive nudges."""

    channel: str | None


class GroupMembership:
    """Keeps exactly one of ``pages`` in the sweep's group, none once ``closed()``.

    ``pages`` is the tailer's own live collection and ``closed`` asks the tailer, both read
    under the lock: a call waiting behind another must see the pages and the state as they
    are when its turn comes, not as they were when it was made.
    """

    def __init__(self, sweep_id: int, pages: Collection[Page], closed: Callable[[], bool]) -> None:
        self.sweep_id = sweep_id
        self.pages = pages
        self.closed = closed
        self.member: Page | None = None
        self._lock = asyncio.Lock()

    async def keep(self, rejoin: bool = False) -> None:
        """Make sure one open page stands in the group (or none, once closed).

        ``rejoin``: add the member again (the layer may have lost it); joining is
        idempotent."""
        layer = get_channel_layer()
        if layer is None:
            return
        group = sweep_group(self.sweep_id)
        async with self._lock:
            member = self.member
            if member is not None and member in self.pages and not self.closed():
                if rejoin and member.channel:
                    try:
                        await layer.group_add(group, member.channel)
                    except Exception:  # the fallback poll carries the news; try next time
                        log.warning("sweep %s: could not rejoin its group", self.sweep_id)
                return
            if member is not None:
                self.member = None
                with contextlib.suppress(Exception):
                    await layer.group_discard(group, member.channel)
            if self.closed():
                return
            for page in list(self.pages):
                if page.channel:
                    try:
                        await layer.group_add(group, page.channel)
                    except Exception:  # the fallback poll carries the news
                        log.warning(
                            "sweep %s: could not join its group", self.sweep_id, exc_info=True
                        )
                        return
                    self.member = page
                    return
