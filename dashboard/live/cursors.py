"""The live points cursor: it moves over ids that may become visible out of order (pure).

Ids are handed out before commit, so on PostgreSQL with several writers a lower id can
become visible after a higher one; the cursor only moves past a missing id once it is
committed, or after ``HOLE_TIMEOUT`` seconds (a rolled-back or deleted row never appears).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

HOLE_TIMEOUT = 1.0  # seconds to wait for a lower id to commit before giving up on it


class CursorTracker:
    """Moves a cursor over ids that may become visible out of order (pure).

    All sweeps share one id sequence, so :meth:`take` is given the sweep's new ids and,
    unless they simply continue the cursor, every visible id up to ``hi``. An id missing
    below a visible one is a *hole*: a transaction that has not committed yet, or one that
    rolled back (or a deleted row). Delivery stops before the first hole until it fills,
    or until it has been a hole for ``hole_timeout`` seconds: an id that was already below
    the visible frontier that long ago is given up.
    """

    def __init__(self, cursor: int, hole_timeout: float = HOLE_TIMEOUT) -> None:
        self.cursor = cursor
        self.hole_timeout = hole_timeout
        self._settled = cursor  # holes at or below this id are given up
        self._frontiers: deque[tuple[float, int]] = deque()

    def contiguous(self, ids: Sequence[int]) -> bool:
        """True when ``ids`` (ascending) follow the cursor without a gap."""
        return bool(ids) and ids[-1] - self.cursor == len(ids)

    def take(
        self, ids: Sequence[int], visible: Iterable[int] = (), hi: int | None = None, *, now: float
    ) -> int:
        """How many of ``ids`` to deliver now; advances :attr:`cursor`.

        ``ids``: the sweep's new ids, ascending. ``visible``: every committed id (any
        sweep) in ``(cursor, hi]``; ``hi`` defaults to the last of ``ids``.
        """
        if hi is None:
            if not ids:
                return 0
            hi = ids[-1]
        self._frontiers.append((now, hi))
        while self._frontiers and self._frontiers[0][0] <= now - self.hole_timeout:
            self._settled = max(self._settled, self._frontiers.popleft()[1])
        if self.contiguous(ids) and hi == ids[-1]:
            self.cursor = hi
            return len(ids)
        present = sorted({i for i in (*visible, *ids) if self.cursor < i <= hi} | {hi})
        stop = hi + 1
        expected = self.cursor + 1
        for i in present:
            if i > expected:  # the hole expected .. i - 1
                first_young = max(expected, self._settled + 1)
                if first_young < i:
                    stop = first_young
                    break
            expected = i + 1
        self.cursor = hi if stop > hi else stop - 1
        return sum(1 for i in ids if i < stop)
