"""The live cursor never skips a point that commits late, and never waits forever."""

from __future__ import annotations

from dashboard.tailer import CursorTracker, encode_points


def test_contiguous_ids_are_delivered_at_once() -> None:
    t = CursorTracker(10)
    assert t.take([11, 12, 13], now=0.0) == 3
    assert t.cursor == 13


def test_other_sweeps_ids_are_not_holes() -> None:
    t = CursorTracker(10)
    # 12 and 13 belong to another sweep and are committed.
    assert t.take([11, 14], visible=[11, 12, 13, 14], now=0.0) == 2
    assert t.cursor == 14


def test_a_missing_lower_id_holds_back_what_follows_until_it_commits() -> None:
    t = CursorTracker(10)
    assert t.take([11, 13, 14], visible=[11, 13, 14], now=0.0) == 1
    assert t.cursor == 11
    # 12 commits a moment later: everything goes, in order, nothing skipped.
    assert t.take([12, 13, 14], visible=[12, 13, 14], now=0.05) == 3
    assert t.cursor == 14


def test_holes_that_never_fill_are_given_up_together_after_the_timeout() -> None:
    t = CursorTracker(10, hole_timeout=1.0)
    # 12, 14 and 15 never appear (rolled back); 11, 13 and 16 are this sweep's.
    assert t.take([11, 13, 16], visible=[11, 13, 16], now=0.0) == 1
    assert t.take([13, 16], visible=[13, 16], now=0.5) == 0
    assert t.cursor == 11
    assert t.take([13, 16], visible=[13, 16], now=1.1) == 2
    assert t.cursor == 16


def test_a_hole_above_the_old_frontier_still_waits() -> None:
    t = CursorTracker(10, hole_timeout=1.0)
    assert t.take([11, 13], visible=[11, 13], now=0.0) == 1
    # At 1.1 s the hole at 12 is old, but 15 (above the frontier seen at 0 s) is new.
    assert t.take([13, 16], visible=[13, 14, 16], now=1.1) == 1
    assert t.cursor == 14
    assert t.take([16], visible=[15, 16], now=1.2) == 1
    assert t.cursor == 16


def test_idle_reads_move_the_cursor_past_other_sweeps() -> None:
    t = CursorTracker(10)
    assert t.take([], visible=[11, 12, 13], hi=13, now=0.0) == 0
    assert t.cursor == 13


def test_encode_points_groups_by_trial_and_metric_in_order() -> None:
    rows = [
        (1, 7, "train_loss", 0, 1.0, 100.0),
        (2, 7, "lr", 0, 0.1, 100.0),
        (3, 7, "train_loss", 1, float("nan"), 100.0),
        (4, 8, "train_loss", 0, 2.0, 100.0),
    ]
    assert encode_points(rows) == [
        {"t": 7, "n": "train_loss", "s": [0, 1], "v": [1.0, None]},
        {"t": 7, "n": "lr", "s": [0], "v": [0.1]},
        {"t": 8, "n": "train_loss", "s": [0], "v": [2.0]},
    ]
