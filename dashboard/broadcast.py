"""Where the nudges lived before they moved to :mod:`sweeps.nudges`.

Services and workers nudge, and they sit below the dashboard (``sweeps`` imports nothing
from it), so the one module that pushes to live pages is ``sweeps.nudges``; these names stay
importable for code written against the old place.
"""

from __future__ import annotations

from sweeps.nudges import NUDGE, nudge_sweep, sweep_group

__all__ = ["NUDGE", "nudge_sweep", "sweep_group"]
