"""One open page (:class:`Stream`) and what it is sent: increments of points and state.

A page that received the increment with ``cursor`` C has every point of the sweep with
id <= C, and no other: a stream never sends a point at or below its ``floor``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sweeps.buckets import rounded

if TYPE_CHECKING:
    from dashboard.tailer import SweepTailer

# A point as ``queries.points_after`` returns it: (id, trial, name, step, value, time).
PointTuple = tuple[int, int, str, int, "float | None", float]


class Row(NamedTuple):
    """One metric point as the tailer reads it, in ``MetricPoint`` values order."""

    id: int
    trial: int
    name: str
    step: int
    value: float | None
    time: float


def encode_points(rows: Iterable[PointTuple]) -> list[dict[str, Any]]:
    """Points grouped per (trial, metric) in id order: ``{"t", "n", "s": steps, "v": values}``."""
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    for _, trial, name, step, value, _ in rows:
        group = groups.get((trial, name))
        if group is None:
            group = groups[(trial, name)] = {"t": trial, "n": name, "s": [], "v": []}
        group["s"].append(step)
        group["v"].append(rounded(value))
    return list(groups.values())


@dataclass
class Increment:
    """What one tailer read found: points ``(lo, cursor]`` and the changed state."""

    cursor: int
    rows: list[Row]
    state: dict[str, Any]
    _text: str | None = None

    def message(self, rows: Sequence[Row]) -> dict[str, Any]:
        """The ``inc`` message carrying ``rows`` (this increment's, or a page's share)."""
        return {
            "type": "inc",
            "cursor": self.cursor,
            "points": encode_points(rows),
            # When the newest and oldest points were logged: pages measure report -> draw
            # latency with them.
            "tmax": max((r.time for r in rows), default=None),
            "tmin": min((r.time for r in rows), default=None),
            **self.state,
        }

    def text_for(self, stream: Stream) -> str | None:
        """The JSON a stream should get (None: nothing new for it)."""
        rows = self.rows
        if stream.trial is not None:
            rows = [r for r in rows if r.trial == stream.trial]
        if rows and rows[0].id <= stream.floor:
            rows = [r for r in rows if r.id > stream.floor]
        if not rows and not self.state:
            return None
        if rows is self.rows:  # the common case: one encoding shared by every page
            if self._text is None:
                self._text = json.dumps(self.message(rows), separators=(",", ":"))
            return self._text
        return json.dumps(self.message(rows), separators=(",", ":"))


class Stream:
    """One open page: gets the snapshot, then every increment after it, in order."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        trial: int | None = None,
        channel: str | None = None,
    ) -> None:
        self.send = send
        self.trial = trial
        self.channel = channel  # the page's channel-layer name, if it can receive nudges
        self.floor = 0  # points with id <= floor were sent already (or the page had them)
        self.ready = False
        self.pending: list[Increment | str] = []
        self.tailer: SweepTailer | None = None

    async def push(self, inc: Increment | str) -> None:
        """Send an increment (or a ready-made message) now, or after the snapshot."""
        if not self.ready:
            self.pending.append(inc)
            return
        await self._deliver(inc)

    async def _deliver(self, inc: Increment | str) -> None:
        if isinstance(inc, str):
            await self.send(inc)
            return
        text = inc.text_for(self)
        self.floor = max(self.floor, inc.cursor)
        if text is not None:
            await self.send(text)

    async def start(self, snapshot: dict[str, Any]) -> None:
        """Send the snapshot, then what arrived while it was being built."""
        await self.send(json.dumps(snapshot, separators=(",", ":")))
        self.floor = max(self.floor, snapshot["cursor"])
        while self.pending:
            await self._deliver(self.pending.pop(0))
        self.ready = True
