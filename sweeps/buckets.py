"""Series rollups as buckets of extremes: the step arithmetic that writing them
(:mod:`sweeps.ingest`) and reading them (:mod:`sweeps.queries`) share. Pure Python.

A bucket is ``[first step, last step, min, max]``; min and max are None when the bucket
holds no finite value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def finite(value: float | None) -> float | None:
    """``value``, or None for None, NaN and inf (a gap in a curve)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def rounded(value: float | None) -> float | None:
    """``value`` as the pages receive it; None for None, NaN and inf."""
    # Five significant digits: more than a plot or a tooltip shows, half the bytes.
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.5g}")


# The resolutions every series is stored at (the most buckets each); a page's point budget
# picks one. A bucket is [first step, last step, min, max]; min and max are None when the
# bucket holds no finite value.
ROLLUP_LEVELS = (8, 16, 32, 64, 128, 256)
FINEST = ROLLUP_LEVELS[-1]
Bucket = list[Any]


def bucket_width(length: int, n_buckets: int) -> int:
    """Steps per bucket when steps 0..``length`` are cut into at most ``n_buckets`` (a power
    of two) buckets. A power of two too, so a coarser bucket is a union of finer ones."""
    return max(1, (1 << max(length, 1).bit_length()) // n_buckets)


def _fold_one(
    out: dict[int, Bucket], key: int, s0: int, s1: int, lo: float | None, hi: float | None
) -> None:
    b = out.get(key)
    if b is None:
        out[key] = [s0, s1, lo, hi]
        return
    if s0 < b[0]:
        b[0] = s0
    if s1 > b[1]:
        b[1] = s1
    if lo is not None:
        if b[2] is None or lo < b[2]:
            b[2] = lo
        if b[3] is None or hi > b[3]:  # type: ignore[operator]
            b[3] = hi


def fold_buckets(
    width: int,
    buckets: Iterable[Sequence[Any]] = (),
    points: Iterable[tuple[int, float | None]] = (),
) -> list[Bucket]:
    """``buckets`` and raw ``(step, value)`` ``points`` merged into ``width``-step buckets,
    in step order (pure).

    Every input bucket must lie inside one ``width``-step bucket, as any bucket of a finer
    power-of-two width does. Folding is exact, and idempotent (a minimum or a maximum does
    not change when it sees a value twice), so a series can be folded segment by segment,
    then coarsened, and the result is what bucketing every point at once gives. Missing
    values (None, NaN, inf) count for the steps only.
    """
    out: dict[int, Bucket] = {}
    for s0, s1, lo, hi in buckets:
        _fold_one(out, s0 // width, s0, s1, lo, hi)
    for step, value in points:
        v = finite(value)
        _fold_one(out, step // width, step, step, v, v)
    return [out[k] for k in sorted(out)]


def _mid(bucket: Sequence[Any]) -> float | None:
    if bucket[2] is None:
        return None
    return (bucket[2] + bucket[3]) / 2  # type: ignore[no-any-return]


def _merge_buckets(buckets: list[Bucket], target: int) -> list[Bucket]:
    """Merge neighbouring min/max buckets until at most ``target`` remain."""
    while len(buckets) > target:
        merged = []
        for i in range(0, len(buckets), 2):
            pair = buckets[i : i + 2]
            lo = [b for b in pair if b[2] is not None]
            merged.append(
                [
                    pair[0][0],
                    pair[-1][1],
                    min(b[2] for b in lo) if lo else None,
                    max(b[3] for b in lo) if lo else None,
                ]
            )
        buckets = merged
    return buckets


def _bucket_points(buckets: Sequence[Bucket]) -> tuple[list[int], list[float | None]]:
    """Two points per bucket (min and max) in the order of the local trend."""
    steps: list[int] = []
    values: list[float | None] = []
    for i, (s0, s1, lo, hi) in enumerate(buckets):
        if lo is None:
            continue
        if lo == hi or s0 == s1:
            steps.append(s0)
            values.append(rounded(lo))
            continue
        # A bucket keeps its min and max but not where they fell: follow the trend between
        # the neighbouring buckets (falling: max first, then min).
        prev = _mid(buckets[i - 1]) if i > 0 else None
        nxt = _mid(buckets[i + 1]) if i + 1 < len(buckets) else None
        here = (lo + hi) / 2
        first_low = (nxt if nxt is not None else here) >= (prev if prev is not None else here)
        a, z = (lo, hi) if first_low else (hi, lo)
        steps += [s0, s1]
        values += [rounded(a), rounded(z)]
    return steps, values


def draw_buckets(buckets: list[Bucket], n_buckets: int) -> tuple[list[int], list[float | None]]:
    """A thinned curve from its buckets (pure): at most ``n_buckets`` of them (neighbours are
    merged), each drawn as its minimum and maximum at its first and last step in the order
    of the local trend, values rounded to 5 significant digits."""
    return _bucket_points(_merge_buckets(buckets, n_buckets))
